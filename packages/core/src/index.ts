/**
 * @cnn/core: Keras-style convolutional networks on typed arrays. Everything public is exported here.
 */
export { DEFAULTS } from './defaults.js';
export { CnnError } from './errors.js';
export { Tensor, tensor, scalar, zeros, byteLut, type DType, type NestedArray, type TensorStorage } from './tensor.js';
export { type Shape, sizeOf } from './shape.js';

export { layers, layerFromConfig, Activation, AveragePooling2D, Conv2D, Dense, Dropout, Flatten, MaxPooling2D, MinPooling2D } from './layers/index.js';
export type { Layer, LayerIO, ParamSpec, PassContext } from './layers/layer.js';
export { losses, resolveLoss, type Loss } from './losses/index.js';
export { optimizers, resolveOptimizer, Adam, RMSprop, SGD, type Optimizer } from './optimizers/index.js';

export { Sequential, layersFromTopology, networkFromTopology, type CompileArgs, type FitArgs, type PredictArgs, type SequentialArgs } from './model/sequential.js';
export { Network, type ParamEntry } from './model/network.js';
export { Workspace, type WorkspaceOptions } from './model/workspace.js';
export { saveModel, loadModel, writeFileAtomic, MODEL_FORMAT, type SavedModel, type SaveOptions } from './model/io.js';
export { toTfjs, fromTfjs, saveTfjsModel, loadTfjsModel, TFJS_URL_PREFIX, TFJS_FORMAT, type TfjsModelJson, type TfjsLoadOptions, type TfjsSaveOptions, type TfjsWeightSpec, type TfjsTrainingConfig } from './model/tfjs.js';
export { models, builtinModel, type BuiltinModelName } from './models/builtin.js';

export { Arena, ARENA_ALIGNMENT, alignUp, bytesFor, type ArenaView, type Backing, type BufferRequest } from './memory/arena.js';
export { KernelHeap, KERNEL_HEAP_DEFAULTS, HEAP_HEADER_BYTES, type KernelHeapOptions } from './memory/kernel-heap.js';
export { HeapArena, processHeap, attachProcessHeap, heapArena, heapArenaFor } from './memory/process-heap.js';
export { referenceKernels } from './kernels/reference.js';
export { processKernels, kernelsId, KERNELS_ENV } from './kernels/select.js';
export type { KernelSet, FusedActivation } from './kernels/kernel-set.js';
export { WasmKernels } from './kernels/wasm/kernels.js';
export { wasmKernelSet } from './kernels/wasm/kernel-set.js';
export { kernelsModule } from './kernels/wasm/node.js';
export type { WasmMemory, WasmModule } from './kernels/wasm/wasm-api.js';
export { CounterRandom, Purpose, philox4x32 } from './random/philox.js';
export { epochPermutation } from './random/permutation.js';

export { gradientOfShard, canFuseSoftmax, type ShardStats, type StepJob } from './train/gradient.js';
export { sumBlock, combineBlocks, combineSubtree, alignedPieces, type AddInto, shardCount, treeSpan, slotsForBlock, isAlignedBlock, type BlockSum } from './train/tree.js';
export { fitLoop, statsToLogs, type FitLoopOptions, type TrainableState } from './train/fit.js';
export { History, type Callbacks, type Logs } from './train/callbacks.js';
export { SingleThreadStrategy, type SingleThreadOptions, singleThread } from './train/single-thread.js';
export type { Strategy, StepRequest, TrainingSetup } from './train/strategy.js';
export { applyUpdate } from './train/update.js';
export { forwardRows, evaluateRows } from './train/inference.js';
export { type InputBuffers, gatherInputs, gatherTargets, validateInputs, validateTargets } from './train/batch.js';

export { datasets, mnist, fashionMnist, loadIdxDataset, datasetFingerprint, type Dataset, type Split } from './data/datasets.js';
export { readIdxFile, parseIdx, type IdxArray } from './data/idx.js';
