import { countCorrect } from '../kernels/losses.js';
import type { Loss } from '../losses/index.js';
import type { Workspace } from '../model/workspace.js';
import type { Tensor } from '../tensor.js';
import { gatherInputs, gatherTargets } from './batch.js';
import type { ShardStats } from './gradient.js';

/** Model outputs of samples [start, start + n) of x into out (rows of the output size), in chunks. */
export function forwardRows(ws: Workspace, x: Tensor, start: number, n: number, out: Float32Array, outOffset = 0): void {
  const width = ws.network.outputSize;
  const cap = ws.options.capacity;
  for (let done = 0; done < n; done += cap) {
    const k = Math.min(cap, n - done);
    gatherInputs(x, null, start + done, k, ws);
    ws.forward(k, false, 0, 0, 0, false);
    out.set(ws.output.subarray(0, k * width), outOffset + done * width);
  }
}

/** Summed loss and correct count of samples [start, start + n) of x/y, forward only, in chunks. */
export function evaluateRows(ws: Workspace, x: Tensor, y: Tensor, loss: Loss, fuseSoftmax: boolean, start: number, n: number): ShardStats {
  const width = ws.network.outputSize;
  const cap = ws.options.capacity;
  const total: ShardStats = { lossSum: 0, correct: 0, count: 0 };
  for (let done = 0; done < n; done += cap) {
    const k = Math.min(cap, n - done);
    gatherInputs(x, null, start + done, k, ws);
    const targets = gatherTargets(y, loss.sparseTargets, width, null, start + done, k, ws.sparseTargetSet, ws.denseTargetSet);
    ws.forward(k, false, 0, 0, 0, fuseSoftmax);
    total.lossSum += loss.compute(k, width, ws.output, targets, null, fuseSoftmax, ws.kernels);
    total.correct += countCorrect(k, width, ws.output, targets);
    total.count += k;
  }
  return total;
}
