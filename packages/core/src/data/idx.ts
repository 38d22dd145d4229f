import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { CnnError, check } from '../errors.js';
import { HOST_IS_LITTLE_ENDIAN } from '../platform.js';

/**
 * Reader for the IDX format of LeCun's MNIST files (http://yann.lecun.com/exdb/mnist/):
 * two zero bytes, a type code, the number of dimensions, that many big-endian uint32 sizes, then the
 * values in row-major order, big-endian. A file may be gzipped; we detect that by its magic bytes,
 * not by its name, because renamed downloads are common.
 */

export type IdxDType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  dtype: IdxDType;
  shape: number[];
  /** Row-major values in host byte order, in a buffer of their own (byteOffset 0), so it can be transferred or shared as is. */
  data: IdxData;
}

interface IdxType {
  dtype: IdxDType;
  bytes: number;
  view: (buffer: ArrayBufferLike) => IdxData;
}

const IDX_TYPES: ReadonlyMap<number, IdxType> = new Map([
  [0x08, { dtype: 'uint8', bytes: 1, view: (b) => new Uint8Array(b) }],
  [0x09, { dtype: 'int8', bytes: 1, view: (b) => new Int8Array(b) }],
  [0x0b, { dtype: 'int16', bytes: 2, view: (b) => new Int16Array(b) }],
  [0x0c, { dtype: 'int32', bytes: 4, view: (b) => new Int32Array(b) }],
  [0x0d, { dtype: 'float32', bytes: 4, view: (b) => new Float32Array(b) }],
  [0x0e, { dtype: 'float64', bytes: 8, view: (b) => new Float64Array(b) }],
]);

const EXPECTED_MAGIC =
  'expected 0x0000TTNN: two zero bytes, a type code TT of 08 (uint8), 09 (int8), 0B (int16), 0C (int32), ' +
  '0D (float32) or 0E (float64), then the number of dimensions NN (MNIST images are 0x00000803, labels 0x00000801)';

/** Magic bytes of a gzip member (RFC 1952). No IDX file starts with them: its first two bytes are zero. */
const GZIP_MAGIC = [0x1f, 0x8b] as const;

/** Reads an IDX file, plain or gzipped. Throws CnnError CNN_ERR_FILE_NOT_FOUND or CNN_ERR_BAD_IDX. */
export function readIdxFile(path: string): IdxArray {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CnnError('CNN_ERR_FILE_NOT_FOUND', `${path}: no such file`, { cause: err });
    throw new CnnError('CNN_ERR_BAD_IDX', `${path}: cannot read the file (${(err as Error).message})`, { cause: err });
  }
  return parseIdx(bytes, path);
}

/** Parses IDX bytes (plain or gzipped); `source` names them in error messages. */
export function parseIdx(bytes: Uint8Array, source: string): IdxArray {
  const gzipped = isGzip(bytes);
  const raw = gzipped ? inflate(bytes, source) : bytes;
  // After inflating, "file has N bytes" would mislead: the file itself is smaller.
  const what = gzipped ? 'the inflated data has' : 'file has';
  const type = readMagic(raw, source, what);
  const shape = readDims(raw, source, what);
  const headerBytes = 4 + 4 * shape.length;
  checkDataLength(raw.length - headerBytes, shape, type, headerBytes, source, what);
  return { dtype: type.dtype, shape, data: readValues(raw, headerBytes, type) };
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
}

function inflate(bytes: Uint8Array, source: string): Uint8Array {
  try {
    return gunzipSync(bytes);
  } catch (err) {
    throw new CnnError('CNN_ERR_BAD_IDX',
      `${source}: starts with the gzip magic bytes 1f 8b but the gzip stream fails to inflate (${(err as Error).message}); ` +
      'expected a complete gzip file: download it again', { cause: err });
  }
}

function readMagic(raw: Uint8Array, source: string, what: string): IdxType {
  check(raw.length >= 4, 'CNN_ERR_BAD_IDX', () =>
    `${source}: too short for an IDX header: ${what} ${raw.length} bytes, expected at least 4 (the magic number)`);
  const magic = new DataView(raw.buffer, raw.byteOffset, 4).getUint32(0, false);
  const hex = `0x${magic.toString(16).padStart(8, '0')}`;
  check(raw[0] === 0 && raw[1] === 0, 'CNN_ERR_BAD_IDX', () =>
    `${source}: bad magic number ${hex}: the first two bytes must be zero; ${EXPECTED_MAGIC}`);
  const type = IDX_TYPES.get(raw[2]);
  check(type !== undefined, 'CNN_ERR_BAD_IDX', () =>
    `${source}: bad magic number ${hex}: unknown type code 0x${raw[2].toString(16).padStart(2, '0')}; ${EXPECTED_MAGIC}`);
  check(raw[3] > 0, 'CNN_ERR_BAD_IDX', () =>
    `${source}: bad magic number ${hex}: it gives 0 dimensions; expected at least 1 (${EXPECTED_MAGIC})`);
  return type;
}

function readDims(raw: Uint8Array, source: string, what: string): number[] {
  const ndim = raw[3];
  const headerBytes = 4 + 4 * ndim;
  check(raw.length >= headerBytes, 'CNN_ERR_BAD_IDX', () =>
    `${source}: truncated header: the magic number gives ${ndim} dimensions, so the header is ${headerBytes} bytes, ${what} ${raw.length}`);
  const view = new DataView(raw.buffer, raw.byteOffset, headerBytes);
  const shape: number[] = [];
  for (let i = 0; i < ndim; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const zero = shape.indexOf(0);
  check(zero < 0, 'CNN_ERR_BAD_IDX', () =>
    `${source}: dimension ${zero} of ${shape.join('x')} is zero; expected every dimension to be at least 1`);
  return shape;
}

function checkDataLength(actual: number, shape: number[], type: IdxType, headerBytes: number, source: string, what: string): void {
  // Dims are uint32s, so the product may exceed 2^53 and lose precision; it then exceeds any real file too.
  const expected = shape.reduce((n, d) => n * d, 1) * type.bytes;
  const claim = () => {
    const perValue = type.bytes > 1 ? ` x ${type.bytes} bytes (${type.dtype})` : '';
    return `header says ${shape.join('x')}${perValue} = ${expected} data bytes, ${what} ${actual} after the ${headerBytes}-byte header`;
  };
  check(actual >= expected, 'CNN_ERR_BAD_IDX', () => `${source}: truncated: ${claim()}`);
  check(actual === expected, 'CNN_ERR_BAD_IDX', () =>
    `${source}: ${actual - expected} trailing bytes: ${claim()}; expected the data to end the file`);
}

/**
 * Copies the values out of the file's buffer into shared memory (so worker threads read the data set
 * in place, one copy per host) and converts them from big-endian to host order.
 */
function readValues(raw: Uint8Array, headerBytes: number, type: IdxType): IdxData {
  const body = raw.subarray(headerBytes);
  const bytes = new Uint8Array(new SharedArrayBuffer(body.length));
  bytes.set(body);
  if (type.bytes > 1 && HOST_IS_LITTLE_ENDIAN) swapBytes(bytes, type.bytes);
  return type.view(bytes.buffer);
}

/** Reverses the bytes of every `width`-byte element in place (big-endian <-> little-endian). */
function swapBytes(bytes: Uint8Array, width: number): void {
  for (let i = 0; i < bytes.length; i += width) {
    for (let lo = i, hi = i + width - 1; lo < hi; lo++, hi--) {
      const t = bytes[lo];
      bytes[lo] = bytes[hi];
      bytes[hi] = t;
    }
  }
}
