/** a[i] += b[i] over [begin, end): the one addition of the reduction tree (float32 rounding after each add). */
export function addInto(a: Float32Array, b: Float32Array, begin = 0, end = a.length): void {
  for (let i = begin; i < end; i++) a[i] += b[i];
}

/** Whether every a[i] over [begin, end) is finite (no NaN, no Infinity). */
export function allFinite(a: Float32Array, begin = 0, end = a.length): boolean {
  for (let i = begin; i < end; i++) if (a[i] - a[i] !== 0) return false;
  return true;
}
