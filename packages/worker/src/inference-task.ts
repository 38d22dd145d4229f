import { CnnError, type Loss, type Workspace, evaluateRows, forwardRows } from '@cnn/core';
import type { BlockResult, InferenceTask } from './protocol.js';
import { tensorOf } from './shared-tensor.js';

/**
 * One inference task on a thread's inference workspace: the rows' outputs written into task.out, or
 * their summed loss and correct count. The worker threads and the calling thread both run it.
 */
export function runInferenceTask(ws: Workspace, task: InferenceTask, loss: Loss, fuseSoftmax: boolean): BlockResult | null {
  const rows = tensorOf(task.x);
  if (task.out) {
    forwardRows(ws, rows, task.start, task.count, task.out, task.start * ws.network.outputSize);
    return null;
  }
  if (!task.y) throw new CnnError('CNN_ERR_BAD_THREAD_MESSAGE', 'an evaluation task needs y');
  return evaluateRows(ws, rows, tensorOf(task.y), loss, fuseSoftmax, task.start, task.count);
}
