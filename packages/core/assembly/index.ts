/*
 * The fast kernels of @cnn/core, compiled to one WebAssembly module (dist/kernels.wasm) that
 * imports its memory: one shared WebAssembly.Memory per process, which every thread's instance of
 * this module uses. All pointers are byte offsets into that memory. The module has no data segments
 * and no mutable globals, so instantiating it (on any thread, any number of times) writes nothing
 * to the memory. The TypeScript wrappers in src/kernels/wasm/ check arguments before calling in.
 */
export { conv2dForward, conv2dBackwardInput, conv2dBackwardFilter, conv2dForwardScratch, conv2dBackwardInputScratch, conv2dBackwardFilterScratch } from './conv';
export { extremePoolForward, extremePoolBackward, avgPoolForward, avgPoolBackward } from './pool';
export { reluForward, reluBackward, addInto, allFinite, bytesToFloats, adamUpdate, sgdUpdate } from './elementwise';
export { softmaxForward, softmaxBackward, softmaxCrossEntropy } from './softmax';
export { dropoutForward, dropoutBackward } from './dropout';
