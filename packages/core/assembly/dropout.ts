/*
 * Inverted dropout, bit for bit as src/kernels/dropout.ts: the keep decision of value i is the
 * Philox4x32-10 draw at position first + i of the stream (seed, dropout, layer, step), the same
 * generator as src/random/philox.ts (Salmon et al., SC'11), here with native 64-bit products.
 */

const M0: u64 = 0xd2511f53;
const M1: u64 = 0xcd9e8d57;
const W0: u32 = 0x9e3779b9;
const W1: u32 = 0xbb67ae85;

/**
 * keep[i] = uniform(first + i) >= rate; y[i] = keep ? x[i] * scale : 0 (product in float64, stored
 * as float32, as the reference's JavaScript does). uniform = (word >>> 8) * 2^-24.
 */
export function dropoutForward(x: usize, y: usize, keep: usize, count: i32, rate: f64, scale: f64, k0: u32, k1: u32, a: u32, b: u32, first: f64): void {
  let block: u64 = <u64>(first / 4);
  let lane = <i32>(first - <f64>block * 4);
  let w0: u32 = 0;
  let w1: u32 = 0;
  let w2: u32 = 0;
  let w3: u32 = 0;
  let filled = false;
  for (let i = 0; i < count; i++) {
    if (!filled) {
      // One Philox4x32-10 call gives the four words of a block; the lane walks through them.
      let x0 = <u32>block;
      let x1 = <u32>(block >> 32);
      let x2 = a;
      let x3 = b;
      let key0 = k0;
      let key1 = k1;
      for (let round = 0; round < 10; round++) {
        const p0 = M0 * <u64>x0;
        const p1 = M1 * <u64>x2;
        const y0 = <u32>(p1 >> 32) ^ x1 ^ key0;
        const y2 = <u32>(p0 >> 32) ^ x3 ^ key1;
        x1 = <u32>p1;
        x3 = <u32>p0;
        x0 = y0;
        x2 = y2;
        key0 += W0;
        key1 += W1;
      }
      w0 = x0;
      w1 = x1;
      w2 = x2;
      w3 = x3;
      filled = true;
    }
    const word = lane === 0 ? w0 : lane === 1 ? w1 : lane === 2 ? w2 : w3;
    const u = <f64>(word >>> 8) * 5.960464477539063e-8;
    const kept = u >= rate;
    store<u8>(keep + <usize>i, kept ? 1 : 0);
    store<f32>(y + (<usize>i << 2), kept ? <f32>(<f64>load<f32>(x + (<usize>i << 2)) * scale) : 0);
    if (++lane === 4) {
      lane = 0;
      block++;
      filled = false;
    }
  }
}

/** dx[i] = keep[i] ? dy[i] * scale : 0 (float64 product, float32 store). */
export function dropoutBackward(dy: usize, dx: usize, keep: usize, count: i32, scale: f64): void {
  for (let i = 0; i < count; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, load<u8>(keep + <usize>i) ? <f32>(<f64>load<f32>(dy + o) * scale) : 0);
  }
}
