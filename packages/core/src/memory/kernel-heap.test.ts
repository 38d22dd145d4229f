import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { wasmApi } from '../kernels/wasm/wasm-api.js';
import { HEAP_HEADER_BYTES, KernelHeap, WASM_PAGE_BYTES } from './kernel-heap.js';

describe('KernelHeap', () => {
  it('hands out aligned, disjoint ranges after the header', () => {
    const heap = KernelHeap.create(4096);
    const a = heap.alloc(10);
    const b = heap.alloc(3, 4);
    const c = heap.alloc(100, 256);
    expect(a).toBe(HEAP_HEADER_BYTES);
    expect(a % 64).toBe(0);
    expect(b).toBe(a + 12);
    expect(c % 256).toBe(0);
    expect(c).toBeGreaterThanOrEqual(b + 3);
    expect(heap.used).toBe(c + 100);
  });

  it('grows the memory; views made before a grow keep their bytes', () => {
    const heap = KernelHeap.create(0, { maximumBytes: 64 * WASM_PAGE_BYTES });
    const first = heap.f32(100);
    first.fill(7);
    const big = heap.f32(3 * WASM_PAGE_BYTES);
    expect(heap.buffer.byteLength).toBeGreaterThanOrEqual(big.byteOffset + big.byteLength);
    big[big.length - 1] = 3;
    expect(first[99]).toBe(7);
    expect(new Float32Array(heap.buffer, first.byteOffset, 100)[50]).toBe(7);
  });

  it('refuses to pass its maximum, saying how to raise it', () => {
    const heap = KernelHeap.create(0, { maximumBytes: 2 * WASM_PAGE_BYTES });
    expect(() => heap.alloc(3 * WASM_PAGE_BYTES)).toThrow(/maximumBytes/);
    expect(() => KernelHeap.create(0, { maximumBytes: 4 * 1024 ** 3 })).toThrow(RangeError);
    expect(() => heap.alloc(-1)).toThrow(RangeError);
    expect(() => heap.alloc(8, 3)).toThrow(RangeError);
  });

  it('owns its views only', () => {
    const heap = KernelHeap.create(4096);
    const other = KernelHeap.create(4096);
    const v = heap.f32(16);
    expect(heap.owns(v)).toBe(true);
    expect(heap.owns(v.subarray(3, 9))).toBe(true);
    expect(heap.owns(other.f32(16))).toBe(false);
    expect(heap.owns(new Float32Array(16))).toBe(false);
    expect(heap.owns(new Float32Array(new SharedArrayBuffer(4096), 64, 16))).toBe(false);
    expect(heap.owns(new Float32Array(heap.buffer, 0, 4))).toBe(false); // the header
    expect(heap.owns(new Float32Array(heap.buffer, heap.used, 4))).toBe(false); // not allocated yet
  });

  it('knows its memory under another handle (as a message to a thread carries it), and no other', () => {
    const heap = KernelHeap.create(4096);
    const other = KernelHeap.create(4096);
    const handle = structuredClone(heap.memory);
    expect(handle).not.toBe(heap.memory);
    expect(heap.hasMemory(heap.memory)).toBe(true);
    expect(heap.hasMemory(handle)).toBe(true);
    expect(heap.hasMemory(other.memory)).toBe(false);
    expect(heap.hasMemory(new (wasmApi().Memory)({ initial: 1, maximum: 2, shared: true }))).toBe(false);
  });

  it('attach reads an existing heap and rejects plain memories', () => {
    const heap = KernelHeap.create(4096);
    heap.alloc(100);
    const again = KernelHeap.attach(heap.memory);
    expect(again.used).toBe(heap.used);
    expect(again.maximumBytes).toBe(heap.maximumBytes);
    const v = again.f32(4);
    expect(heap.owns(v)).toBe(true);
    const plain = new (wasmApi().Memory)({ initial: 1, maximum: 2, shared: true });
    expect(() => KernelHeap.attach(plain)).toThrow(/holds no kernel heap/);
  });

  // Needs the built package (pnpm install builds it): a worker thread cannot load TypeScript sources.
  const built = fileURLToPath(new URL('../../dist/memory/kernel-heap.js', import.meta.url));
  it.runIf(existsSync(built))('threads allocate concurrently without overlap, growing the memory', async () => {
    const heap = KernelHeap.create(0, { maximumBytes: 1024 * WASM_PAGE_BYTES });
    const perThread = 2000;
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.url).then(({ KernelHeap }) => {
        const heap = KernelHeap.attach(workerData.memory);
        const starts = [];
        for (let i = 0; i < workerData.count; i++) {
          const v = heap.f32(1 + (i % 37) * 40);
          v.fill(workerData.tag);
          starts.push(v.byteOffset, v.length);
        }
        parentPort.postMessage(starts);
      });`;
    const run = (tag: number) =>
      new Promise<number[]>((resolve, reject) => {
        const w = new Worker(code, { eval: true, workerData: { url: `file://${built}`, memory: heap.memory, count: perThread, tag } });
        w.once('message', (m) => {
          resolve(m);
          void w.terminate();
        });
        w.once('error', reject);
      });
    const results = await Promise.all([run(1), run(2), run(3)]);
    const ranges: [number, number, number][] = [];
    results.forEach((flat, t) => {
      for (let i = 0; i < flat.length; i += 2) ranges.push([flat[i], flat[i] + flat[i + 1] * 4, t + 1]);
    });
    ranges.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i][0]).toBeGreaterThanOrEqual(ranges[i - 1][1]);
    expect(heap.used).toBeGreaterThanOrEqual(ranges[ranges.length - 1][1]);
    const all = new Float32Array(heap.buffer);
    for (const [start, end, tag] of ranges) {
      expect(all[start / 4]).toBe(tag);
      expect(all[end / 4 - 1]).toBe(tag);
    }
  });
});
