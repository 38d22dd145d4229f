import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CNN_BIN, runCnn, start, tempDir, weightsOf } from '../cli-helpers.js';
import { expectExit, killedAfterEach, startCoordinator, startHost } from '../cluster-helpers.js';

/*
 * Data faults, through the CLI: corrupt IDX files, a data set whose bytes differ between the
 * coordinator and a host (same name, different files), and model files with unknown layers or bad
 * shapes. Each is a clear error naming the file and what is wrong, and nothing is left half-done: a
 * run that cannot start creates no run folder (model and data are checked against each other before
 * anything is written), and a host refused at the handshake never computes.
 */

const TRAIN = 512;
const TEST = 128;

/** An IDX file: two zero bytes, the type (0x08: uint8), the rank, the sizes big-endian, the bytes. */
function idx(dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, data]);
}

/** Seeded bytes (mulberry32). */
function bytes(seed: number, n: number, mod = 256): Uint8Array {
  let a = seed >>> 0;
  return Uint8Array.from({ length: n }, () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) % mod;
  });
}

const FILES = {
  trainImages: 'train-images-idx3-ubyte', trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte', testLabels: 't10k-labels-idx1-ubyte',
};

/** A small MNIST-shaped data set (28x28 images, labels 0-9) in `dir`. */
function writeDataset(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, FILES.trainImages), idx([TRAIN, 28, 28], bytes(1, TRAIN * 784)));
  writeFileSync(join(dir, FILES.trainLabels), idx([TRAIN], bytes(2, TRAIN, 10)));
  writeFileSync(join(dir, FILES.testImages), idx([TEST, 28, 28], bytes(3, TEST * 784)));
  writeFileSync(join(dir, FILES.testLabels), idx([TEST], bytes(4, TEST, 10)));
}

const RUN = ['--model', 'lenet5', '--batch-size', '32', '--max-steps', '30', '--seed', '2', '--no-report'];

let root: string;
beforeAll(() => {
  root = tempDir('data-faults');
});

const track = killedAfterEach();

describe('corrupt IDX files: a clear error naming the file, no run folder', () => {
  const cases: [string, (dir: string) => void, RegExp][] = [
    ['a bad magic number', (d) => {
      const f = readFileSync(join(d, FILES.trainImages));
      f[0] = 0x12;
      writeFileSync(join(d, FILES.trainImages), f);
    }, /train-images-idx3-ubyte: bad magic number 0x12000803: the first two bytes must be zero/],
    ['a truncated image file', (d) => {
      const f = readFileSync(join(d, FILES.trainImages));
      writeFileSync(join(d, FILES.trainImages), f.subarray(0, f.length - 100));
    }, /train-images-idx3-ubyte: truncated: header says 512x28x28 = 401408 data bytes, file has 401308/],
    ['trailing bytes', (d) => {
      writeFileSync(join(d, FILES.testLabels), Buffer.concat([readFileSync(join(d, FILES.testLabels)), Buffer.from([1, 2, 3])]));
    }, /t10k-labels-idx1-ubyte: 3 trailing bytes/],
    ['fewer labels than images', (d) => {
      writeFileSync(join(d, FILES.trainLabels), idx([TRAIN - 1], bytes(2, TRAIN - 1, 10)));
    }, /has 512 images but \S+train-labels-idx1-ubyte has 511 labels/],
    ['a gzip file that does not inflate', (d) => {
      rmSync(join(d, FILES.testImages));
      writeFileSync(join(d, `${FILES.testImages}.gz`), Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4]));
    }, /t10k-images-idx3-ubyte\.gz: starts with the gzip magic bytes 1f 8b but the gzip stream fails to inflate/],
    ['a missing file', (d) => rmSync(join(d, FILES.testLabels)), /neither t10k-labels-idx1-ubyte nor t10k-labels-idx1-ubyte\.gz exists/],
    ['a label beyond the model\'s 10 classes', (d) => {
      const labels = bytes(2, TRAIN, 10);
      labels[7] = 200;
      writeFileSync(join(d, FILES.trainLabels), idx([TRAIN], labels));
    }, /label 200 at index 7 is not a class index in \[0, 9\]/],
  ];

  it.each(cases)('%s', async (label, corrupt, message) => {
    const dir = join(root, `idx-${label.replace(/\W+/g, '-')}`);
    writeDataset(dir);
    corrupt(dir);
    const out = join(root, `run-${label.replace(/\W+/g, '-')}`);
    const r = await runCnn(['train', ...RUN, '--dataset', dir, '--threads', '1', '--out', out, '--quiet']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: /m);
    expect(r.stderr).toMatch(message);
    expect(existsSync(out)).toBe(false);
  }, 60_000);
});

describe('a data set that differs between the coordinator and a host', () => {
  it('the host is refused at the handshake (CNN_PROTO_BAD_DATASET) and exits; the run goes on with the right data', async () => {
    // The run names its data set by the path it was given: relative, so each process resolves it in its own folder.
    const [home, other, empty] = ['home', 'other', 'empty'].map((n) => join(root, `cwd-${n}`));
    writeDataset(join(home, 'data'));
    writeDataset(join(other, 'data'));
    const labels = readFileSync(join(other, 'data', FILES.trainLabels));
    labels[labels.length - 1] = (labels[labels.length - 1] + 1) % 10;
    writeFileSync(join(other, 'data', FILES.trainLabels), labels);
    mkdirSync(empty, { recursive: true });

    const reference = join(root, 'fingerprint-reference');
    const ref = start(CNN_BIN, ['train', ...RUN, '--dataset', 'data', '--threads', '1', '--out', reference, '--quiet'], {}, [process.execPath], home);
    const out = join(root, 'fingerprint-run');
    const c = await startCoordinator([...RUN, '--dataset', 'data', '--local-threads', '0', '--min-hosts', '1', '--out', out], {}, [process.execPath], home);
    track(c);

    const changed = startHost(c.url, ['--threads', '1'], {}, [process.execPath], other);
    const missing = startHost(c.url, ['--threads', '1'], {}, [process.execPath], empty);
    track([changed, missing]);
    const refused = await expectExit(changed, 1);
    expect(refused.stderr).toMatch(/CNN_PROTO_BAD_DATASET/);
    expect(refused.stderr).toMatch(/data set fingerprint \w+… differs from the run's \w+…: every machine needs the same 'data' files/);
    const failed = await expectExit(missing, 1);
    // It cannot load the run's data set: it tells the coordinator (failure) and leaves.
    expect(failed.stderr).toMatch(/left the run: --dataset data: expected mnist, fashion-mnist, or a folder with the four IDX files/);

    const good = startHost(c.url, ['--threads', '1'], {}, [process.execPath], home);
    track(good);
    const r = await expectExit(c, 0);
    await expectExit(good, 0);
    expect(r.stderr).toMatch(/"code":"CNN_PROTO_BAD_DATASET"/);
    expect(r.stderr).toMatch(/"code":"CNN_PROTO_HOST_FAILED"/);
    expect((await ref.done).code).toBe(0);
    expect(weightsOf(out).equals(weightsOf(reference))).toBe(true);
  }, 180_000);
});

describe('model files with unknown layers or bad shapes: a clear error, no run folder', () => {
  const layers = (...l: unknown[]) => JSON.stringify({ className: 'Sequential', config: { layers: l } });
  const input = { batchInputShape: [null, 28, 28, 1] };
  const cases: [string, string, RegExp][] = [
    ['an unknown layer', layers({ className: 'Conv2D', config: { filters: 4, kernelSize: 3, ...input } }, { className: 'Bogus', config: {} }, { className: 'Dense', config: { units: 10 } }),
      /Unknown layer class "Bogus"\. Supported: Conv2D, /],
    ['a kernel larger than its input', layers({ className: 'Conv2D', config: { filters: 4, kernelSize: 40, ...input } }, { className: 'Flatten', config: {} }, { className: 'Dense', config: { units: 10 } }),
      /input size 28 is smaller than the window 40 with padding 'valid'; use padding 'same' or a smaller kernel/],
    ['negative units', layers({ className: 'Flatten', config: input }, { className: 'Dense', config: { units: -3 } }), /dense\.units must be a positive integer, got -3/],
    ['an input shape the data does not have', layers({ className: 'Flatten', config: { batchInputShape: [null, 32, 32, 3] } }, { className: 'Dense', config: { units: 10, activation: 'softmax' } }),
      /x has shape \[512, 28, 28, 1\] but the model expects \[N, 32, 32, 3\]/],
    ['fewer outputs than classes', layers({ className: 'Flatten', config: input }, { className: 'Dense', config: { units: 5, activation: 'softmax' } }),
      /label \d at index \d+ is not a class index in \[0, 4\] \(the model has 5 outputs\)/],
    ['not JSON', '{"className": "Sequential", ', /not valid JSON/],
  ];

  it.each(cases)('%s', async (label, json, message) => {
    const data = join(root, 'model-data');
    if (!existsSync(data)) writeDataset(data);
    const file = join(root, `model-${label.replace(/\W+/g, '-')}.json`);
    writeFileSync(file, json);
    const out = join(root, `model-run-${label.replace(/\W+/g, '-')}`);
    const r = await runCnn(['train', ...RUN, '--model', file, '--dataset', data, '--threads', '1', '--out', out, '--quiet']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: /m);
    expect(r.stderr).toMatch(message);
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  it('a coordinator given a bad model file exits before it listens', async () => {
    const file = join(root, 'model-coordinator.json');
    writeFileSync(file, layers({ className: 'Bogus', config: {} }));
    const p = start(join(CNN_BIN, '..', 'cnn-coordinator.js'), ['start', '--model', file, '--port', '0', '--local-threads', '0']);
    track(p);
    const r = await p.done;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Unknown layer class "Bogus"/);
    expect(r.stdout + r.stderr).not.toMatch(/cnn-worker join/);
  }, 60_000);
});
