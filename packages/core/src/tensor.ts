import { CnnError, check } from './errors.js';
import { type Shape, shapeToString, sizeOf } from './shape.js';

export type DType = 'float32' | 'int32';
export type TensorStorage = Float32Array | Int32Array | Uint8Array;
export type NestedArray = number | NestedArray[];

/**
 * An immutable n-dimensional array, TF.js-style. Images may be stored as uint8 with a scale
 * (MNIST pixels x 1/255): they read as float32 but take a quarter of the memory, and threads and hosts
 * can share the bytes as they are.
 */
export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** The values as stored; for uint8 storage the logical value is storage[i] * scale. */
  readonly storage: TensorStorage;
  readonly scale: number;
  /** Values per entry of the first axis (one sample of a batch); read per sample while training. */
  readonly rowSize: number;
  #floats: Float32Array | null = null;

  constructor(storage: TensorStorage, shape: Shape, dtype: DType = storage instanceof Int32Array ? 'int32' : 'float32', scale = 1) {
    check(shape.every((d) => Number.isInteger(d) && d >= 0), 'CNN_ERR_BAD_SHAPE', () => `Tensor shape ${shapeToString(shape)} must hold non-negative integers`);
    check(sizeOf(shape) === storage.length, 'CNN_ERR_BAD_SHAPE', () =>
      `Tensor of shape ${shapeToString(shape)} needs ${sizeOf(shape)} values, got ${storage.length}`);
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.storage = storage;
    this.scale = scale;
    this.rowSize = shape.length === 0 ? 1 : sizeOf(shape.slice(1));
  }

  get size(): number {
    return this.storage.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** The values as a flat typed array (Float32Array for float32, Int32Array for int32). Do not mutate it. */
  dataSync(): Float32Array | Int32Array {
    if (this.storage instanceof Uint8Array) {
      if (this.#floats === null) {
        const lut = byteLut(this.scale);
        const out = new Float32Array(this.storage.length);
        for (let i = 0; i < out.length; i++) out[i] = lut[this.storage[i]];
        this.#floats = out;
      }
      return this.#floats;
    }
    return this.storage;
  }

  async data(): Promise<Float32Array | Int32Array> {
    return this.dataSync();
  }

  arraySync(): NestedArray {
    const flat = this.dataSync();
    if (this.shape.length === 0) return flat[0];
    const build = (axis: number, offset: number): NestedArray[] => {
      const stride = sizeOf(this.shape.slice(axis + 1));
      const out: NestedArray[] = [];
      for (let i = 0; i < this.shape[axis]; i++) {
        out.push(axis === this.shape.length - 1 ? flat[offset + i] : build(axis + 1, offset + i * stride));
      }
      return out;
    };
    return build(0, 0);
  }

  reshape(shape: Shape): Tensor {
    const resolved = resolveReshape(this.size, shape);
    return new Tensor(this.storage, resolved, this.dtype, this.scale);
  }

  /**
   * TF.js' slice: `begin`/`size` per axis, or numbers for the first axis; a size of -1 takes the rest.
   * Slicing only the first axis is a view (no copy).
   */
  slice(begin: number | readonly number[], size?: number | readonly number[]): Tensor {
    const rank = this.shape.length;
    check(rank > 0, 'CNN_ERR_BAD_SLICE', () => 'slice: cannot slice a scalar');
    const b = typeof begin === 'number' ? [begin, ...new Array(rank - 1).fill(0)] : [...begin, ...new Array(Math.max(0, rank - begin.length)).fill(0)];
    const s = size === undefined ? new Array(rank).fill(-1) : typeof size === 'number' ? [size, ...new Array(rank - 1).fill(-1)] : [...size, ...new Array(Math.max(0, rank - size.length)).fill(-1)];
    check(b.length === rank && s.length === rank, 'CNN_ERR_BAD_SLICE', () =>
      `slice: begin ${JSON.stringify(begin)} and size ${JSON.stringify(size)} must have at most ${rank} entries for a tensor of shape ${shapeToString(this.shape)}`);
    const sizes = s.map((v, i) => (v === -1 ? this.shape[i] - b[i] : v));
    for (let i = 0; i < rank; i++) {
      check(Number.isInteger(b[i]) && Number.isInteger(sizes[i]) && b[i] >= 0 && sizes[i] >= 0 && b[i] + sizes[i] <= this.shape[i], 'CNN_ERR_BAD_SLICE', () =>
        `slice: begin ${JSON.stringify(begin)} with size ${JSON.stringify(size)} is out of bounds on axis ${i} of shape ${shapeToString(this.shape)}`);
    }
    if (sizes.every((v, i) => i === 0 || v === this.shape[i])) {
      const row = this.rowSize;
      const view = this.storage.subarray(b[0] * row, (b[0] + sizes[0]) * row);
      return new Tensor(view, sizes, this.dtype, this.scale);
    }
    const out = new (this.storage.constructor as new (n: number) => TensorStorage)(sizeOf(sizes));
    const strides = stridesOf(this.shape);
    const idx = new Array(rank).fill(0);
    for (let o = 0; o < out.length; o++) {
      let src = 0;
      for (let a = 0; a < rank; a++) src += (b[a] + idx[a]) * strides[a];
      out[o] = this.storage[src];
      for (let a = rank - 1; a >= 0; a--) {
        if (++idx[a] < sizes[a]) break;
        idx[a] = 0;
      }
    }
    return new Tensor(out, sizes, this.dtype, this.scale);
  }

  /** Kept for TF.js compatibility: tensors here are garbage-collected. */
  dispose(): void {}

  toString(): string {
    return `Tensor(${this.dtype}, ${shapeToString(this.shape)})`;
  }
}

function stridesOf(shape: Shape): number[] {
  const strides = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

function resolveReshape(size: number, shape: Shape): number[] {
  const unknown = shape.filter((d) => d === -1).length;
  check(unknown <= 1, 'CNN_ERR_BAD_SHAPE', () => `reshape: at most one -1 allowed in ${shapeToString(shape)}`);
  const known = sizeOf(shape.filter((d) => d !== -1));
  const out = shape.map((d) => (d === -1 ? size / known : d));
  check(sizeOf(out) === size && out.every((d) => Number.isInteger(d) && d >= 0), 'CNN_ERR_BAD_SHAPE', () =>
    `reshape: cannot reshape ${size} values into ${shapeToString(shape)}`);
  return out;
}

const lutCache = new Map<number, Float32Array>();

/** float32 value of every byte under a scale; one table so every reader converts pixels identically. */
export function byteLut(scale: number): Float32Array {
  let lut = lutCache.get(scale);
  if (!lut) {
    lut = new Float32Array(256);
    for (let i = 0; i < 256; i++) lut[i] = i * scale;
    lutCache.set(scale, lut);
  }
  return lut;
}

function flatten(values: NestedArray, out: number[], shape: number[], depth: number): void {
  if (typeof values === 'number') {
    out.push(values);
    return;
  }
  if (!Array.isArray(values)) throw new CnnError('CNN_ERR_BAD_VALUES', `tensor: expected numbers or nested arrays, got ${typeof values}`);
  if (shape.length <= depth) shape.push(values.length);
  else if (shape[depth] !== values.length) {
    throw new CnnError('CNN_ERR_BAD_SHAPE', `tensor: ragged nested array (length ${values.length} where ${shape[depth]} was expected at depth ${depth})`);
  }
  for (const v of values) flatten(v, out, shape, depth + 1);
}

/**
 * TF.js' tf.tensor: values as a typed array, a flat array or nested arrays; the shape is inferred from
 * nested arrays when not given.
 */
export function tensor(values: NestedArray | ArrayLike<number> | TensorStorage, shape?: Shape, dtype: DType = 'float32'): Tensor {
  let flat: ArrayLike<number>;
  let inferred: number[];
  if (ArrayBuffer.isView(values)) {
    flat = values as ArrayLike<number>;
    inferred = [flat.length];
  } else if (typeof values === 'number') {
    flat = [values];
    inferred = [];
  } else {
    const out: number[] = [];
    inferred = [];
    flatten(values as NestedArray, out, inferred, 0);
    flat = out;
  }
  const finalShape = shape ?? inferred;
  const storage = dtype === 'int32' ? Int32Array.from(flat) : values instanceof Float32Array ? values : Float32Array.from(flat);
  if (dtype === 'int32') {
    for (let i = 0; i < flat.length; i++) {
      check(Number.isInteger(flat[i]), 'CNN_ERR_BAD_VALUES', () => `tensor: int32 tensor needs integers, got ${flat[i]} at index ${i}`);
    }
  }
  return new Tensor(storage, finalShape, dtype);
}

export function scalar(value: number): Tensor {
  return tensor(value, []);
}

export function zeros(shape: Shape): Tensor {
  return new Tensor(new Float32Array(sizeOf(shape)), shape);
}
