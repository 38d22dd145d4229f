/**
 * dst[i] = src[i] * scale over count bytes: pixels as floats. The float64 product is rounded once to
 * float32 by the store, so every value equals tensor.ts' byteLut entry for its byte.
 */
export function bytesToFloats(src: Uint8Array, dst: Float32Array, count: number, scale: number): void {
  for (let i = 0; i < count; i++) dst[i] = src[i] * scale;
}
