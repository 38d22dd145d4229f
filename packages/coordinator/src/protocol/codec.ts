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
const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'number' });

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
  if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) {
    throw new ProtocolError('CNN_PROTO_MALFORMED', `a message must be a map, got ${Array.isArray(value) ? 'an array' : typeof value}`);
  }
  const m = value as Record<string, unknown>;
  if (m.version !== PROTOCOL_VERSION) {
    throw new ProtocolError('CNN_PROTO_BAD_VERSION', `protocol version ${JSON.stringify(m.version)} is not supported; this side speaks version ${PROTOCOL_VERSION}: run the same release of cnn on every machine`);
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
    throw new ProtocolError('CNN_PROTO_BAD_FIELD', `${what} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
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
  if (typeof v !== 'object' || v === null) throw new ProtocolError('CNN_PROTO_BAD_FIELD', `${what} must be a map`);
  const o = v as Record<string, unknown>;
  const start = o.start;
  const len = o.len;
  if (typeof start !== 'number' || !Number.isSafeInteger(start) || start < 0) throw new ProtocolError('CNN_PROTO_BAD_FIELD', `${what}.start must be an integer >= 0`);
  if (typeof len !== 'number' || !Number.isSafeInteger(len) || len < 1 || (len & (len - 1)) !== 0 || start % len !== 0) {
    throw new ProtocolError('CNN_PROTO_BAD_FIELD', `${what} must be an aligned subtree (len a power of two dividing start), got [${start}, +${len})`);
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

/** Decodes and validates a frame a host sent; sizes are checked against the run before any buffer is read. */
export function decodeHostMessage(frame: Uint8Array, limits: DecodeLimits): HostMessage {
  const m = unpack(frame);
  switch (m.type) {
    case 'hello':
      return { type: 'hello', version: PROTOCOL_VERSION, token: str(m, 'token', 1024), name: str(m, 'name', 256), threads: int(m, 'threads', 1, 4096) } satisfies Hello;
    case 'ready':
      return { type: 'ready', version: PROTOCOL_VERSION, modelFingerprint: str(m, 'modelFingerprint', 128), datasetFingerprint: str(m, 'datasetFingerprint', 128) } satisfies Ready;
    case 'result': {
      const pieces = list(m, 'pieces', limits.maxPieces).map((raw, i): WirePiece => {
        const what = `result.pieces[${i}]`;
        const s = span(raw, what);
        const p = raw as Record<string, unknown>;
        const grad = floats(p, 'grad', limits.paramCount, `${what}.grad`);
        requireAllFinite(grad, `${what}.grad`);
        return {
          ...s,
          lossSum: finite(p, 'lossSum', `${what}.lossSum`),
          correct: int(p, 'correct', 0, Number.MAX_SAFE_INTEGER, `${what}.correct`),
          count: int(p, 'count', 1, Number.MAX_SAFE_INTEGER, `${what}.count`),
          grad,
        };
      });
      return { type: 'result', version: PROTOCOL_VERSION, work: int(m, 'work', 0), step: int(m, 'step', 0), computeMs: finite(m, 'computeMs'), pieces } satisfies Result;
    }
    case 'failure':
      return { type: 'failure', version: PROTOCOL_VERSION, message: str(m, 'message', 8192) } satisfies Failure;
    default:
      throw new ProtocolError('CNN_PROTO_UNEXPECTED', `unknown message type ${JSON.stringify(m.type)} from a host`);
  }
}

function runSpec(v: unknown): RunSpec {
  if (typeof v !== 'object' || v === null) throw new ProtocolError('CNN_PROTO_BAD_FIELD', 'welcome.run must be a map');
  const r: Record<string, unknown> = { ...(v as Record<string, unknown>), type: 'welcome.run' };
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
      throw new ProtocolError('CNN_PROTO_UNEXPECTED', `unknown message type ${JSON.stringify(m.type)} from the coordinator`);
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
