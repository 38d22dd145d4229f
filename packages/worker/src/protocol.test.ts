import { CnnError } from '@cnn/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEnvelope, decodeInferenceTask, decodeServeTask, decodeStats } from './protocol.js';

/*
 * The decoders of messages between a host's main thread and its worker threads, fuzzed: valid
 * messages decode to themselves; any structured-clone value (what postMessage can carry: nested
 * objects, arrays, typed arrays, BigInt, Map, Set, Date, cycles) decodes to a message that keeps its
 * invariants or is refused with CNN_ERR_BAD_THREAD_MESSAGE, never another exception.
 * CNN_FUZZ_SCALE=N multiplies the runs, CNN_FUZZ_SEED picks other values.
 */

const SCALE = Math.max(1, Number(process.env.CNN_FUZZ_SCALE ?? 1));
const SEED = process.env.CNN_FUZZ_SEED === undefined ? 0x7e5eed : Number(process.env.CNN_FUZZ_SEED);
const runs = (n: number) => ({ numRuns: Math.round(n * SCALE), seed: SEED, endOnFailure: true });
/** Per test: generous for a loaded machine, and scaled with the runs. */
const TIMEOUT = 60_000 * SCALE;

let values = 0;

/** The decoder's outcome: its message, or the refusal's code; anything but a CnnError fails the test. */
function outcome<T>(decode: () => T): T | 'refused' {
  values += 1;
  try {
    return decode();
  } catch (e) {
    if (!(e instanceof CnnError) || e.code !== 'CNN_ERR_BAD_THREAD_MESSAGE') throw new Error(`a thread message decoder threw ${String(e)}`, { cause: e });
    expect(e.message.length).toBeLessThan(400);
    return 'refused';
  }
}

const shared = (n: number) => new Uint8Array(new SharedArrayBuffer(n));
const tensorArb = fc.record({
  rows: fc.nat(64),
  dtype: fc.constantFrom('float32' as const, 'int32' as const),
}).map(({ rows, dtype }) => ({ storage: shared(rows * 4), shape: [rows, 2, 2, 1], dtype, scale: 1 / 255 }));

/** Messages as the pool sends them, structured-cloned as postMessage would. */
const validInference = tensorArb.chain((x) => fc.record({
  x: fc.constant(x),
  y: fc.constantFrom(null, { storage: new Int32Array(new SharedArrayBuffer(x.shape[0] * 4)), shape: [x.shape[0]], dtype: 'int32', scale: 1 }),
  start: fc.nat(x.shape[0]),
  out: fc.constantFrom(null, new Float32Array(4)),
}).chain((t) => fc.nat(x.shape[0] - t.start).map((count) => ({ ...t, count }))));

/** Anything postMessage can carry, nested, with the messages' own keys mixed in. */
const cloneable: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.anything({ maxDepth: 2, withBigInt: true, withTypedArray: true, withMap: true, withSet: true, withDate: true, withSparseArray: true, withNullPrototype: true }),
    fc.dictionary(fc.constantFrom('x', 'y', 'start', 'count', 'out', 'storage', 'shape', 'lossSum', 'correct', 'seen', 'dtype', 'setup', 'task', 'id'), tie('value'), { maxKeys: 6 }),
    fc.constantFrom(Number.NaN, -1, 0.5, 2 ** 53, -0, 2n ** 64n, null, undefined, [], [-1], [1, 2], ['1'], new Float32Array(2), new Int32Array(new SharedArrayBuffer(8))),
  ),
})).value;

/** A valid-looking message with one key's value swapped for anything. */
const nearlyValid = fc.tuple(validInference, fc.constantFrom('x', 'y', 'start', 'count', 'out'), cloneable, fc.option(fc.constantFrom('storage', 'shape'), { nil: undefined }))
  .map(([task, key, value, inner]) => {
    const copy: Record<string, unknown> = { ...task };
    if (inner && (key === 'x' || key === 'y') && copy[key]) copy[key] = { ...(copy[key] as object), [inner]: value };
    else copy[key] = value;
    return copy;
  });

/** A value with a cycle, which structured clone carries and JSON.stringify cannot print. */
function cyclic(): Record<string, unknown> {
  const o: Record<string, unknown> = { start: 0 };
  o.count = o;
  o.seen = o;
  o.lossSum = o;
  return o;
}

describe('thread message decoders (fast-check)', () => {
  it('valid inference tasks decode to themselves', () => {
    fc.assert(fc.property(validInference, (task) => {
      const decoded = outcome(() => decodeInferenceTask(structuredClone(task)));
      expect(decoded).not.toBe('refused');
      expect(decoded).toMatchObject({ start: task.start, count: task.count });
    }), runs(2000));
    fc.assert(fc.property(fc.nat(), fc.nat(), fc.double({ noNaN: true }), (seen, correct, lossSum) => {
      expect(outcome(() => decodeServeTask({ seen }))).toEqual({ seen });
      expect(outcome(() => decodeEnvelope({ setup: { id: seen + 1 }, task: { seen } }))).toEqual({ setup: { id: seen + 1 }, task: { seen } });
      expect(outcome(() => decodeStats({ lossSum, correct, count: correct }))).toEqual({ lossSum, correct, count: correct });
    }), runs(2000));
  }, TIMEOUT);

  it('any value: a message that keeps its invariants, or CNN_ERR_BAD_THREAD_MESSAGE', () => {
    const check = (v: unknown) => {
      const task = outcome(() => decodeInferenceTask(v));
      if (task !== 'refused') {
        expect(Number.isSafeInteger(task.start) && Number.isSafeInteger(task.count) && task.start >= 0 && task.count >= 0).toBe(true);
        expect(ArrayBuffer.isView(task.x.storage) && Array.isArray(task.x.shape) && task.start + task.count <= task.x.shape[0]).toBe(true);
        expect(task.out === null || task.out instanceof Float32Array).toBe(true);
        expect(task.y === null || ArrayBuffer.isView(task.y.storage)).toBe(true);
      }
      const serve = outcome(() => decodeServeTask(v));
      if (serve !== 'refused') expect(Number.isSafeInteger(serve.seen) && serve.seen >= 0).toBe(true);
      const stats = outcome(() => decodeStats(v));
      if (stats !== 'refused') expect(typeof stats.lossSum === 'number' && Number.isSafeInteger(stats.correct) && Number.isSafeInteger(stats.count)).toBe(true);
      const envelope = outcome(() => decodeEnvelope(v));
      if (envelope !== 'refused') expect(Number.isSafeInteger(envelope.setup.id) && envelope.setup.id >= 1).toBe(true);
      const wrapped = outcome(() => decodeEnvelope({ setup: v, task: v }));
      if (wrapped !== 'refused') expect(Number.isSafeInteger(wrapped.setup.id) && wrapped.setup.id >= 1).toBe(true);
    };
    fc.assert(fc.property(cloneable, check), runs(10_000));
    fc.assert(fc.property(nearlyValid, check), runs(10_000));
    check(cyclic());
    check({ x: cyclic(), start: 0, count: 0 });
  }, TIMEOUT);

  it('fed at least 50,000 values', () => {
    console.log(`thread message fuzzing: ${values} decodes (seed ${SEED}, scale ${SCALE})`);
    expect(values).toBeGreaterThanOrEqual(50_000 * SCALE);
  });
});
