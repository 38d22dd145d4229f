/*
 * Small SIMD helpers shared by the kernels. Only deterministic 128-bit instructions are used (no
 * relaxed SIMD, no fused multiply-add): every lane's result is defined bit for bit by IEEE 754.
 */

/** Bytes of one f32. */
export const F32: usize = 4;

/** acc + x * w, rounded twice (multiply, then add): the same bits on every machine. */
// @ts-ignore: decorator
@inline export function madd(acc: v128, x: v128, w: v128): v128 {
  return f32x4.add(acc, f32x4.mul(x, w));
}

/** Loads the first m (0..4) floats at p into the low lanes, zero in the others; reads nothing past them. */
// @ts-ignore: decorator
@inline export function loadPartial(p: usize, m: i32): v128 {
  if (m >= 4) return v128.load(p);
  if (m == 2) return v128.load64_zero(p);
  if (m == 1) return v128.load32_zero(p);
  if (m == 3) return v128.load32_lane(p, v128.load64_zero(p), 2, 8);
  return f32x4.splat(0);
}

/** Stores the low m (0..4) lanes of v at p; writes nothing past them. */
// @ts-ignore: decorator
@inline export function storePartial(p: usize, v: v128, m: i32): void {
  if (m >= 4) {
    v128.store(p, v);
  } else if (m >= 2) {
    v128.store64_lane(p, v, 0);
    if (m == 3) v128.store32_lane(p, v, 2, 8);
  } else if (m == 1) {
    v128.store32_lane(p, v, 0);
  }
}

/** Keras/TensorFlow relu as the reference kernel computes it (v > 0 ? v : 0): NaN and -0 give +0. */
// @ts-ignore: decorator
@inline export function relu4(v: v128): v128 {
  return v128.and(v, f32x4.gt(v, f32x4.splat(0)));
}

/** Rounds n up to a multiple of 8 (one micro-kernel column block). */
// @ts-ignore: decorator
@inline export function roundUp8(n: i32): i32 {
  return (n + 7) & ~7;
}

/** Rounds a byte count up to a multiple of 64 (one cache line), as scratch regions are laid out. */
// @ts-ignore: decorator
@inline export function alignLine(bytes: usize): usize {
  return (bytes + 63) & ~(63 as usize);
}
