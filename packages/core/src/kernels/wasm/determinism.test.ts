import { Worker } from 'node:worker_threads';
import { beforeAll, describe, expect, it } from 'vitest';
import { KernelHeap } from '../../memory/kernel-heap.js';
import { windowGeometry, type WindowGeometry } from '../geometry.js';
import type { KernelExports } from './exports.js';
import { conv2dScratchBytes, denseGeometry, WasmKernels } from './kernels.js';
import { kernelsModule } from './node.js';

/*
 * A fast kernel's output is a pure function of its inputs: the same bits wherever the buffers sit
 * in the heap (any 4-byte alignment), whatever else is in the batch (forward passes), and on
 * whichever thread runs it.
 */

let heap: KernelHeap;
let k: WasmKernels;

beforeAll(() => {
  heap = KernelHeap.create(1 << 20);
  k = new WasmKernels(heap, kernelsModule());
});

function fill(view: Float32Array, seed: number): Float32Array {
  let s = seed >>> 0;
  for (let i = 0; i < view.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    view[i] = (s % 2001) / 1000 - 1;
  }
  return view;
}

/** A fresh f32 buffer starting `shift` bytes past a 64-byte boundary. */
function at(length: number, shift: number): Float32Array {
  const offset = heap.alloc(length * 4 + 64) + shift;
  return new Float32Array(heap.buffer, offset, length);
}

function bits(v: Float32Array): Uint32Array {
  return new Uint32Array(v.slice().buffer);
}

interface Case {
  name: string;
  g: WindowGeometry;
  outC: number;
  n: number;
}

const CASES: Case[] = [
  { name: 'seed conv', g: windowGeometry([28, 28, 1], [2, 2], [1, 1], 'valid'), outC: 6, n: 8 },
  { name: 'lenet5 conv1', g: windowGeometry([28, 28, 1], [5, 5], [1, 1], 'same'), outC: 6, n: 3 },
  { name: 'lenet5 conv2', g: windowGeometry([14, 14, 6], [5, 5], [1, 1], 'valid'), outC: 16, n: 5 },
  { name: 'convnet conv2', g: windowGeometry([13, 13, 32], [3, 3], [1, 1], 'valid'), outC: 64, n: 2 },
  { name: 'stride 2 same, 7 channels', g: windowGeometry([9, 8, 3], [3, 3], [2, 2], 'same'), outC: 7, n: 3 },
  { name: 'dense 400->120', g: denseGeometry(13, 400), outC: 120, n: 1 },
];

/** Runs forward, backward-input and backward-filter with every buffer at byte shift `shift`. */
function runAll(c: Case, shift: number, kernels: WasmKernels = k): Float32Array[] {
  const { g, outC, n } = c;
  const x = fill(at(n * g.inH * g.inW * g.inC, shift), 1);
  const w = fill(at(g.kH * g.kW * g.inC * outC, shift), 2);
  const b = fill(at(outC, shift), 3);
  const dy = fill(at(n * g.outH * g.outW * outC, shift), 4);
  const scratch = at(conv2dScratchBytes(g, outC) / 4, shift);
  const y = at(dy.length, shift);
  const dx = at(x.length, shift);
  const dw = at(w.length, shift);
  const db = at(outC, shift);
  kernels.conv2dForward(g, outC, n, x, w, b, y, scratch, 'relu');
  kernels.conv2dBackwardInput(g, outC, n, dy, w, dx, scratch);
  kernels.conv2dBackwardFilter(g, outC, n, x, dy, dw, db, scratch);
  return [y, dx, dw, db];
}

describe('fast kernels are pure functions of their inputs', () => {
  for (const c of CASES) {
    it(`${c.name}: the same bits at any heap offset and alignment`, () => {
      const first = runAll(c, 0).map(bits);
      for (const shift of [4, 8, 12, 36]) {
        const again = runAll(c, shift).map(bits);
        again.forEach((v, i) => expect(v, `output ${i} at shift ${shift}`).toEqual(first[i]));
      }
    });
  }

  it('a sample\'s forward output does not depend on the rest of the batch', () => {
    for (const c of CASES.filter((c) => c.n > 1)) {
      const { g, outC, n } = c;
      const x = fill(at(n * g.inH * g.inW * g.inC, 0), 5);
      const w = fill(at(g.kH * g.kW * g.inC * outC, 0), 6);
      const batch = at(n * g.outH * g.outW * outC, 0);
      k.conv2dForward(g, outC, n, x, w, null, batch);
      const sampleIn = g.inH * g.inW * g.inC;
      const sampleOut = g.outH * g.outW * outC;
      const last = n - 1;
      const alone = at(sampleOut, 4);
      k.conv2dForward(g, outC, 1, x.subarray(last * sampleIn), w, null, alone);
      expect(bits(alone), c.name).toEqual(bits(batch.subarray(last * sampleOut)));
    }
    // dense rows: row 5 of 13 alone
    const x = fill(at(13 * 400, 0), 7);
    const w = fill(at(400 * 120, 0), 8);
    const all = at(13 * 120, 0);
    const one = at(120, 8);
    k.denseForward(13, 400, 120, x, w, null, all);
    k.denseForward(1, 400, 120, x.subarray(5 * 400), w, null, one);
    expect(bits(one)).toEqual(bits(all.subarray(5 * 120, 6 * 120)));
  });

  it('the single-channel first-layer path gives the generic GEMM\'s bits', () => {
    // The same convolution with a second, all-zero input channel (and zero weights for it) takes
    // the generic path; its extra products are +0 and leave every sum's bits as they are.
    for (const [inShape, size, padding, outC] of [[[28, 28, 1], 5, 'same', 6], [[28, 28, 1], 2, 'valid', 6], [[9, 7, 1], 3, 'same', 5]] as const) {
      const g1 = windowGeometry(inShape, [size, size], [1, 1], padding);
      const g2 = windowGeometry([inShape[0], inShape[1], 2], [size, size], [1, 1], padding);
      const n = 2;
      const pixels = g1.inH * g1.inW;
      const x1 = fill(at(n * pixels, 0), 9);
      const x2 = at(n * pixels * 2, 0).fill(0);
      for (let i = 0; i < n * pixels; i++) x2[2 * i] = x1[i];
      const w1 = fill(at(size * size * outC, 0), 10);
      const w2 = at(size * size * 2 * outC, 0).fill(0);
      for (let t = 0; t < size * size; t++) w2.set(w1.subarray(t * outC, (t + 1) * outC), 2 * t * outC);
      const b = fill(at(outC, 0), 11);
      const y1 = at(n * g1.outH * g1.outW * outC, 0);
      const y2 = at(y1.length, 0);
      k.conv2dForward(g1, outC, n, x1, w1, b, y1, null, 'relu');
      k.conv2dForward(g2, outC, n, x2, w2, b, y2, null, 'relu');
      expect(bits(y1), `${inShape} ${size}x${size} ${padding}`).toEqual(bits(y2));
    }
  });

  it('the same calls replayed on another thread give the same bits', async () => {
    const calls: [string, number[]][] = [];
    const recording = new WasmKernels(heap, kernelsModule());
    const real = recording.raw;
    // The exports object is frozen: record through a copy whose functions log and forward.
    const logged: Record<string, (...args: number[]) => unknown> = {};
    for (const [name, fn] of Object.entries(real)) {
      logged[name] = (...args: number[]) => {
        calls.push([name, args]);
        return (fn as (...a: number[]) => unknown)(...args);
      };
    }
    (recording as { raw: KernelExports }).raw = logged as unknown as KernelExports;
    const outputs: Float32Array[] = [];
    for (const c of CASES) outputs.push(...runAll(c, 4, recording));
    const expected = outputs.map(bits);
    for (const o of outputs) o.fill(NaN);

    const worker = new Worker(REPLAY, { eval: true, workerData: { module: kernelsModule(), memory: heap.memory, calls } });
    const done = await new Promise<string>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    expect(done).toBe('done');
    outputs.forEach((o, i) => expect(bits(o), `output ${i}`).toEqual(expected[i]));
  });
});

/** A worker that instantiates the module on the shared memory and makes the recorded calls. */
const REPLAY = `
const { parentPort, workerData } = require('node:worker_threads');
const { module, memory, calls } = workerData;
const { exports } = new WebAssembly.Instance(module, { env: { memory, exp: Math.exp, log: Math.log } });
for (const [name, args] of calls) exports[name](...args);
parentPort.postMessage('done');
`;
