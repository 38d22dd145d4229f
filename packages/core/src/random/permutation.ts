import { CounterRandom, Purpose } from './philox.js';

/**
 * The sample order of one epoch: a Fisher-Yates shuffle whose i-th swap draws the counter-based number
 * (seed, shuffle, epoch, i), so the order is a pure function of (seed, epoch, n).
 */
export function epochPermutation(seed: number, epoch: number, n: number, out = new Int32Array(n)): Int32Array {
  for (let i = 0; i < n; i++) out[i] = i;
  const rng = new CounterRandom(seed, Purpose.shuffle, epoch);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1, i);
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}
