import { F32, relu4 } from './simd';

/*
 * Element-wise kernels: activations, the reduction tree's addition and the optimizer updates. Each
 * computes exactly what its reference in src/ computes, in the same precision (float32 where the
 * reference rounds to float32 after every operation, float64 where the reference's JavaScript
 * arithmetic is float64 before the store), so each matches its reference bit for bit.
 */

/** y = relu(x) over count floats (y may be x). */
export function reluForward(x: usize, y: usize, count: i32): void {
  let i = 0;
  for (; i + 4 <= count; i += 4) v128.store(y + <usize>i * F32, relu4(v128.load(x + <usize>i * F32)));
  for (; i < count; i++) {
    const v = load<f32>(x + <usize>i * F32);
    store<f32>(y + <usize>i * F32, v > 0 ? v : 0);
  }
}

/** dx = y > 0 ? dy : 0 over count floats (dx may be dy). */
export function reluBackward(y: usize, dy: usize, dx: usize, count: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    const o = <usize>i * F32;
    v128.store(dx + o, v128.and(v128.load(dy + o), f32x4.gt(v128.load(y + o), zero)));
  }
  for (; i < count; i++) {
    const o = <usize>i * F32;
    store<f32>(dx + o, load<f32>(y + o) > 0 ? load<f32>(dy + o) : 0);
  }
}

/** a[i] += b[i] for i in [begin, end), rounded to float32 after each add. */
export function addInto(a: usize, b: usize, begin: i32, end: i32): void {
  let i = begin;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i * F32;
    v128.store(a + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < end; i++) {
    const o = <usize>i * F32;
    store<f32>(a + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/** 1 when every a[i] over [begin, end) is finite, else 0 (x - x is 0 exactly for finite x, NaN for Inf and NaN). */
export function allFinite(a: usize, begin: i32, end: i32): i32 {
  const zero = f32x4.splat(0);
  let acc = zero;
  let i = begin;
  for (; i + 4 <= end; i += 4) {
    const v = v128.load(a + <usize>i * F32);
    acc = f32x4.add(acc, f32x4.sub(v, v));
  }
  let tail: f32 = 0;
  for (; i < end; i++) {
    const x = load<f32>(a + <usize>i * F32);
    tail += x - x;
  }
  return i32(v128.all_true<i32>(f32x4.eq(acc, zero)) && tail == 0);
}

/**
 * Four int32 lanes (bytes: the signed conversion is exact, and one instruction on x86 where the
 * unsigned one is several) times `scale` in float64, each product rounded once to float32, at dst.
 */
@inline function scaleFour(dst: usize, words: v128, scale: v128): void {
  const low = f32x4.demote_f64x2_zero(f64x2.mul(f64x2.convert_low_i32x4_s(words), scale));
  const high = f32x4.demote_f64x2_zero(f64x2.mul(f64x2.convert_low_i32x4_s(v128.shuffle<i32>(words, words, 2, 3, 0, 1)), scale));
  v128.store(dst, v128.shuffle<i32>(low, high, 0, 1, 4, 5));
}

/**
 * dst[i] = src[i] * scale over count bytes: the float64 product rounded once to float32, as the
 * reference's store into a Float32Array rounds it (so each value is tensor.ts' byteLut entry).
 */
export function bytesToFloats(src: usize, dst: usize, count: i32, scale: f64): void {
  const s = f64x2.splat(scale);
  let i = 0;
  for (; i + 16 <= count; i += 16) {
    const bytes = v128.load(src + <usize>i);
    const low = i16x8.extend_low_i8x16_u(bytes);
    const high = i16x8.extend_high_i8x16_u(bytes);
    const out = dst + <usize>i * F32;
    scaleFour(out, i32x4.extend_low_i16x8_u(low), s);
    scaleFour(out + 16, i32x4.extend_high_i16x8_u(low), s);
    scaleFour(out + 32, i32x4.extend_low_i16x8_u(high), s);
    scaleFour(out + 48, i32x4.extend_high_i16x8_u(high), s);
  }
  for (; i < count; i++) store<f32>(dst + <usize>i * F32, <f32>(<f64>load<u8>(src + <usize>i) * scale));
}

/** The gradient element at grad + o; with divisor != 0 first turned into the batch mean in place. */
@inline function meanGradient(grad: usize, o: usize, divisor: f64): f32 {
  let g = load<f32>(grad + o);
  if (divisor != 0) {
    g = <f32>(<f64>g / divisor);
    store<f32>(grad + o, g);
  }
  return g;
}

/**
 * Keras Adam over [begin, end), as src/optimizers/adam.ts in float64 with float32 stores:
 *   m += (g - m)(1 - beta1);  v += (g^2 - v)(1 - beta2);  p -= alpha m / (sqrt(v) + eps).
 * With divisor != 0 the gradient sum is first turned into the batch mean in place (g /= divisor),
 * as src/train/update.ts does before calling the optimizer.
 */
export function adamUpdate(
  params: usize, grad: usize, m: usize, v: usize, begin: i32, end: i32,
  alpha: f64, oneMinusBeta1: f64, oneMinusBeta2: f64, epsilon: f64, divisor: f64,
): void {
  // Two lanes of float64 at a time: the same IEEE operations as the scalar loop, so the same bits.
  // The mean g / divisor is one division of float32 values rounded to float32: when the divisor is
  // itself a float32 value (a batch size is), float32 division gives those very bits (a float64
  // result rounded to float32 is correctly rounded for +, -, *, / and sqrt), four lanes at a time.
  const exact = divisor != 0 && <f64><f32>divisor == divisor;
  const div32 = f32x4.splat(<f32>divisor), div = f64x2.splat(divisor), a = f64x2.splat(alpha), b1 = f64x2.splat(oneMinusBeta1);
  const b2 = f64x2.splat(oneMinusBeta2), eps = f64x2.splat(epsilon);
  let i = begin;
  if (exact) {
    for (; i + 4 <= end; i += 4) {
      const o = <usize>i * F32;
      v128.store(grad + o, f32x4.div(v128.load(grad + o), div32));
    }
    for (; i < end; i++) {
      const o = <usize>i * F32;
      store<f32>(grad + o, <f32>(<f64>load<f32>(grad + o) / divisor));
    }
    i = begin;
    divisor = 0;
  }
  for (; i + 2 <= end; i += 2) {
    const o = <usize>i * F32;
    let g = f64x2.promote_low_f32x4(v128.load64_zero(grad + o));
    if (divisor != 0) {
      const mean = f32x4.demote_f64x2_zero(f64x2.div(g, div));
      v128.store64_lane(grad + o, mean, 0);
      g = f64x2.promote_low_f32x4(mean);
    }
    const m0 = f64x2.promote_low_f32x4(v128.load64_zero(m + o));
    const mi = f32x4.demote_f64x2_zero(f64x2.add(m0, f64x2.mul(f64x2.sub(g, m0), b1)));
    v128.store64_lane(m + o, mi, 0);
    const v0 = f64x2.promote_low_f32x4(v128.load64_zero(v + o));
    const vi = f32x4.demote_f64x2_zero(f64x2.add(v0, f64x2.mul(f64x2.sub(f64x2.mul(g, g), v0), b2)));
    v128.store64_lane(v + o, vi, 0);
    const p0 = f64x2.promote_low_f32x4(v128.load64_zero(params + o));
    const step = f64x2.div(f64x2.mul(f64x2.promote_low_f32x4(mi), a), f64x2.add(f64x2.sqrt(f64x2.promote_low_f32x4(vi)), eps));
    v128.store64_lane(params + o, f32x4.demote_f64x2_zero(f64x2.sub(p0, step)), 0);
  }
  for (; i < end; i++) {
    const o = <usize>i * F32;
    const gd = <f64>meanGradient(grad, o, divisor);
    const mi = <f32>(<f64>load<f32>(m + o) + (gd - <f64>load<f32>(m + o)) * oneMinusBeta1);
    store<f32>(m + o, mi);
    const vi = <f32>(<f64>load<f32>(v + o) + (gd * gd - <f64>load<f32>(v + o)) * oneMinusBeta2);
    store<f32>(v + o, vi);
    store<f32>(params + o, <f32>(<f64>load<f32>(params + o) - (<f64>mi * alpha) / (Math.sqrt(<f64>vi) + epsilon)));
  }
}

/**
 * Keras SGD over [begin, end), as src/optimizers/sgd.ts: p -= lr g without momentum; with it
 * vel = momentum vel - lr g and p += vel (Nesterov: p += momentum vel - lr g). `velocity` is 0
 * without momentum. divisor as in adamUpdate.
 */
export function sgdUpdate(
  params: usize, grad: usize, velocity: usize, begin: i32, end: i32,
  learningRate: f64, momentum: f64, nesterov: bool, divisor: f64,
): void {
  for (let i = begin; i < end; i++) {
    const o = <usize>i * F32;
    const gd = <f64>meanGradient(grad, o, divisor);
    const p = <f64>load<f32>(params + o);
    if (momentum == 0) {
      store<f32>(params + o, <f32>(p - learningRate * gd));
      continue;
    }
    const vel = <f32>(momentum * <f64>load<f32>(velocity + o) - learningRate * gd);
    store<f32>(velocity + o, vel);
    const step = nesterov ? momentum * <f64>vel - learningRate * gd : <f64>vel;
    store<f32>(params + o, <f32>(p + step));
  }
}
