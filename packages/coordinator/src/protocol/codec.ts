import { Packr } from 'msgpackr';
import { ProtocolError } from './errors.js';
import {
  type CoordinatorMessage, type Done, type Failure, type Hello, type HostMessage, PROTOCOL_VERSION, type Ready, type Reject,
  type Result, type RunSpec, type Span, type Welcome, type WirePiece, type Work,
} from './messages.js';

/**
 * The one codec of the protocol: encode any message, and decode-and-validate each direction. A frame
 * that fails any check raises a ProtocolError naming what was wrong; nothing half-decoded escapes.
 */

// Plain maps (no record extension): every frame describes itself and decodes without prior state.
// No structured clone: its reference extensions would let a frame build cyclic values.
const packr = new Packr({ useRecords: false, moreTypes: false, structuredClone: false, int64AsType: 'number' });

/**
 * Longest piece (in shards) a frame may name. Keeps the power-of-two test within 32-bit integer
 * arithmetic (`len & (len - 1)` truncates larger values); no batch comes near 2^30 micro-shards.
 */
const MAX_PIECE_LEN = 2 ** 30;

/**
 * A decoded value as error messages show it. Never throws (JSON.stringify does on the BigInt and
 * cyclic values msgpackr's extensions can produce, which would escape as a crash rather than a
 * ProtocolError) and never grows a message beyond a few dozen characters.
 */
function show(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(v);
    case 'bigint':
      return `${v}n (a BigInt)`;
    default:
      if (v === null) return 'null';
      if (Array.isArray(v)) return `an array of ${v.length}`;
      if (ArrayBuffer.isView(v)) return `binary of ${v.byteLength} bytes`;
      if (isPlainMap(v)) return 'a map';
      return typeof v === 'object' ? `a ${(v as object).constructor?.name ?? 'value'} (not a map)` : `a ${typeof v}`;
  }
}

/** A plain map as msgpackr decodes a MessagePack map (not an extension's Set, Date, Error, ...). */
function isPlainMap(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Limits a decoder checks sizes against before touching a buffer. */
export interface DecodeLimits {
  readonly paramCount: number;
  /** Most pieces one result may carry. */
  readonly maxPieces: number;
}

/** Float arrays travel as their bytes (MessagePack bin): one memcpy, not one number per element. */
function floatBytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export function encode(message: HostMessage | CoordinatorMessage): Uint8Array {
  const m = message as unknown as Record<string, unknown>;
  if (message.type === 'work') return packr.pack({ ...m, params: floatBytes(message.params) });
  if (message.type === 'result') {
    return packr.pack({ ...m, pieces: message.pieces.map((p) => ({ ...p, grad: floatBytes(p.grad) })) });
  }
  return packr.pack(m);
}

function unpack(frame: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = packr.unpack(frame);
  } catch (e) {
    throw new ProtocolError('CNN_PROTO_MALFORMED', `undecodable frame of ${frame.byteLength} bytes (${(e as Error).message})`);
  }
  if (!isPlainMap(value)) throw new ProtocolError('CNN_PROTO_MALFORMED', `a message must be a map, got ${show(value)}`);
  const m = value;
  if (m.version !== PROTOCOL_VERSION) {
    throw new ProtocolError('CNN_PROTO_BAD_VERSION', `protocol version ${show(m.version)} is not supported; this side speaks version ${PROTOCOL_VERSION}: run the same release of cnn on every machine`);
  }
  return m;
}

// Field readers: each names the message and field that failed.
function str(m: Record<string, unknown>, key: string, maxLength = 4096): string {
  const v = m[key];
  if (typeof v !== 'string' || v.length > maxLength) throw new ProtocolError('CNN_PROTO_BAD_FIELD', `${m.type}.${key} must be a string of at most ${maxLength} characters`);
  return v;
}

function int(m: Record<string, unknown>, key: string, min: number, max = Number.MAX_SAFE_INTEGER, what = `${m.type}.${key}`): number {
  const v = m[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new ProtocolError('CNN_PROTO_BAD_FIELD', `${what} must be an integer in [${min}, ${max}], got ${show(v)}`);
  }
  return v;
}

function finite(m: Record<string, unknown>, key: string, what = `${m.type}.${key}`): number {
  const v = m[key];
  if (typeof v !== 'number') throw new ProtocolError('CNN_PROTO_BAD_FIELD', `${what} must be a number`);
  if (!Number.isFinite(v)) throw new ProtocolError('CNN_PROTO_NOT_FINITE', `${what} is ${v}`);
  return v;
}

function bool(m: Record<string, unknown>, key: string): boolean {
  const v = m[key];
  if (typeof v !== 'boolean') throw new ProtocolError('CNN_PROTO_BAD_FIELD', `${m.type}.${key} must be a boolean`);
  return v;
}

/** The bytes of a float array whose length must be `length`, as a Float32Array (copied only if misaligned). */
function floats(m: Record<string, unknown>, key: string, length: number, what = `${m.type}.${key}`): Float32Array {
  const v = m[key];
  if (!(v instanceof Uint8Array)) throw new ProtocolError('CNN_PROTO_BAD_FIELD', `${what} must be binary (float32 bytes)`);
  if (v.byteLength !== length * 4) {
    throw new ProtocolError('CNN_PROTO_BAD_LENGTH', `${what} holds ${v.byteLength} bytes; the model has ${length} parameters (${length * 4} bytes)`);
  }
  if (v.byteOffset % 4 === 0) return new Float32Array(v.buffer, v.byteOffset, length);
  const copy = new Float32Array(length);
  new Uint8Array(copy.buffer).set(v);
  return copy;
}

function span(v: unknown, what: string): Span {
  if (!isPlainMap(v)) throw new ProtocolError('CNN_PROTO_BAD_FIELD', `${what} must be a map`);
  const o = v;
  const start = o.start;
  const len = o.len;
  if (typeof start !== 'number' || !Number.isSafeInteger(start) || start < 0) throw new ProtocolError('CNN_PROTO_BAD_FIELD', `${what}.start must be an integer >= 0`);
  if (typeof len !== 'number' || !Number.isSafeInteger(len) || len < 1 || len > MAX_PIECE_LEN || (len & (len - 1)) !== 0 || start % len !== 0) {
    throw new ProtocolError('CNN_PROTO_BAD_FIELD', `${what} must be an aligned subtree (len a power of two up to 2^30 dividing start), got [${start}, +${show(len)})`);
  }
  return { start, len };
}

function list(m: Record<string, unknown>, key: string, max: number): unknown[] {
  const v = m[key];
  if (!Array.isArray(v) || v.length === 0 || v.length > max) throw new ProtocolError('CNN_PROTO_BAD_FIELD', `${m.type}.${key} must be a list of 1 to ${max} entries`);
  return v;
}

function requireAllFinite(a: Float32Array, what: string): void {
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (v - v !== 0) throw new ProtocolError('CNN_PROTO_NOT_FINITE', `${what}[${i}] is ${v}`);
  }
}

/** One piece of a result; a failure names the piece's index (the coordinator tells divergence by it). */
function piece(raw: unknown, i: number, paramCount: number): WirePiece {
  const what = `result.pieces[${i}]`;
  try {
    const s = span(raw, what);
    const p = raw as Record<string, unknown>;
    const grad = floats(p, 'grad', paramCount, `${what}.grad`);
    requireAllFinite(grad, `${what}.grad`);
    return {
      ...s,
      lossSum: finite(p, 'lossSum', `${what}.lossSum`),
      correct: int(p, 'correct', 0, Number.MAX_SAFE_INTEGER, `${what}.correct`),
      count: int(p, 'count', 1, Number.MAX_SAFE_INTEGER, `${what}.count`),
      grad,
    };
  } catch (e) {
    throw e instanceof ProtocolError ? new ProtocolError(e.code, e.message, i) : e;
  }
}

/** Decodes and validates a frame a host sent; sizes are checked against the run before any buffer is read. */
export function decodeHostMessage(frame: Uint8Array, limits: DecodeLimits): HostMessage {
  const m = unpack(frame);
  switch (m.type) {
    case 'hello':
      return { type: 'hello', version: PROTOCOL_VERSION, token: str(m, 'token', 1024), name: str(m, 'name', 256), threads: int(m, 'threads', 1, 4096) } satisfies Hello;
    case 'ready':
      return { type: 'ready', version: PROTOCOL_VERSION, modelFingerprint: str(m, 'modelFingerprint', 128), datasetFingerprint: str(m, 'datasetFingerprint', 128) } satisfies Ready;
    case 'result': {
      const pieces = list(m, 'pieces', limits.maxPieces).map((raw, i) => piece(raw, i, limits.paramCount));
      return { type: 'result', version: PROTOCOL_VERSION, work: int(m, 'work', 0), step: int(m, 'step', 0), computeMs: finite(m, 'computeMs'), pieces } satisfies Result;
    }
    case 'failure':
      return { type: 'failure', version: PROTOCOL_VERSION, message: str(m, 'message', 8192) } satisfies Failure;
    default:
      throw new ProtocolError('CNN_PROTO_UNEXPECTED', `unknown message type ${show(m.type)} from a host`);
  }
}

function runSpec(v: unknown): RunSpec {
  if (!isPlainMap(v)) throw new ProtocolError('CNN_PROTO_BAD_FIELD', 'welcome.run must be a map');
  const r: Record<string, unknown> = { ...v, type: 'welcome.run' };
  return {
    model: r.model,
    modelFingerprint: str(r, 'modelFingerprint', 128),
    dataset: str(r, 'dataset', 4096),
    datasetFingerprint: str(r, 'datasetFingerprint', 128),
    loss: r.loss,
    seed: int(r, 'seed', 0),
    microBatch: int(r, 'microBatch', 1),
    maxShards: int(r, 'maxShards', 1),
    paramCount: int(r, 'paramCount', 1),
  };
}

/** Decodes and validates a frame the coordinator sent. `paramCount` is null until the welcome fixed it. */
export function decodeCoordinatorMessage(frame: Uint8Array, paramCount: number | null): CoordinatorMessage {
  const m = unpack(frame);
  switch (m.type) {
    case 'welcome':
      return { type: 'welcome', version: PROTOCOL_VERSION, hostId: str(m, 'hostId', 128), heartbeatMs: int(m, 'heartbeatMs', 10, 3_600_000), run: runSpec(m.run) } satisfies Welcome;
    case 'work': {
      if (paramCount === null) throw new ProtocolError('CNN_PROTO_UNEXPECTED', 'work before welcome');
      const pieces = list(m, 'pieces', 1 << 16).map((p, i) => span(p, `work.pieces[${i}]`));
      return {
        type: 'work', version: PROTOCOL_VERSION, work: int(m, 'work', 0), step: int(m, 'step', 0), epoch: int(m, 'epoch', 0),
        batchStart: int(m, 'batchStart', 0), batchSize: int(m, 'batchSize', 1), shuffle: bool(m, 'shuffle'), pieces,
        params: floats(m, 'params', paramCount),
      } satisfies Work;
    }
    case 'done':
      return { type: 'done', version: PROTOCOL_VERSION, reason: str(m, 'reason', 8192) } satisfies Done;
    case 'reject':
      return { type: 'reject', version: PROTOCOL_VERSION, code: str(m, 'code', 128), message: str(m, 'message', 8192) } satisfies Reject;
    default:
      throw new ProtocolError('CNN_PROTO_UNEXPECTED', `unknown message type ${show(m.type)} from the coordinator`);
  }
}

/** Bytes a result frame can take: sets the server's maxPayload from the model's size. */
export function maxResultBytes(limits: DecodeLimits): number {
  return limits.maxPieces * (limits.paramCount * 4 + 256) + 4096;
}

/** Bytes a work frame can take: sets the host's maxPayload. */
export function maxWorkBytes(paramCount: number, maxPieces: number): number {
  return paramCount * 4 + maxPieces * 32 + 4096;
}
