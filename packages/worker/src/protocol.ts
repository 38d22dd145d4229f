import { CnnError } from '@cnn/core';
import type { SharedTensor } from './shared-tensor.js';

/*
 * Messages between a host's main thread and its worker threads. The big things (parameters,
 * data sets, result buffers) are shared once through workerData; tasks carry only numbers (and, for
 * evaluation, handles of shared tensors). Each message kind has one validating decoder.
 */

/** Everything a worker thread attaches to once, when it starts. */
export interface HostSetup {
  readonly modelConfig: unknown;
  readonly params: Float32Array;
  readonly slots: readonly Float32Array[];
  readonly optimizer: { className: string; config: Record<string, unknown> };
  readonly loss: unknown;
  readonly fuseSoftmax: boolean;
  readonly microBatch: number;
  readonly seed: number;
  /** Longest block a task may name (sizes the thread's reduction stack). */
  readonly longestBlock: number;
  /** Shared buffers that block sums are written into, indexed by a task's `result`. */
  readonly results: readonly Float32Array[];
  /** The epoch's sample order (shared; rewritten by the main thread between epochs). */
  readonly order: Int32Array;
  /** The training set (null when the pool only evaluates or predicts). */
  readonly x: SharedTensor | null;
  readonly y: SharedTensor | null;
  /** Test hook: a thread throws or exits when asked to compute this step (see FAULT_ENV). */
  readonly fault: { readonly step: number; readonly kind: 'throw' | 'exit' } | null;
}

/** Sum the shards of aligned block [blockStart, +blockLen) of a step into results[result]. */
export interface BlockTask {
  readonly step: number;
  readonly batchStart: number;
  readonly batchSize: number;
  /** Whether the step uses the epoch order (false: samples in natural order). */
  readonly shuffled: boolean;
  readonly blockStart: number;
  readonly blockLen: number;
  readonly result: number;
}

export interface BlockResult {
  readonly lossSum: number;
  readonly correct: number;
  readonly count: number;
}

/** Combine the step's block sums over params[begin, end) and apply update number step + 1 there. */
export interface UpdateTask {
  readonly step: number;
  readonly batchSize: number;
  readonly shards: number;
  readonly blocks: readonly { start: number; len: number; result: number }[];
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
    result: int('block', o, 'result', 0),
  };
  if (task.result >= setup.results.length) fail('block', `result ${task.result} beyond the ${setup.results.length} result buffers`);
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

export function decodeUpdateTask(v: unknown, setup: HostSetup): UpdateTask {
  const o = object('update', v);
  const blocks = o.blocks;
  if (!Array.isArray(blocks) || blocks.length === 0) fail('update', 'blocks must be a non-empty array');
  const task = {
    step: int('update', o, 'step', 0),
    batchSize: int('update', o, 'batchSize', 1),
    shards: int('update', o, 'shards', 1),
    blocks: blocks.map((b) => {
      const bo = object('update', b);
      const block = { start: int('update', bo, 'start', 0), len: int('update', bo, 'len', 1), result: int('update', bo, 'result', 0) };
      if (block.result >= setup.results.length) fail('update', `result ${block.result} beyond the ${setup.results.length} result buffers`);
      return block;
    }),
    begin: int('update', o, 'begin', 0),
    end: int('update', o, 'end', 0),
  };
  if (task.end < task.begin || task.end > setup.params.length) fail('update', `range [${task.begin}, ${task.end}) outside the ${setup.params.length} parameters`);
  return task;
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
