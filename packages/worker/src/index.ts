/** @cnn/worker: one host, all cores — worker threads over shared memory. */
export { ThreadStrategy, threads, FAULT_ENV, type ThreadOptions } from './thread-strategy.js';
export { blockLength, planBlocks, planLimits, splitRange } from './plan.js';
export { shareTensor, tensorOf, type SharedTensor } from './shared-tensor.js';
export type { HostSetup, BlockTask, UpdateTask, InferenceTask } from './protocol.js';
