import { CnnError } from '@cnn/core';
import type { WasmMemory } from '@cnn/core';
import type { SharedTensor } from './shared-tensor.js';

/*
 * Messages between a host's main thread and its worker threads. Every task travels in an envelope
 * with its pool's setup, whose big things (parameters, data sets, result buffers) are shared memory:
 * structured clone passes handles, never copies. Each message kind has one validating decoder.
 */

/**
 * Everything a worker thread attaches to for one pool: the first task of a pool it sees carries it
 * (every task does), the thread builds its workspaces from it and keeps them until a task names
 * another pool. Threads outlive pools (worker-threads.ts).
 */
export interface HostSetup {
  /** Names the pool (unique in the process): a thread attaches again when it changes. */
  readonly id: number;
  /** The host's kernel heap (a shared WebAssembly.Memory): every buffer below lies in it. */
  readonly heap: WasmMemory;
  /** The kernels every thread of the host must run (they give the bits). */
  readonly kernelsId: string;
  /** One region of the heap per thread, for its workspaces; a starting thread claims the next. */
  readonly regions: readonly { readonly offset: number; readonly bytes: number }[];
  /** Claim counter of `regions` (Atomics.add). */
  readonly claims: Int32Array;
  /** Samples a thread's inference workspace holds. */
  readonly inferenceCapacity: number;
  /** Threads of the pool (phase-2 parameter ranges are split by it). */
  readonly threads: number;
  /** How long a thread polls for work before it sleeps (0: never; see SPIN_MS). */
  readonly spinMs: number;
  /** The training doorbell (StepChannel's buffer) and the most blocks a command holds. */
  readonly channel: SharedArrayBuffer;
  readonly maxBlocks: number;
  /** Shared buffers (whole gradients) that block sums are written into; a block names one by index. */
  readonly results: readonly Float32Array[];
  readonly modelConfig: unknown;
  readonly params: Float32Array;
  readonly slots: readonly Float32Array[];
  readonly optimizer: { className: string; config: Record<string, unknown> } | null;
  readonly loss: unknown;
  readonly fuseSoftmax: boolean;
  readonly microBatch: number;
  /** Optimizer and its state, for pools that also apply updates (null: compute only). */
  readonly seed: number;
  /** Longest block a task may name (sizes the thread's reduction stack). */
  readonly longestBlock: number;
  /** The epoch's sample order (shared; rewritten by the main thread between epochs). */
  readonly order: Int32Array;
  /** The training set (null when the pool only evaluates or predicts). */
  readonly x: SharedTensor | null;
  readonly y: SharedTensor | null;
  /** Test hook: a thread throws or exits when asked to compute this step (see FAULT_ENV). */
  readonly fault: { readonly step: number; readonly kind: 'throw' | 'exit' } | null;
}

export interface BlockResult {
  readonly lossSum: number;
  readonly correct: number;
  readonly count: number;
}

/** Loss and accuracy (evaluate) or outputs (predict, into `out`) of rows [start, start + count). */
export interface InferenceTask {
  readonly x: SharedTensor;
  readonly y: SharedTensor | null;
  readonly start: number;
  readonly count: number;
  readonly out: Float32Array | null;
}

function fail(kind: string, what: string): never {
  throw new CnnError('CNN_ERR_BAD_THREAD_MESSAGE', `bad ${kind} message: ${what}`);
}

/**
 * A value as an error message shows it. Never throws: String() and JSON.stringify do on what structured
 * clone carries (null-prototype objects, BigInt, cycles), which would escape as a TypeError.
 */
function show(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || v === null || v === undefined) return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return Array.isArray(v) ? `an array of ${v.length}` : `a ${typeof v}`;
}

function int(kind: string, o: Record<string, unknown>, key: string, min: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) fail(kind, `${key} must be an integer >= ${min}, got ${show(v)}`);
  return v;
}

function object(kind: string, v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null) fail(kind, `expected an object, got ${typeof v}`);
  return v as Record<string, unknown>;
}

/** A shared tensor's storage and row count (the only parts a task's bounds depend on). */
function tensor(kind: string, name: string, v: unknown): SharedTensor {
  const t = object(kind, v);
  if (!(t.storage instanceof Uint8Array || t.storage instanceof Float32Array || t.storage instanceof Int32Array)) fail(kind, `${name}.storage must be a typed array`);
  const shape = t.shape;
  const sizes = Array.isArray(shape) && shape.length > 0 && Array.from(shape).every((d) => Number.isSafeInteger(d) && d >= 0);
  if (!sizes) fail(kind, `${name}.shape must be a list of sizes`);
  return t as unknown as SharedTensor;
}

export function decodeInferenceTask(v: unknown): InferenceTask {
  const o = object('inference', v);
  const x = tensor('inference', 'x', o.x);
  const count = int('inference', o, 'count', 0);
  const start = int('inference', o, 'start', 0);
  if (start + count > x.shape[0]) fail('inference', `rows [${start}, +${count}) beyond the ${x.shape[0]} samples`);
  const y = o.y === undefined || o.y === null ? null : tensor('inference', 'y', o.y);
  const out = o.out;
  if (out !== null && !(out instanceof Float32Array)) fail('inference', 'out must be a Float32Array or null');
  return { x, y, start, count, out: out as Float32Array | null };
}

/** An evaluation task's answer: summed loss and counts of its rows. */
export function decodeStats(v: unknown): BlockResult {
  const o = object('stats', v);
  const lossSum = o.lossSum;
  if (typeof lossSum !== 'number') fail('stats', `lossSum must be a number, got ${show(lossSum)}`);
  return { lossSum, correct: int('stats', o, 'correct', 0), count: int('stats', o, 'count', 0) };
}

/** A task in its envelope: the pool it belongs to, and the task itself (decoded by its kind's decoder). */
export interface Envelope {
  readonly setup: HostSetup;
  readonly task: unknown;
}

export function decodeEnvelope(v: unknown): Envelope {
  const o = object('envelope', v);
  const setup = object('envelope', o.setup);
  int('envelope', setup, 'id', 1);
  return { setup: setup as unknown as HostSetup, task: o.task };
}

/** The serve task's argument: the command number the thread starts from. */
export function decodeServeTask(v: unknown): { seen: number } {
  const o = object('serve', v);
  return { seen: int('serve', o, 'seen', 0) };
}
