/**
 * Philox4x32-10, the counter-based generator of Salmon et al., "Parallel Random Numbers: As Easy as
 * 1, 2, 3" (SC'11), also used by PyTorch and JAX. Output depends only on (key, counter), never on
 * how many numbers were drawn before, so a dropout mask or a shuffle comes out the same whichever
 * thread or host computes it.
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/**
 * High 32 bits of the 64-bit product of two uint32s, from four 16 x 16-bit products (each exact, and
 * small integers V8 keeps out of floating point: 5x faster than splitting one side and dividing).
 */
export function mulhi(a: number, b: number): number {
  const aLo = a & 0xffff;
  const aHi = a >>> 16;
  const bLo = b & 0xffff;
  const bHi = b >>> 16;
  const loHi = aLo * bHi;
  const hiLo = aHi * bLo;
  // Carry out of the low 32 bits: the upper half of lo*lo plus the lower halves of the cross terms.
  const carry = (((aLo * bLo) >>> 16) + (loHi & 0xffff) + (hiLo & 0xffff)) >>> 16;
  return (aHi * bHi + (loHi >>> 16) + (hiLo >>> 16) + carry) >>> 0;
}

/** Writes the 4 output words for counter (c0..c3) and key (k0, k1) into out. */
export function philox4x32(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array,
): void {
  let x0 = c0 >>> 0;
  let x1 = c1 >>> 0;
  let x2 = c2 >>> 0;
  let x3 = c3 >>> 0;
  let key0 = k0 >>> 0;
  let key1 = k1 >>> 0;
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi(M0, x0);
    const lo0 = Math.imul(M0, x0) >>> 0;
    const hi1 = mulhi(M1, x2);
    const lo1 = Math.imul(M1, x2) >>> 0;
    x0 = (hi1 ^ x1 ^ key0) >>> 0;
    x1 = lo1;
    x2 = (hi0 ^ x3 ^ key1) >>> 0;
    x3 = lo0;
    key0 = (key0 + W0) >>> 0;
    key1 = (key1 + W1) >>> 0;
  }
  out[0] = x0;
  out[1] = x1;
  out[2] = x2;
  out[3] = x3;
}

/** What a random stream is for; part of the key so that streams never overlap. */
export const Purpose = {
  init: 1,
  shuffle: 2,
  dropout: 3,
  split: 4,
} as const;
export type Purpose = (typeof Purpose)[keyof typeof Purpose];

/** The Philox key of a stream: the seed's low 32 bits, then its next 16 bits and the purpose. */
export function philoxKey(seed: number, purpose: Purpose): [number, number] {
  return [seed >>> 0, ((Math.floor(seed / 4294967296) & 0xffff) | (purpose << 16)) >>> 0];
}

/**
 * Random numbers addressed by (seed, purpose, a, b, index): `a` and `b` name the stream (a layer and
 * a step, an epoch), `index` the position in it. Four numbers come from each Philox call; the last
 * block is cached because callers read streams mostly in order.
 */
export class CounterRandom {
  readonly #k0: number;
  readonly #k1: number;
  readonly #a: number;
  readonly #b: number;
  readonly #block = new Uint32Array(4);
  #blockIndex = -1;

  constructor(seed: number, purpose: Purpose, a = 0, b = 0) {
    [this.#k0, this.#k1] = philoxKey(seed, purpose);
    this.#a = a >>> 0;
    this.#b = b >>> 0;
  }

  /** A uint32 at position `index` (0 <= index < 2^53 / 4). */
  uint32(index: number): number {
    const blockIndex = Math.floor(index / 4);
    if (blockIndex !== this.#blockIndex) {
      philox4x32(blockIndex >>> 0, Math.floor(blockIndex / 4294967296), this.#a, this.#b, this.#k0, this.#k1, this.#block);
      this.#blockIndex = blockIndex;
    }
    return this.#block[index & 3];
  }

  /** A float in [0, 1) with 24 random bits, exact in float32. */
  uniform(index: number): number {
    return (this.uint32(index) >>> 8) * 5.960464477539063e-8; // 2^-24
  }

  /** An integer in [0, n) by rejection, so every value is equally likely. */
  below(n: number, index: number, attempt = 0): number {
    const limit = 4294967296 - (4294967296 % n);
    // Rejection draws come from a distant part of the stream so they never collide with `index`.
    const u = this.uint32(index + attempt * 0x100000000000);
    return u < limit ? u % n : this.below(n, index, attempt + 1);
  }
}
