import { describe, expect, it } from 'vitest';
import { CnnError } from '../errors.js';
import { seed } from '../models/builtin.js';
import { Workspace } from '../model/workspace.js';
import { Arena, ARENA_ALIGNMENT, bytesFor } from './arena.js';
import { heapArena, heapArenaFor, processHeap } from './process-heap.js';

describe('Arena', () => {
  const requests = [
    { name: 'a', kind: 'f32', length: 3 },
    { name: 'b', kind: 'f64', length: 5 },
    { name: 'c', kind: 'u8', length: 65 },
    { name: 'd', kind: 'i32', length: 1 },
  ] as const;

  it('carves aligned, disjoint views of the requested kinds from one backing store', () => {
    const { arena, views } = heapArenaFor(requests);
    expect(bytesFor(requests)).toBe(64 + 64 + 128 + 64);
    expect(arena.used).toBe(bytesFor(requests));
    let end = 0;
    for (const r of requests) {
      const v = views.get(r.name)!;
      expect(v.buffer).toBe(arena.buffer);
      expect(v.length).toBe(r.length);
      expect(v.byteOffset % ARENA_ALIGNMENT).toBe(0);
      expect(v.byteOffset).toBeGreaterThanOrEqual(end);
      end = v.byteOffset + v.byteLength;
    }
    expect(views.get('b')).toBeInstanceOf(Float64Array);
    expect(views.get('c')).toBeInstanceOf(Uint8Array);
    expect(views.get('d')).toBeInstanceOf(Int32Array);
  });

  it('can live in a SharedArrayBuffer, or at an aligned offset of a larger one', () => {
    expect(heapArena(100).isShared).toBe(true);
    expect(Arena.unshared(100).isShared).toBe(false);
    const sab = new SharedArrayBuffer(1024);
    const arena = new Arena(sab, 128, 256);
    expect(arena.f32(4).byteOffset).toBe(128);
    expect(() => new Arena(sab, 100)).toThrow(RangeError);
    expect(() => new Arena(sab, 0, 2048)).toThrow(RangeError);
  });

  it('fails with a sizing hint when full', () => {
    const arena = Arena.unshared(64);
    arena.f32(16);
    let err: unknown;
    try {
      arena.u8(1, 'extra');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CnnError);
    expect((err as CnnError).code).toBe('CNN_ERR_ARENA_FULL');
    expect((err as CnnError).message).toMatch(/extra needs 1 bytes, 0 of 64 left.*bytesFor/);
  });

  it("a model's parameters and a workspace's buffers are views into the shared kernel heap", () => {
    const model = seed();
    const heap = processHeap();
    expect(model.params.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(heap.owns(model.params)).toBe(true);
    const ws = Workspace.create(model.network, model.params, { capacity: 8, training: true, gradSlots: 3 });
    const buffers = [ws.input, ws.output, ws.outputGrad!, ws.sparseTargets, ws.denseTargets, ...ws.gradSlots];
    for (const b of buffers) expect(heap.owns(b)).toBe(true);
    expect(ws.gradSlots.map((s) => s.length)).toEqual([10180, 10180, 10180]);
    const first = ws.input.byteOffset;
    const last = ws.gradSlots[2];
    expect(last.byteOffset + last.byteLength - first).toBeLessThanOrEqual(bytesFor(Workspace.requests(model.network, ws.options)));
    ws.release();
  });

  it('released regions are reused, zeroed', () => {
    const heap = processHeap();
    const a = heapArena(4096);
    a.f32(1024).fill(7);
    const offset = a.byteOffset;
    a.release();
    const b = heapArena(4096);
    expect(b.byteOffset).toBe(offset);
    expect(b.f32(1024).every((v) => v === 0)).toBe(true);
    b.release();
    expect(heap.freeBytes).toBeGreaterThanOrEqual(4096);
  });
});
