import { CnnError } from '@cnn/core';
import type { WasmMemory } from '@cnn/core';
import type { SharedTensor } from './shared-tensor.js';

/*
 * Messages between a host's main thread and its worker threads. The big things (parameters,
 * data sets, result buffers) are shared once through workerData; tasks carry only numbers (and, for
 * evaluation, handles of shared tensors). Each message kind has one validating decoder.
 */

/** Everything a worker thread attaches to once, when it starts. */
export interface HostSetup {
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

/**
 * A shared buffer (one whole gradient) that block sums are written into. The id lets a thread reuse
 * the views it built the first time it saw the buffer.
 */
export interface ResultBuffer {
  readonly id: number;
  readonly grad: Float32Array;
}

/** Sum the shards of aligned block [blockStart, +blockLen) of a step into `result`. */
export interface BlockTask {
  readonly step: number;
  readonly batchStart: number;
  readonly batchSize: number;
  /** Whether the step uses the epoch order (false: samples in natural order). */
  readonly shuffled: boolean;
  readonly blockStart: number;
  readonly blockLen: number;
  readonly result: ResultBuffer;
}

export interface BlockResult {
  readonly lossSum: number;
  readonly correct: number;
  readonly count: number;
}

/** A block sum in a shared result buffer. */
export interface BlockRef {
  readonly start: number;
  readonly len: number;
  readonly result: ResultBuffer;
}

/** Combine block sums into each of `pieces` (aligned subtrees) over gradient elements [begin, end). */
export interface CombineTask {
  readonly shards: number;
  readonly blocks: readonly BlockRef[];
  readonly pieces: readonly { start: number; len: number }[];
  readonly begin: number;
  readonly end: number;
}

/** Combine the step's block sums over params[begin, end) and apply update number step + 1 there. */
export interface UpdateTask {
  readonly step: number;
  readonly batchSize: number;
  readonly shards: number;
  readonly blocks: readonly BlockRef[];
  readonly begin: number;
  readonly end: number;
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

function int(kind: string, o: Record<string, unknown>, key: string, min: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) fail(kind, `${key} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return v;
}

function resultBuffer(kind: string, v: unknown, setup: HostSetup): ResultBuffer {
  const o = object(kind, v);
  const id = int(kind, o, 'id', 0);
  const grad = o.grad;
  if (!(grad instanceof Float32Array) || grad.length !== setup.params.length || !(grad.buffer instanceof SharedArrayBuffer)) {
    fail(kind, `result ${id} must be a shared Float32Array of the ${setup.params.length} parameters`);
  }
  return { id, grad };
}

function object(kind: string, v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null) fail(kind, `expected an object, got ${typeof v}`);
  return v as Record<string, unknown>;
}

export function decodeBlockTask(v: unknown, setup: HostSetup): BlockTask {
  const o = object('block', v);
  const task = {
    step: int('block', o, 'step', 0),
    batchStart: int('block', o, 'batchStart', 0),
    batchSize: int('block', o, 'batchSize', 1),
    shuffled: o.shuffled === true,
    blockStart: int('block', o, 'blockStart', 0),
    blockLen: int('block', o, 'blockLen', 1),
    result: resultBuffer('block', o.result, setup),
  };
  if (task.blockLen > setup.longestBlock) fail('block', `blockLen ${task.blockLen} beyond the longest planned block ${setup.longestBlock}`);
  if (task.batchStart + task.batchSize > setup.order.length) fail('block', `batch [${task.batchStart}, +${task.batchSize}) beyond the ${setup.order.length} samples`);
  return task;
}

export function decodeBlockResult(v: unknown): BlockResult {
  const o = object('block result', v);
  const lossSum = o.lossSum;
  if (typeof lossSum !== 'number') fail('block result', `lossSum must be a number, got ${JSON.stringify(lossSum)}`);
  return { lossSum, correct: int('block result', o, 'correct', 0), count: int('block result', o, 'count', 1) };
}

function blockRefs(kind: string, v: unknown, setup: HostSetup): BlockRef[] {
  if (!Array.isArray(v) || v.length === 0) fail(kind, 'blocks must be a non-empty array');
  return v.map((b) => {
    const o = object(kind, b);
    return { start: int(kind, o, 'start', 0), len: int(kind, o, 'len', 1), result: resultBuffer(kind, o.result, setup) };
  });
}

function paramRange(kind: string, o: Record<string, unknown>, setup: HostSetup): { begin: number; end: number } {
  const begin = int(kind, o, 'begin', 0);
  const end = int(kind, o, 'end', 0);
  if (end < begin || end > setup.params.length) fail(kind, `range [${begin}, ${end}) outside the ${setup.params.length} parameters`);
  return { begin, end };
}

export function decodeCombineTask(v: unknown, setup: HostSetup): CombineTask {
  const o = object('combine', v);
  const pieces = o.pieces;
  if (!Array.isArray(pieces) || pieces.length === 0) fail('combine', 'pieces must be a non-empty array');
  return {
    shards: int('combine', o, 'shards', 1),
    blocks: blockRefs('combine', o.blocks, setup),
    pieces: pieces.map((p) => {
      const po = object('combine', p);
      return { start: int('combine', po, 'start', 0), len: int('combine', po, 'len', 1) };
    }),
    ...paramRange('combine', o, setup),
  };
}

export function decodeUpdateTask(v: unknown, setup: HostSetup): UpdateTask {
  const o = object('update', v);
  if (!setup.optimizer) fail('update', 'this pool was started without an optimizer');
  return {
    step: int('update', o, 'step', 0),
    batchSize: int('update', o, 'batchSize', 1),
    shards: int('update', o, 'shards', 1),
    blocks: blockRefs('update', o.blocks, setup),
    ...paramRange('update', o, setup),
  };
}

export function decodeInferenceTask(v: unknown): InferenceTask {
  const o = object('inference', v);
  const x = object('inference', o.x) as unknown as SharedTensor;
  const count = int('inference', o, 'count', 0);
  const start = int('inference', o, 'start', 0);
  if (!(x.storage instanceof Uint8Array || x.storage instanceof Float32Array || x.storage instanceof Int32Array)) fail('inference', 'x.storage must be a typed array');
  if (start + count > x.shape[0]) fail('inference', `rows [${start}, +${count}) beyond the ${x.shape[0]} samples`);
  const out = o.out;
  if (out !== null && !(out instanceof Float32Array)) fail('inference', 'out must be a Float32Array or null');
  return { x, y: (o.y ?? null) as SharedTensor | null, start, count, out: out as Float32Array | null };
}
