/** @cnn/worker: one host, all cores — worker threads over shared memory. */
export { ThreadStrategy, threads, type ThreadOptions } from './thread-strategy.js';
export { releaseIdleThreads } from './worker-threads.js';
export { HostPool, FAULT_ENV, type HostPoolOptions, type CommandTiming, type StepOptions } from './host-pool.js';
export { planBlocks, wholeTree, splitRange, type Span } from './plan.js';
export { shareTensor, tensorOf, type SharedTensor } from './shared-tensor.js';
export type { HostSetup, InferenceTask } from './protocol.js';
export { StepChannel, Phase2, type Command, type ThreadTiming } from './step-channel.js';
