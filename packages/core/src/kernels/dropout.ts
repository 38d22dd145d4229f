import { CounterRandom, Purpose } from '../random/philox.js';

/**
 * Inverted dropout (Keras): value i is kept when the counter-based draw at position first + i of the
 * stream (seed, dropout, layer, step) is >= rate, and scaled by 1 / (1 - rate). `first` is the
 * position in the global batch of the pass's first sample times the values per sample, so a sample
 * gets the same mask whichever thread or host processes it.
 */
export function dropoutForward(
  x: Float32Array, y: Float32Array, keep: Uint8Array, count: number, rate: number,
  seed: number, layerIndex: number, step: number, first: number,
): void {
  const scale = 1 / (1 - rate);
  const rng = new CounterRandom(seed, Purpose.dropout, layerIndex, step);
  for (let i = 0; i < count; i++) {
    const kept = rng.uniform(first + i) >= rate;
    keep[i] = kept ? 1 : 0;
    y[i] = kept ? x[i] * scale : 0;
  }
}

export function dropoutBackward(dy: Float32Array, dx: Float32Array, keep: Uint8Array, count: number, rate: number): void {
  const scale = 1 / (1 - rate);
  for (let i = 0; i < count; i++) dx[i] = keep[i] ? dy[i] * scale : 0;
}
