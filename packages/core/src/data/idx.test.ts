import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { CnnError } from '../errors.js';
import { type IdxDType, parseIdx, readIdxFile } from './idx.js';
import { caught } from '../testing/caught.js';

const dir = mkdtempSync(join(tmpdir(), 'cnn-idx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TYPE_CODES: Record<IdxDType, number> = { uint8: 0x08, int8: 0x09, int16: 0x0b, int32: 0x0c, float32: 0x0d, float64: 0x0e };

/** Encodes an IDX file independently of the parser: DataView with explicit big-endian writes. */
function encodeIdx(dtype: IdxDType, shape: number[], values: number[]): Uint8Array {
  const width = { uint8: 1, int8: 1, int16: 2, int32: 4, float32: 4, float64: 8 }[dtype];
  const header = 4 + 4 * shape.length;
  const bytes = new Uint8Array(header + width * values.length);
  const view = new DataView(bytes.buffer);
  bytes[2] = TYPE_CODES[dtype];
  bytes[3] = shape.length;
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  values.forEach((v, i) => {
    const at = header + width * i;
    if (dtype === 'uint8') view.setUint8(at, v);
    else if (dtype === 'int8') view.setInt8(at, v);
    else if (dtype === 'int16') view.setInt16(at, v, false);
    else if (dtype === 'int32') view.setInt32(at, v, false);
    else if (dtype === 'float32') view.setFloat32(at, v, false);
    else view.setFloat64(at, v, false);
  });
  return bytes;
}

function writeFixture(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

describe('readIdxFile round trip', () => {
  // Values chosen so a wrong byte order gives a different number (e.g. 0x0102 vs 0x0201).
  const cases: [IdxDType, number[]][] = [
    ['uint8', [0, 1, 127, 128, 254, 255]],
    ['int8', [-128, -1, 0, 1, 2, 127]],
    ['int16', [0x0102, -2, -32768, 32767, 0, 1]],
    ['int32', [0x01020304, -123456789, -2147483648, 2147483647, 0, 256]],
    ['float32', [1.5, -3.25, Math.fround(0.1), 65536.5, -0, Math.fround(1e-30)]],
    ['float64', [Math.PI, -1e300, 0.1, 2 ** 60 + 2 ** 8, Number.MIN_VALUE, -0.5]],
  ];
  for (const [dtype, values] of cases) {
    it(`reads ${dtype} values from big-endian bytes`, () => {
      const path = writeFixture(`roundtrip-${dtype}`, encodeIdx(dtype, [2, 3], values));
      const a = readIdxFile(path);
      expect(a.dtype).toBe(dtype);
      expect(a.shape).toEqual([2, 3]);
      expect(a.data.constructor.name.toLowerCase()).toBe(`${dtype}array`);
      expect(Array.from(a.data)).toEqual(values);
    });
  }

  it('decodes known big-endian bytes, not just what the encoder wrote', () => {
    // int16 [1] holding 0x0102 = 258, written out by hand.
    const bytes = Uint8Array.from([0, 0, 0x0b, 1, 0, 0, 0, 1, 0x01, 0x02]);
    const a = parseIdx(bytes, 'hand.idx');
    expect(Array.from(a.data)).toEqual([258]);
  });

  it('returns data in a buffer of its own, so it can be shared or transferred as is', () => {
    const a = readIdxFile(writeFixture('own-buffer', encodeIdx('uint8', [4], [1, 2, 3, 4])));
    expect(a.data.byteOffset).toBe(0);
    expect(a.data.buffer.byteLength).toBe(4);
    expect(Buffer.isBuffer(a.data)).toBe(false);
  });

  it('reads a rank-3 uint8 file in row-major order', () => {
    const values = Array.from({ length: 2 * 3 * 4 }, (_, i) => i);
    const a = readIdxFile(writeFixture('rank3', encodeIdx('uint8', [2, 3, 4], values)));
    expect(a.shape).toEqual([2, 3, 4]);
    expect(a.data[1 * 12 + 2 * 4 + 3]).toBe(23);
  });
});

describe('gzip detection', () => {
  const plain = encodeIdx('int32', [3], [1, -2, 0x7f000001]);

  it('inflates a gzipped file whatever its name', () => {
    const a = readIdxFile(writeFixture('gzipped-without-suffix', gzipSync(plain)));
    expect(a.dtype).toBe('int32');
    expect(Array.from(a.data)).toEqual([1, -2, 0x7f000001]);
  });

  it('reads a plain file named .gz as plain', () => {
    const a = readIdxFile(writeFixture('plain-with-suffix.gz', plain));
    expect(Array.from(a.data)).toEqual([1, -2, 0x7f000001]);
  });

  it('reports a gzip stream that fails to inflate', () => {
    const gz = gzipSync(encodeIdx('uint8', [1000], new Array(1000).fill(7)));
    const path = writeFixture('cut.gz', gz.subarray(0, gz.length - 20));
    const err = caught(() => readIdxFile(path));
    expect(err.code).toBe('CNN_ERR_BAD_IDX');
    expect(err.message).toContain(path);
    expect(err.message).toContain('gzip stream fails to inflate');
  });

  it('checks the inflated data and says it was inflated', () => {
    const truncated = encodeIdx('uint8', [10], new Array(10).fill(1)).subarray(0, 12);
    const err = caught(() => parseIdx(gzipSync(truncated), 'short.gz'));
    expect(err.code).toBe('CNN_ERR_BAD_IDX');
    expect(err.message).toBe('short.gz: truncated: header says 10 = 10 data bytes, the inflated data has 4 after the 8-byte header');
  });
});

describe('readIdxFile errors', () => {
  it('rejects a missing file with CNN_ERR_FILE_NOT_FOUND', () => {
    const path = join(dir, 'does-not-exist-idx1-ubyte');
    const err = caught(() => readIdxFile(path));
    expect(err.code).toBe('CNN_ERR_FILE_NOT_FOUND');
    expect(err.message).toBe(`${path}: no such file`);
  });

  it('rejects a directory as unreadable', () => {
    const err = caught(() => readIdxFile(dir));
    expect(err.code).toBe('CNN_ERR_BAD_IDX');
    expect(err.message).toContain(`${dir}: cannot read the file`);
  });

  it('rejects nonzero leading bytes as a bad magic number', () => {
    const bytes = encodeIdx('uint8', [1], [0]);
    bytes[1] = 0x01;
    const err = caught(() => readIdxFile(writeFixture('bad-magic', bytes)));
    expect(err.code).toBe('CNN_ERR_BAD_IDX');
    expect(err.message).toContain('bad-magic: bad magic number 0x00010801: the first two bytes must be zero');
    expect(err.message).toContain('expected 0x0000TTNN');
  });

  it('rejects an unknown type code', () => {
    const bytes = encodeIdx('uint8', [1], [0]);
    bytes[2] = 0x07;
    const err = caught(() => parseIdx(bytes, 'type.idx'));
    expect(err.code).toBe('CNN_ERR_BAD_IDX');
    expect(err.message).toContain('type.idx: bad magic number 0x00000701: unknown type code 0x07');
    expect(err.message).toContain('0E (float64)');
  });

  it('rejects zero dimensions in the magic number', () => {
    const err = caught(() => parseIdx(Uint8Array.from([0, 0, 8, 0]), 'scalar.idx'));
    expect(err.code).toBe('CNN_ERR_BAD_IDX');
    expect(err.message).toContain('scalar.idx: bad magic number 0x00000800: it gives 0 dimensions; expected at least 1');
  });

  it('rejects a file too short for the magic number', () => {
    const err = caught(() => readIdxFile(writeFixture('empty', new Uint8Array(0))));
    expect(err.code).toBe('CNN_ERR_BAD_IDX');
    expect(err.message).toContain('empty: too short for an IDX header: file has 0 bytes, expected at least 4');
  });

  it('rejects a truncated header', () => {
    const bytes = encodeIdx('uint8', [60000, 28, 28], []).subarray(0, 10);
    const err = caught(() => parseIdx(bytes, 'head.idx'));
    expect(err.code).toBe('CNN_ERR_BAD_IDX');
    expect(err.message).toBe('head.idx: truncated header: the magic number gives 3 dimensions, so the header is 16 bytes, file has 10');
  });

  it('rejects truncated data, giving the expected and actual sizes', () => {
    const header = encodeIdx('uint8', [60000, 28, 28], []);
    const bytes = new Uint8Array(16 + 1000);
    bytes.set(header);
    const path = writeFixture('train-images-idx3-ubyte', bytes);
    const err = caught(() => readIdxFile(path));
    expect(err.code).toBe('CNN_ERR_BAD_IDX');
    expect(err.message).toBe(`${path}: truncated: header says 60000x28x28 = 47040000 data bytes, file has 1000 after the 16-byte header`);
  });

  it('counts bytes per value for multi-byte types', () => {
    const bytes = encodeIdx('float32', [3, 4], new Array(11).fill(0));
    const err = caught(() => parseIdx(bytes, 'f.idx'));
    expect(err.code).toBe('CNN_ERR_BAD_IDX');
    expect(err.message).toContain('truncated: header says 3x4 x 4 bytes (float32) = 48 data bytes, file has 44 after the 12-byte header');
  });

  it('rejects trailing bytes', () => {
    const good = encodeIdx('uint8', [2, 2], [1, 2, 3, 4]);
    const bytes = new Uint8Array(good.length + 3);
    bytes.set(good);
    const err = caught(() => readIdxFile(writeFixture('trailing', bytes)));
    expect(err.code).toBe('CNN_ERR_BAD_IDX');
    expect(err.message).toContain('trailing: 3 trailing bytes: header says 2x2 = 4 data bytes, file has 7 after the 12-byte header');
  });

  it('rejects a zero dimension', () => {
    const err = caught(() => parseIdx(encodeIdx('uint8', [5, 0, 3], []), 'zero.idx'));
    expect(err.code).toBe('CNN_ERR_BAD_IDX');
    expect(err.message).toBe('zero.idx: dimension 1 of 5x0x3 is zero; expected every dimension to be at least 1');
  });

  it('rejects dimensions whose product overflows any real file', () => {
    const err = caught(() => parseIdx(encodeIdx('float64', [0xffffffff, 0xffffffff, 0xffffffff], []), 'huge.idx'));
    expect(err.code).toBe('CNN_ERR_BAD_IDX');
    expect(err.message).toContain('huge.idx: truncated: header says 4294967295x4294967295x4294967295');
  });

  it('rejects random bytes with a CnnError, never anything else', () => {
    let seed = 12345;
    const nextByte = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let trial = 0; trial < 2000; trial++) {
      const bytes = Uint8Array.from({ length: nextByte() % 48 }, nextByte);
      // Half the trials get a plausible header start, so the dims and length checks are reached too.
      if (trial % 2 === 0 && bytes.length >= 4) {
        bytes.set([0, 0, [0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e][trial % 6], 1 + (trial % 3)]);
      }
      try {
        const a = parseIdx(bytes, 'noise');
        expect(a.data.length).toBe(a.shape.reduce((n, d) => n * d, 1));
      } catch (err) {
        expect(err).toBeInstanceOf(CnnError);
        expect((err as CnnError).code).toBe('CNN_ERR_BAD_IDX');
        expect((err as CnnError).message.startsWith('noise: ')).toBe(true);
      }
    }
  });
});
