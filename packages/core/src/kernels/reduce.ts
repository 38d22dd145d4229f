/** a[i] += b[i]: the one addition of the reduction tree (float32 rounding after each add). */
export function addInto(a: Float32Array, b: Float32Array): void {
  const n = a.length;
  for (let i = 0; i < n; i++) a[i] += b[i];
}

/** a[i] /= d: turns the step's summed gradient into the batch mean. */
export function divideInPlace(a: Float32Array, d: number): void {
  const n = a.length;
  for (let i = 0; i < n; i++) a[i] /= d;
}
