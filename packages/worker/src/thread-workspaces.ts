import { type BufferRequest, type Network, Workspace, processKernels, slotsForBlock, treeSpan } from '@cnn/core';

/**
 * Samples a thread's inference workspace holds: a quarter of the calling thread's chunk, so a
 * convnet's activations stay near 10 MB per thread; per-sample cost dominates at this size anyway.
 */
export const THREAD_INFERENCE_CAPACITY = 64;

/**
 * The buffers of one thread's two workspaces (training at the micro-batch, inference): the host
 * sizes each thread's heap region from them, and the thread carves the same list from its region.
 */
export function threadRequests(network: Network, microBatch: number, maxShards: number): { training: BufferRequest[]; inference: BufferRequest[]; trainingSlots: number } {
  const kernels = processKernels();
  const trainingSlots = slotsForBlock(treeSpan(maxShards));
  return {
    training: Workspace.requests(network, { capacity: microBatch, training: true, gradSlots: trainingSlots }, kernels),
    inference: Workspace.requests(network, { capacity: THREAD_INFERENCE_CAPACITY, training: false, gradSlots: 0 }, kernels),
    trainingSlots,
  };
}
