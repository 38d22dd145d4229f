import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
// Test data from core's test-only generator (not part of any build).
import { mulberry32 } from '../../../core/src/testing/mulberry.js';
import { type DecodeLimits, decodeCoordinatorMessage, decodeHostMessage, encode, maxResultBytes, maxWorkBytes } from './codec.js';
import { PROTOCOL_ERRORS, ProtocolError, type ProtocolErrorCode } from './errors.js';
import {
  type CoordinatorMessage, type Done, type Failure, type Hello, type HostMessage, PROTOCOL_VERSION, type Ready, type Reject,
  type Result, type Welcome, type Work,
} from './messages.js';

/*
 * The decoders are fed real encoded frames, hand-written byte fixtures, every truncation of real
 * frames, and seeded random bytes. Whatever the input, a decoder returns a validated message or
 * throws a ProtocolError with a precise code: nothing else may escape (on the coordinator anything
 * else would be an uncaught exception in a socket handler, i.e. a crash of the run).
 */

const P = 5;
const LIMITS: DecodeLimits = { paramCount: P, maxPieces: 4 };

const hex = (s: string) => Uint8Array.from(s.trim().split(/\s+/).map((b) => Number.parseInt(b, 16)));
const hexOf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const str = (s: string) => [...Buffer.from(s)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
/** A MessagePack fixstr. */
const fixstr = (s: string) => `${(0xa0 | s.length).toString(16)} ${str(s)}`;
/** The bits of a float array, for bitwise comparisons (NaN payloads, -0). */
const bits = (a: Float32Array) => [...new Uint32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength))];

function grad(seed: number): Float32Array {
  return Float32Array.from({ length: P }, (_, i) => (i - 2) * 0.37 + seed * 1e-3);
}

const hello: Hello = { type: 'hello', version: PROTOCOL_VERSION, token: 's3cret', name: 'box-1', threads: 4 };
const ready: Ready = { type: 'ready', version: PROTOCOL_VERSION, modelFingerprint: 'a'.repeat(64), datasetFingerprint: 'b'.repeat(64) };
const result: Result = {
  type: 'result', version: PROTOCOL_VERSION, work: 12, step: 41, computeMs: 3.25,
  pieces: [
    { start: 4, len: 4, lossSum: 12.5, correct: 20, count: 32, grad: grad(1) },
    { start: 8, len: 1, lossSum: 0.125, correct: 8, count: 8, grad: grad(2) },
  ],
};
const failure: Failure = { type: 'failure', version: PROTOCOL_VERSION, message: 'out of memory' };
const welcome: Welcome = {
  type: 'welcome', version: PROTOCOL_VERSION, hostId: 'host-3', heartbeatMs: 1000,
  run: {
    model: { className: 'Sequential', config: { layers: [{ className: 'Dense', config: { units: 10 } }] } },
    modelFingerprint: 'c'.repeat(64), dataset: 'mnist', datasetFingerprint: 'd'.repeat(64),
    loss: 'sparse_categorical_crossentropy', seed: 7, microBatch: 8, maxShards: 32, paramCount: P,
  },
};
const work: Work = {
  type: 'work', version: PROTOCOL_VERSION, work: 12, step: 41, epoch: 1, batchStart: 1312, batchSize: 32, shuffle: true,
  pieces: [{ start: 0, len: 2 }, { start: 2, len: 1 }], params: grad(3),
};
const done: Done = { type: 'done', version: PROTOCOL_VERSION, reason: 'the run finished' };
const reject: Reject = { type: 'reject', version: PROTOCOL_VERSION, code: 'CNN_PROTO_BAD_TOKEN', message: 'wrong token' };

const HOST_MESSAGES: HostMessage[] = [hello, ready, result, failure];
const COORDINATOR_MESSAGES: CoordinatorMessage[] = [welcome, work, done, reject];

const fromHost = (frame: Uint8Array) => decodeHostMessage(frame, LIMITS);
const fromCoordinator = (frame: Uint8Array) => decodeCoordinatorMessage(frame, P);

/** The ProtocolError a decode throws (fails the test if it throws anything else, or nothing). */
function protocolError(decode: () => unknown): ProtocolError {
  let thrown: unknown;
  try {
    decode();
  } catch (e) {
    thrown = e;
  }
  if (!(thrown instanceof ProtocolError)) throw new Error(`expected a ProtocolError, got ${thrown === undefined ? 'a decoded message' : String(thrown)}`);
  return thrown;
}

function codeOf(decode: () => unknown): ProtocolErrorCode {
  return protocolError(decode).code;
}

// The codec's MessagePack settings, without its float conversion: for frames no well-typed message gives.
const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'number' });

/** Encodes any value as it is (binary fields must be given as Uint8Array). */
function raw(value: unknown): Uint8Array {
  return packr.pack(value);
}

describe('byte fixtures: the wire format', () => {
  it('hello is a MessagePack map of its fields in order', () => {
    const frame = hex(`de 00 05 ${fixstr('type')} ${fixstr('hello')} ${fixstr('version')} 01 ${fixstr('token')} ${fixstr('t')} ${fixstr('name')} ${fixstr('n')} ${fixstr('threads')} 02`);
    expect(hexOf(encode({ type: 'hello', version: 1, token: 't', name: 'n', threads: 2 }))).toBe(hexOf(frame));
    expect(fromHost(frame)).toEqual({ type: 'hello', version: 1, token: 't', name: 'n', threads: 2 });
  });

  it('a gradient travels as bin 8 holding the float32 little-endian bytes; other numbers as float 64', () => {
    const frame = hex(`de 00 06 ${fixstr('type')} ${fixstr('result')} ${fixstr('version')} 01 ${fixstr('work')} 07 ${fixstr('step')} 03
      ${fixstr('computeMs')} cb 3f f8 00 00 00 00 00 00 ${fixstr('pieces')} 91
      de 00 06 ${fixstr('start')} 02 ${fixstr('len')} 02 ${fixstr('lossSum')} cb 3f d0 00 00 00 00 00 00 ${fixstr('correct')} 01
      ${fixstr('count')} 10 ${fixstr('grad')} c4 08 00 00 80 3f 00 00 00 c0`);
    const message: Result = { type: 'result', version: 1, work: 7, step: 3, computeMs: 1.5, pieces: [{ start: 2, len: 2, lossSum: 0.25, correct: 1, count: 16, grad: new Float32Array([1, -2]) }] };
    expect(hexOf(encode(message))).toBe(hexOf(frame));
    const decoded = decodeHostMessage(frame, { paramCount: 2, maxPieces: 4 }) as Result;
    expect(decoded.pieces[0].grad).toEqual(new Float32Array([1, -2]));
    expect({ ...decoded, pieces: [] }).toEqual({ ...message, pieces: [] });
  });

  it('work carries the parameters as bin, -0 included', () => {
    const frame = hex(`de 00 0a ${fixstr('type')} ${fixstr('work')} ${fixstr('version')} 01 ${fixstr('work')} 07 ${fixstr('step')} 03
      ${fixstr('epoch')} 00 ${fixstr('batchStart')} 60 ${fixstr('batchSize')} 20 ${fixstr('shuffle')} c3
      ${fixstr('pieces')} 91 de 00 02 ${fixstr('start')} 02 ${fixstr('len')} 02 ${fixstr('params')} c4 08 00 00 00 3f 00 00 00 80`);
    const message: Work = { type: 'work', version: 1, work: 7, step: 3, epoch: 0, batchStart: 96, batchSize: 32, shuffle: true, pieces: [{ start: 2, len: 2 }], params: new Float32Array([0.5, -0]) };
    expect(hexOf(encode(message))).toBe(hexOf(frame));
    const decoded = decodeCoordinatorMessage(frame, 2) as Work;
    expect(bits(decoded.params)).toEqual(bits(message.params));
  });

  it('a hand-written frame with fixmap headers (not what msgpackr writes) decodes too', () => {
    const frame = hex(`84 ${fixstr('type')} ${fixstr('done')} ${fixstr('version')} 01 ${fixstr('reason')} ${fixstr('ok')} ${fixstr('extra')} c0`);
    expect(fromCoordinator(frame)).toEqual({ type: 'done', version: 1, reason: 'ok' });
  });
});

describe('round trips', () => {
  it.each(HOST_MESSAGES.map((m) => [m.type, m] as const))('host -> coordinator: %s', (_, message) => {
    const decoded = fromHost(encode(message));
    expect(decoded).toEqual(message);
    if (message.type === 'result') {
      (decoded as Result).pieces.forEach((p, i) => expect(bits(p.grad)).toEqual(bits(message.pieces[i].grad)));
    }
  });

  it.each(COORDINATOR_MESSAGES.map((m) => [m.type, m] as const))('coordinator -> host: %s', (_, message) => {
    const decoded = fromCoordinator(encode(message));
    expect(decoded).toEqual(message);
    if (message.type === 'work') expect(bits((decoded as Work).params)).toEqual(bits(message.params));
  });

  it('the welcome decodes before the parameter count is known', () => {
    expect(decodeCoordinatorMessage(encode(welcome), null)).toEqual(welcome);
  });

  it('every float32 bit pattern that is finite survives: -0, subnormals, the extremes', () => {
    const special = new Float32Array([-0, 1.4e-45, -1.4e-45, 1.17549435e-38, 3.4028235e38, -3.4028235e38]);
    const decoded = decodeHostMessage(encode({ ...result, pieces: [{ ...result.pieces[0], grad: special }] }), { paramCount: special.length, maxPieces: 1 }) as Result;
    expect(bits(decoded.pieces[0].grad)).toEqual(bits(special));
  });

  it('fields a decoder does not know are dropped', () => {
    expect(fromHost(raw({ ...hello, color: 'blue', nested: { a: [1, 2] } }))).toEqual(hello);
  });
});

describe('a gradient at any byte offset', () => {
  it.each([0, 1, 2, 3])('frame copied at offset %i of its buffer: same bits', (offset) => {
    const frame = encode(result);
    const buffer = new Uint8Array(frame.byteLength + offset + 3);
    buffer.set(frame, offset);
    const decoded = fromHost(buffer.subarray(offset, offset + frame.byteLength)) as Result;
    decoded.pieces.forEach((p, i) => {
      expect(p.grad).toBeInstanceOf(Float32Array);
      expect(p.grad.length).toBe(P);
      expect(bits(p.grad)).toEqual(bits(result.pieces[i].grad));
    });
  });

  it('aligned float bytes are viewed in place (no copy); misaligned ones are copied', () => {
    // params is the last field of a work frame: its bytes are the frame's last 4P.
    const frame = encode(work);
    for (const offset of [0, 1, 2, 3]) {
      const buffer = new Uint8Array(frame.byteLength + 4);
      buffer.set(frame, offset);
      const decoded = fromCoordinator(buffer.subarray(offset, offset + frame.byteLength)) as Work;
      const at = offset + frame.byteLength - P * 4;
      expect(decoded.params.buffer === buffer.buffer, `params at byte ${at}`).toBe(at % 4 === 0);
      expect(bits(decoded.params)).toEqual(bits(work.params));
    }
  });
});

describe('truncated frames', () => {
  const cases = [
    ...HOST_MESSAGES.map((m) => ({ name: `host ${m.type}`, frame: encode(m), decode: fromHost })),
    ...COORDINATOR_MESSAGES.map((m) => ({ name: `coordinator ${m.type}`, frame: encode(m), decode: fromCoordinator })),
  ];

  it.each(cases.map((c) => [c.name, c] as const))('%s cut at every length gives CNN_PROTO_MALFORMED', (_, c) => {
    expect(c.frame.byteLength).toBeGreaterThan(20);
    for (let n = 0; n < c.frame.byteLength; n++) {
      const e = protocolError(() => c.decode(c.frame.subarray(0, n)));
      expect(e.code, `cut at ${n} of ${c.frame.byteLength}: ${e.message}`).toBe('CNN_PROTO_MALFORMED');
    }
  });

  it('a frame with trailing bytes is malformed too', () => {
    const frame = encode(hello);
    const longer = new Uint8Array(frame.byteLength + 1);
    longer.set(frame);
    expect(codeOf(() => fromHost(longer))).toBe('CNN_PROTO_MALFORMED');
  });
});

describe('random bytes', () => {
  it('3,000 seeded random frames: always a ProtocolError, mostly CNN_PROTO_MALFORMED', () => {
    const next = mulberry32(0x5eed);
    const codes = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const frame = Uint8Array.from({ length: Math.floor(next() * 200) }, () => Math.floor(next() * 256));
      // Half the frames start like a map, so the decoder gets past the first byte more often.
      if (i % 2 === 1 && frame.length > 0) frame[0] = 0x80 | (frame[0] & 0x0f);
      for (const decode of [fromHost, fromCoordinator, (f: Uint8Array) => decodeCoordinatorMessage(f, null)]) {
        const code = codeOf(() => decode(frame));
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    }
    expect(codes.get('CNN_PROTO_MALFORMED')).toBeGreaterThan(8000);
  });

  it('3,000 real frames with random bytes overwritten: a valid message or a ProtocolError, never a crash', () => {
    const next = mulberry32(42);
    const frames = [...HOST_MESSAGES.map((m) => ({ frame: encode(m), decode: fromHost })), ...COORDINATOR_MESSAGES.map((m) => ({ frame: encode(m), decode: fromCoordinator }))];
    let rejected = 0;
    for (let i = 0; i < 3000; i++) {
      const { frame, decode } = frames[i % frames.length];
      const mutated = frame.slice();
      const flips = 1 + Math.floor(next() * 4);
      for (let k = 0; k < flips; k++) mutated[Math.floor(next() * mutated.length)] = Math.floor(next() * 256);
      try {
        decode(mutated);
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw new Error(`frame ${Buffer.from(mutated).toString('hex')} threw ${String(e)}`);
        rejected += 1;
      }
    }
    expect(rejected).toBeGreaterThan(1000);
  });

  it("msgpackr's extension types (BigInt, structured clone, Set, Date, typed arrays) are ProtocolErrors", () => {
    const key = (k: string) => fixstr(k);
    // {version: 1n}: a BigInt (ext 0x42) where an integer is expected.
    expect(codeOf(() => fromHost(hex(`81 ${key('version')} d4 42 01`)))).toBe('CNN_PROTO_BAD_VERSION');
    // {version: 1, type: 5n}
    expect(codeOf(() => fromHost(hex(`82 ${key('version')} 01 ${key('type')} d4 42 05`)))).toBe('CNN_PROTO_UNEXPECTED');
    // hello whose threads is a BigInt
    expect(codeOf(() => fromHost(hex(`85 ${key('type')} ${key('hello')} ${key('version')} 01 ${key('token')} a0 ${key('name')} a0 ${key('threads')} d4 42 02`)))).toBe('CNN_PROTO_BAD_FIELD');
    // Structured-clone reference (ext 0x69) pointing back at itself (ext 0x70).
    expect(codeOf(() => fromHost(hex(`81 ${key('version')} d6 69 00 00 00 01 91 d6 70 00 00 00 01`)))).toBe('CNN_PROTO_MALFORMED');
    // A Set (ext 0x73), a timestamp (ext -1), a typed array (ext 0x74), the never-used byte 0xc1.
    expect(codeOf(() => fromHost(hex('d4 73 90')))).toBe('CNN_PROTO_MALFORMED');
    expect(codeOf(() => fromHost(hex('d6 ff 00 00 00 01')))).toBe('CNN_PROTO_MALFORMED');
    expect(codeOf(() => fromHost(hex('c7 05 74 01 01 02 03 04')))).toBe('CNN_PROTO_MALFORMED');
    expect(codeOf(() => fromHost(hex('c1')))).toBe('CNN_PROTO_MALFORMED');
    // A result whose piece is a Set rather than a map.
    const piece = raw({ ...result, pieces: [new Set([1])] });
    expect(codeOf(() => fromHost(piece))).toBe('CNN_PROTO_BAD_FIELD');
  });

  it('non-map values are malformed', () => {
    for (const value of [1, 'hello', null, true, [1, 2], new Uint8Array(4)]) {
      expect(codeOf(() => fromHost(raw(value)))).toBe('CNN_PROTO_MALFORMED');
    }
  });
});

describe('version', () => {
  it.each([2, 0, '1', null, 1.5])('version %s: CNN_PROTO_BAD_VERSION in both directions', (version) => {
    expect(codeOf(() => fromHost(raw({ ...hello, version })))).toBe('CNN_PROTO_BAD_VERSION');
    expect(codeOf(() => fromCoordinator(raw({ ...done, version })))).toBe('CNN_PROTO_BAD_VERSION');
  });

  it('a missing version is a wrong version', () => {
    const { version: _, ...rest } = hello;
    expect(codeOf(() => fromHost(raw(rest)))).toBe('CNN_PROTO_BAD_VERSION');
  });

  it('the version is checked before the type', () => {
    expect(codeOf(() => fromHost(raw({ type: 'future-message', version: 2 })))).toBe('CNN_PROTO_BAD_VERSION');
  });
});

describe('gradient and parameter sizes', () => {
  const withGrad = (g: unknown) => raw({ ...result, pieces: [{ ...result.pieces[0], grad: g }] });
  const floatBytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

  it.each([0, 1, P - 1, P + 1, 1000])('a gradient of %i floats: CNN_PROTO_BAD_LENGTH', (n) => {
    const e = protocolError(() => fromHost(withGrad(floatBytes(new Float32Array(n)))));
    expect(e.code).toBe('CNN_PROTO_BAD_LENGTH');
    expect(e.closeCode).toBe(4007);
    expect(e.message).toContain(`${n * 4} bytes`);
  });

  it('a gradient whose byte count is not a multiple of 4: CNN_PROTO_BAD_LENGTH', () => {
    expect(codeOf(() => fromHost(withGrad(new Uint8Array(P * 4 + 1))))).toBe('CNN_PROTO_BAD_LENGTH');
    expect(codeOf(() => fromHost(withGrad(new Uint8Array(P * 4 - 3))))).toBe('CNN_PROTO_BAD_LENGTH');
  });

  it('a gradient sent as a list of numbers or missing: CNN_PROTO_BAD_FIELD', () => {
    expect(codeOf(() => fromHost(withGrad([...grad(1)])))).toBe('CNN_PROTO_BAD_FIELD');
    expect(codeOf(() => fromHost(withGrad(undefined)))).toBe('CNN_PROTO_BAD_FIELD');
    expect(codeOf(() => fromHost(withGrad('bytes')))).toBe('CNN_PROTO_BAD_FIELD');
  });

  it('parameters of the wrong length in work: CNN_PROTO_BAD_LENGTH', () => {
    expect(codeOf(() => fromCoordinator(raw({ ...work, params: new Uint8Array((P - 1) * 4) })))).toBe('CNN_PROTO_BAD_LENGTH');
    expect(codeOf(() => decodeCoordinatorMessage(encode(work), P + 1))).toBe('CNN_PROTO_BAD_LENGTH');
  });

  it('more pieces than the limit: CNN_PROTO_BAD_FIELD, before any gradient is read', () => {
    const pieces = Array.from({ length: LIMITS.maxPieces + 1 }, (_, i) => ({ start: i, len: 1, lossSum: 1, correct: 0, count: 1, grad: new Uint8Array(3) }));
    expect(codeOf(() => fromHost(raw({ ...result, pieces })))).toBe('CNN_PROTO_BAD_FIELD');
    expect(codeOf(() => fromHost(raw({ ...result, pieces: [] })))).toBe('CNN_PROTO_BAD_FIELD');
  });
});

describe('finite numbers', () => {
  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])('%s in a gradient: CNN_PROTO_NOT_FINITE', (bad) => {
    for (const at of [0, 2, P - 1]) {
      const g = grad(1);
      g[at] = bad;
      const e = protocolError(() => fromHost(encode({ ...result, pieces: [result.pieces[0], { ...result.pieces[1], grad: g }] })));
      expect(e.code).toBe('CNN_PROTO_NOT_FINITE');
      expect(e.closeCode).toBe(4008);
      expect(e.message).toContain(`result.pieces[1].grad[${at}]`);
    }
  });

  it('a NaN with a payload (any exponent-all-ones pattern) is caught', () => {
    const g = grad(1);
    new Uint32Array(g.buffer)[1] = 0xffc00123;
    expect(codeOf(() => fromHost(encode({ ...result, pieces: [{ ...result.pieces[0], grad: g }] })))).toBe('CNN_PROTO_NOT_FINITE');
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])('lossSum %s: CNN_PROTO_NOT_FINITE', (bad) => {
    expect(codeOf(() => fromHost(encode({ ...result, pieces: [{ ...result.pieces[0], lossSum: bad }] })))).toBe('CNN_PROTO_NOT_FINITE');
  });

  it('computeMs Infinity: CNN_PROTO_NOT_FINITE; lossSum as a string: CNN_PROTO_BAD_FIELD', () => {
    expect(codeOf(() => fromHost(encode({ ...result, computeMs: Number.POSITIVE_INFINITY })))).toBe('CNN_PROTO_NOT_FINITE');
    expect(codeOf(() => fromHost(raw({ ...result, pieces: [{ ...result.pieces[0], grad: new Uint8Array(grad(1).buffer), lossSum: '1' }] })))).toBe('CNN_PROTO_BAD_FIELD');
  });
});

describe('piece spans', () => {
  const resultWith = (span: Record<string, unknown>) => raw({ ...result, pieces: [{ ...result.pieces[0], grad: new Uint8Array(grad(1).buffer), ...span }] });
  const workWith = (span: Record<string, unknown>) => raw({ ...work, pieces: [span], params: new Uint8Array(grad(1).buffer) });

  const misaligned: [string, Record<string, unknown>][] = [
    ['start not a multiple of len', { start: 2, len: 4 }],
    ['len not a power of two', { start: 0, len: 3 }],
    ['len 0', { start: 0, len: 0 }],
    ['negative start', { start: -4, len: 4 }],
    ['negative len', { start: 0, len: -2 }],
    ['fractional start', { start: 0.5, len: 1 }],
    ['len 2^32 (wraps to 0 in 32-bit arithmetic)', { start: 0, len: 2 ** 32 }],
    ['len 3 x 2^31 (looks like a power of two in 32-bit arithmetic)', { start: 0, len: 3 * 2 ** 31 }],
    ['len as a string', { start: 0, len: '1' }],
    ['no start', { start: undefined, len: 1 }],
  ];

  it.each(misaligned)('result piece with %s: CNN_PROTO_BAD_FIELD', (_, span) => {
    const e = protocolError(() => fromHost(resultWith(span)));
    expect(e.code).toBe('CNN_PROTO_BAD_FIELD');
    expect(e.closeCode).toBe(4006);
  });

  it.each(misaligned)('work piece with %s: CNN_PROTO_BAD_FIELD', (_, span) => {
    expect(codeOf(() => fromCoordinator(workWith(span)))).toBe('CNN_PROTO_BAD_FIELD');
  });

  it('aligned spans of every size pass', () => {
    for (const [start, len] of [[0, 1], [7, 1], [6, 2], [8, 8], [2 ** 29, 2 ** 29], [0, 2 ** 30]]) {
      expect(() => fromHost(resultWith({ start, len }))).not.toThrow();
    }
  });

  it('count 0 or negative correct: CNN_PROTO_BAD_FIELD', () => {
    expect(codeOf(() => fromHost(resultWith({ count: 0 })))).toBe('CNN_PROTO_BAD_FIELD');
    expect(codeOf(() => fromHost(resultWith({ correct: -1 })))).toBe('CNN_PROTO_BAD_FIELD');
  });
});

describe('other fields', () => {
  it.each<[string, Record<string, unknown>]>([
    ['threads 0', { ...hello, threads: 0 }],
    ['threads 4097', { ...hello, threads: 4097 }],
    ['threads 1.5', { ...hello, threads: 1.5 }],
    ['a token of 1025 characters', { ...hello, token: 'x'.repeat(1025) }],
    ['a name that is a number', { ...hello, name: 5 }],
    ['a fingerprint of 129 characters', { ...ready, modelFingerprint: 'f'.repeat(129) }],
    ['a result without work id', { ...result, work: undefined, pieces: [] }],
  ])('from a host, %s: CNN_PROTO_BAD_FIELD', (_, m) => {
    expect(codeOf(() => fromHost(raw(m)))).toBe('CNN_PROTO_BAD_FIELD');
  });

  it.each<[string, Record<string, unknown>]>([
    ['heartbeatMs 5', { ...welcome, heartbeatMs: 5 }],
    ['a run without paramCount', { ...welcome, run: { ...welcome.run, paramCount: undefined } }],
    ['a run that is a list', { ...welcome, run: [1] }],
    ['shuffle as 1', { ...work, params: new Uint8Array(P * 4), shuffle: 1 }],
    ['batchSize 0', { ...work, params: new Uint8Array(P * 4), batchSize: 0 }],
    ['no pieces', { ...work, params: new Uint8Array(P * 4), pieces: [] }],
    ['a reject without code', { ...reject, code: undefined }],
  ])('from the coordinator, %s: CNN_PROTO_BAD_FIELD', (_, m) => {
    expect(codeOf(() => fromCoordinator(raw(m)))).toBe('CNN_PROTO_BAD_FIELD');
  });
});

describe('message types', () => {
  it('an unknown type: CNN_PROTO_UNEXPECTED, in both directions', () => {
    expect(codeOf(() => fromHost(raw({ type: 'gossip', version: PROTOCOL_VERSION })))).toBe('CNN_PROTO_UNEXPECTED');
    expect(codeOf(() => fromCoordinator(raw({ type: 'gossip', version: PROTOCOL_VERSION })))).toBe('CNN_PROTO_UNEXPECTED');
    expect(codeOf(() => fromHost(raw({ version: PROTOCOL_VERSION })))).toBe('CNN_PROTO_UNEXPECTED');
  });

  it("the other side's messages: CNN_PROTO_UNEXPECTED", () => {
    for (const m of COORDINATOR_MESSAGES) expect(codeOf(() => fromHost(encode(m)))).toBe('CNN_PROTO_UNEXPECTED');
    for (const m of HOST_MESSAGES) expect(codeOf(() => fromCoordinator(encode(m)))).toBe('CNN_PROTO_UNEXPECTED');
  });

  it('work before the welcome fixed the parameter count: CNN_PROTO_UNEXPECTED', () => {
    expect(codeOf(() => decodeCoordinatorMessage(encode(work), null))).toBe('CNN_PROTO_UNEXPECTED');
  });

  it('a huge type string is shown cut short in the message', () => {
    const e = protocolError(() => fromHost(raw({ type: 'x'.repeat(100_000), version: PROTOCOL_VERSION })));
    expect(e.code).toBe('CNN_PROTO_UNEXPECTED');
    expect(e.message.length).toBeLessThan(200);
  });
});

describe('frame size bounds (maxPayload)', () => {
  it("the largest result a host may send fits the coordinator's maxPayload", () => {
    for (const paramCount of [1, 10_180, 61_706]) {
      const limits = { paramCount, maxPieces: 12 };
      const pieces = Array.from({ length: limits.maxPieces }, (_, i) => ({
        start: i * 2 ** 28, len: 2 ** 28, lossSum: Math.PI * 1e300, correct: Number.MAX_SAFE_INTEGER, count: Number.MAX_SAFE_INTEGER, grad: new Float32Array(paramCount),
      }));
      const frame = encode({ ...result, work: Number.MAX_SAFE_INTEGER, step: Number.MAX_SAFE_INTEGER, computeMs: Math.PI, pieces });
      expect(frame.byteLength).toBeLessThanOrEqual(maxResultBytes(limits));
      expect(decodeHostMessage(frame, limits).type).toBe('result');
    }
  });

  it('the largest work order fits maxWorkBytes', () => {
    const paramCount = 10_180;
    const pieces = Array.from({ length: 12 }, (_, i) => ({ start: i * 2 ** 28, len: 2 ** 28 }));
    const frame = encode({ ...work, work: Number.MAX_SAFE_INTEGER, step: Number.MAX_SAFE_INTEGER, epoch: Number.MAX_SAFE_INTEGER, batchStart: Number.MAX_SAFE_INTEGER, batchSize: Number.MAX_SAFE_INTEGER, pieces, params: new Float32Array(paramCount) });
    expect(frame.byteLength).toBeLessThanOrEqual(maxWorkBytes(paramCount, pieces.length));
  });
});

/*
 * Property-based and mutation fuzzing (fast-check). Generated valid messages must round-trip; a valid
 * message with one field replaced by any MessagePack value must decode or be refused with that
 * field's code; real frames mutated byte-wise (flips, overwrites, insertions, deletions, cuts,
 * duplicated runs, splices) and arbitrary MessagePack values must decode to a message that keeps
 * every documented invariant or be refused with a ProtocolError, never anything else. At least
 * 100,000 frames per run; CNN_FUZZ_SCALE=N multiplies the runs, CNN_FUZZ_SEED picks other frames.
 */
describe('fuzzing (fast-check): property-based and mutated frames', () => {
  const SCALE = Math.max(1, Number(process.env.CNN_FUZZ_SCALE ?? 1));
  const SEED = process.env.CNN_FUZZ_SEED === undefined ? 0x5eed7 : Number(process.env.CNN_FUZZ_SEED);
  const runs = (n: number) => ({ numRuns: Math.round(n * SCALE), seed: SEED, endOnFailure: true });
  /** Per test: generous for a loaded machine, and scaled with the runs. */
  const TIMEOUT = 120_000 * SCALE;
  /** Distinct frames generated, decodes run (a mutated frame goes to both decoders), outcomes. */
  const tally = { frames: 0, decodes: 0, valid: 0, refused: new Map<string, number>() };
  const started = performance.now();

  /** Decodes one frame; returns the message or the ProtocolError (anything else is thrown: a crash). */
  function attempt<T>(decode: () => T, frames = 1): T | ProtocolError {
    tally.frames += frames;
    tally.decodes += 1;
    try {
      const m = decode();
      tally.valid += 1;
      return m;
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw new Error(`a decoder threw ${String(e)} instead of a ProtocolError`, { cause: e });
      if (!(e.code in PROTOCOL_ERRORS) || e.message.length > 400) throw new Error(`bad ProtocolError ${e.code}: ${e.message.slice(0, 500)}`);
      tally.refused.set(e.code, (tally.refused.get(e.code) ?? 0) + 1);
      return e;
    }
  }

  const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);

  // --- valid messages ---
  const uint = fc.maxSafeNat();
  const f64 = fc.double({ noNaN: true, noDefaultInfinity: true });
  const text = (max: number) => fc.string({ unit: 'binary', maxLength: max >> 1 });
  const f32s = (n: number) => fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: n, maxLength: n }).map((a) => Float32Array.from(a));
  /** An aligned subtree: len 2^k <= 2^30, start a multiple of len (a safe integer). */
  const alignedSpan = fc.tuple(fc.integer({ min: 0, max: 30 }), fc.nat({ max: 2 ** 20 })).map(([k, i]) => ({ start: i * 2 ** k, len: 2 ** k }));
  const arbHello = fc.record({ type: fc.constant('hello' as const), version: fc.constant(PROTOCOL_VERSION), token: text(1024), name: text(256), threads: fc.integer({ min: 1, max: 4096 }) });
  const arbReady = fc.record({ type: fc.constant('ready' as const), version: fc.constant(PROTOCOL_VERSION), modelFingerprint: text(128), datasetFingerprint: text(128) });
  const arbPiece = fc.record({ span: alignedSpan, lossSum: f64, correct: uint, count: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), grad: f32s(P) })
    .map(({ span, ...rest }) => ({ ...span, ...rest }));
  const arbResult = fc.record({
    type: fc.constant('result' as const), version: fc.constant(PROTOCOL_VERSION), work: uint, step: uint, computeMs: f64,
    pieces: fc.array(arbPiece, { minLength: 1, maxLength: LIMITS.maxPieces }),
  });
  const arbFailure = fc.record({ type: fc.constant('failure' as const), version: fc.constant(PROTOCOL_VERSION), message: text(8192) });
  const arbHostMessage: fc.Arbitrary<HostMessage> = fc.oneof(arbHello, arbReady, arbResult, arbFailure);
  const arbRun = fc.record({
    model: fc.jsonValue({ maxDepth: 3 }), modelFingerprint: text(128), dataset: text(4096), datasetFingerprint: text(128), loss: fc.jsonValue({ maxDepth: 2 }),
    seed: uint, microBatch: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), maxShards: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), paramCount: fc.constant(P),
  });
  const arbWelcome = fc.record({ type: fc.constant('welcome' as const), version: fc.constant(PROTOCOL_VERSION), hostId: text(128), heartbeatMs: fc.integer({ min: 10, max: 3_600_000 }), run: arbRun });
  const arbWork = fc.record({
    type: fc.constant('work' as const), version: fc.constant(PROTOCOL_VERSION), work: uint, step: uint, epoch: uint, batchStart: uint,
    batchSize: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), shuffle: fc.boolean(), pieces: fc.array(alignedSpan, { minLength: 1, maxLength: 8 }), params: f32s(P),
  });
  const arbDone = fc.record({ type: fc.constant('done' as const), version: fc.constant(PROTOCOL_VERSION), reason: text(8192) });
  const arbReject = fc.record({ type: fc.constant('reject' as const), version: fc.constant(PROTOCOL_VERSION), code: text(128), message: text(8192) });
  const arbCoordinatorMessage: fc.Arbitrary<CoordinatorMessage> = fc.oneof(arbWelcome, arbWork, arbDone, arbReject);

  // --- what a decoded message must satisfy, whatever frame it came from ---
  const isUint = (v: unknown, min = 0, max = Number.MAX_SAFE_INTEGER) => typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;
  const isText = (v: unknown, max: number) => typeof v === 'string' && v.length <= max;
  const isAligned = (p: { start: number; len: number }) => isUint(p.start) && isUint(p.len, 1, 2 ** 30) && Number.isInteger(Math.log2(p.len)) && p.start % p.len === 0;
  const allFinite = (a: Float32Array) => a.every((v) => Number.isFinite(v));

  function hostInvariants(m: HostMessage): void {
    expect(m.version).toBe(PROTOCOL_VERSION);
    switch (m.type) {
      case 'hello':
        expect(isText(m.token, 1024) && isText(m.name, 256) && isUint(m.threads, 1, 4096)).toBe(true);
        return;
      case 'ready':
        expect(isText(m.modelFingerprint, 128) && isText(m.datasetFingerprint, 128)).toBe(true);
        return;
      case 'result':
        expect(isUint(m.work) && isUint(m.step) && Number.isFinite(m.computeMs)).toBe(true);
        expect(m.pieces.length >= 1 && m.pieces.length <= LIMITS.maxPieces).toBe(true);
        for (const p of m.pieces) {
          expect(isAligned(p) && Number.isFinite(p.lossSum) && isUint(p.correct) && isUint(p.count, 1)).toBe(true);
          expect(p.grad instanceof Float32Array && p.grad.length === P && allFinite(p.grad)).toBe(true);
        }
        return;
      case 'failure':
        expect(isText(m.message, 8192)).toBe(true);
        return;
      default:
        throw new Error(`decoded an unknown host message type ${String((m as { type: unknown }).type)}`);
    }
  }

  function coordinatorInvariants(m: CoordinatorMessage): void {
    expect(m.version).toBe(PROTOCOL_VERSION);
    switch (m.type) {
      case 'welcome': {
        const r = m.run;
        expect(isText(m.hostId, 128) && isUint(m.heartbeatMs, 10, 3_600_000)).toBe(true);
        expect(isText(r.modelFingerprint, 128) && isText(r.dataset, 4096) && isText(r.datasetFingerprint, 128)).toBe(true);
        expect(isUint(r.seed) && isUint(r.microBatch, 1) && isUint(r.maxShards, 1) && isUint(r.paramCount, 1)).toBe(true);
        return;
      }
      case 'work':
        expect([m.work, m.step, m.epoch, m.batchStart].every((v) => isUint(v)) && isUint(m.batchSize, 1) && typeof m.shuffle === 'boolean').toBe(true);
        expect(m.pieces.length >= 1 && m.pieces.length <= 1 << 16 && m.pieces.every(isAligned)).toBe(true);
        expect(m.params instanceof Float32Array && m.params.length === P).toBe(true);
        return;
      case 'done':
        expect(isText(m.reason, 8192)).toBe(true);
        return;
      case 'reject':
        expect(isText(m.code, 128) && isText(m.message, 8192)).toBe(true);
        return;
      default:
        throw new Error(`decoded an unknown coordinator message type ${String((m as { type: unknown }).type)}`);
    }
  }

  /** Decodes as both sides would; every outcome is a message keeping its invariants or a ProtocolError. */
  function decodeBothWays(frame: Uint8Array): void {
    const fromH = attempt(() => fromHost(frame));
    if (!(fromH instanceof ProtocolError)) hostInvariants(fromH);
    const fromC = attempt(() => fromCoordinator(frame), 0);
    if (!(fromC instanceof ProtocolError)) coordinatorInvariants(fromC);
  }

  /**
   * A value as it comes off the wire: msgpackr writes integral numbers as integers, so a float64 -0
   * (outside float arrays) arrives as 0; and it decodes a `__proto__` key as `__proto_`, its guard
   * against prototype pollution (no message of ours has such a key).
   */
  const wireNumbers = (v: unknown): unknown => {
    if (Object.is(v, -0)) return 0;
    if (Array.isArray(v)) return v.map(wireNumbers);
    if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k === '__proto__' ? '__proto_' : k, wireNumbers(x)]));
    return v;
  };

  it('a float64 -0 travels as the integer 0 (float arrays keep -0)', () => {
    const m = encode({ ...result, computeMs: -0, pieces: [{ ...result.pieces[0], lossSum: -0 }] });
    const decoded = fromHost(m) as Result;
    expect(Object.is(decoded.computeMs, 0) && Object.is(decoded.pieces[0].lossSum, 0)).toBe(true);
  });

  it('generated valid messages round-trip, bit for bit', () => {
    fc.assert(fc.property(arbHostMessage, (m) => {
      const decoded = attempt(() => fromHost(encode(m)));
      expect(decoded).toEqual(wireNumbers(m));
      if (m.type === 'result') (decoded as Result).pieces.forEach((p, i) => expect(bits(p.grad)).toEqual(bits(m.pieces[i].grad)));
    }), runs(5000));
    fc.assert(fc.property(arbCoordinatorMessage, (m) => {
      const decoded = attempt(() => fromCoordinator(encode(m)));
      expect(decoded).toEqual(wireNumbers(m));
      if (m.type === 'work') expect(bits((decoded as Work).params)).toEqual(bits(m.params));
    }), runs(5000));
  }, TIMEOUT);

  // A field replaced by any MessagePack value (or removed): the message decodes, or the code names the field's kind of check.
  const nanBin = new Uint8Array(new Float32Array(P).fill(Number.NaN).buffer);
  const wireValue: fc.Arbitrary<unknown> = fc.oneof(
    fc.integer(), fc.maxSafeInteger(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined),
    fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0.5, -1, 2 ** 30, 2 ** 32, 2 ** 53, 2 ** 64, -(2 ** 63), 4097),
    fc.string({ maxLength: 40 }), fc.constantFrom('x'.repeat(129), 'y'.repeat(1025), 'z'.repeat(8193), 'hello', 'result', 'work'),
    fc.uint8Array({ maxLength: 3 * P * 4 }), fc.constantFrom(new Uint8Array(P * 4), new Uint8Array(P * 4 + 1), nanBin),
    fc.array(fc.integer(), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 8 }), fc.integer(), { maxKeys: 4 }),
    fc.constantFrom([], [{}], [{ start: 0, len: 1 }], { start: 0, len: 1 }, [1, 2, 3]),
  );

  /** Codes a bad value in each field may give (undefined key: BAD_FIELD). */
  const FIELD_CODES: Record<string, ProtocolErrorCode[]> = {
    version: ['CNN_PROTO_BAD_VERSION'],
    computeMs: ['CNN_PROTO_BAD_FIELD', 'CNN_PROTO_NOT_FINITE'],
    lossSum: ['CNN_PROTO_BAD_FIELD', 'CNN_PROTO_NOT_FINITE'],
    grad: ['CNN_PROTO_BAD_FIELD', 'CNN_PROTO_BAD_LENGTH', 'CNN_PROTO_NOT_FINITE'],
    params: ['CNN_PROTO_BAD_FIELD', 'CNN_PROTO_BAD_LENGTH'],
    pieces: ['CNN_PROTO_BAD_FIELD', 'CNN_PROTO_BAD_LENGTH', 'CNN_PROTO_NOT_FINITE'],
  };

  /** The message as the codec would put it on the wire, float arrays as bin, so single fields can be swapped. */
  function wireForm(m: HostMessage | CoordinatorMessage): Record<string, unknown> {
    const bytes = (a: Float32Array) => new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
    if (m.type === 'result') return { ...m, pieces: m.pieces.map((p) => ({ ...p, grad: bytes(p.grad) })) };
    if (m.type === 'work') return { ...m, params: bytes(m.params) };
    if (m.type === 'welcome') return { ...m, run: { ...m.run } };
    return { ...m };
  }

  /** Every path to a single field: top-level keys, then a result piece's or a welcome run's. */
  function fieldPaths(w: Record<string, unknown>): string[][] {
    const paths = Object.keys(w).map((k) => [k]);
    if (Array.isArray(w.pieces) && isPlainObject(w.pieces[0])) for (const k of Object.keys(w.pieces[0])) paths.push(['pieces', '0', k]);
    if (isPlainObject(w.run)) for (const k of Object.keys(w.run)) paths.push(['run', k]);
    return paths;
  }

  function replaced(w: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
    const copy = structuredClone(w);
    let at: Record<string, unknown> = copy;
    for (const k of path.slice(0, -1)) at = at[k] as Record<string, unknown>;
    const key = path[path.length - 1];
    if (value === undefined) delete at[key];
    else at[key] = value;
    return copy;
  }

  /** The codes a field may be refused with; null when any code may follow (the type, which changes the message). */
  function allowedCodes(path: string[], value: unknown, direction: 'host' | 'coordinator'): ProtocolErrorCode[] | null {
    const field = path[path.length - 1];
    if (field === 'type') return typeof value === 'string' && ['hello', 'ready', 'result', 'failure', 'welcome', 'work', 'done', 'reject'].includes(value) ? null : ['CNN_PROTO_UNEXPECTED'];
    if (path[0] === 'run') return ['CNN_PROTO_BAD_FIELD'];
    if (direction === 'coordinator' && field === 'pieces') return ['CNN_PROTO_BAD_FIELD'];
    return FIELD_CODES[field] ?? ['CNN_PROTO_BAD_FIELD'];
  }

  it.each([
    ['host', arbHostMessage, (f: Uint8Array) => fromHost(f), hostInvariants],
    ['coordinator', arbCoordinatorMessage, (f: Uint8Array) => fromCoordinator(f), coordinatorInvariants],
  ] as const)('%s messages with one field replaced: decoded, or refused with the code of that field', (direction, arb, decode, invariants) => {
    const arbCase = arb.chain((m) => {
      const w = wireForm(m);
      return fc.tuple(fc.constant(w), fc.constantFrom(...fieldPaths(w)), wireValue);
    });
    fc.assert(fc.property(arbCase, ([w, path, value]) => {
      const outcome = attempt(() => decode(raw(replaced(w, path, value))));
      if (!(outcome instanceof ProtocolError)) {
        invariants(outcome as never);
        return;
      }
      const allowed = allowedCodes(path, value, direction);
      if (allowed) expect(allowed, `${path.join('.')} = ${Buffer.from(raw(value ?? null)).toString('hex').slice(0, 60)}: ${outcome.message}`).toContain(outcome.code);
    }), runs(14_000));
  }, TIMEOUT);

  // Byte-level mutations of real frames.
  type Mutation =
    | { kind: 'flip'; at: number; bit: number }
    | { kind: 'set'; at: number; value: number }
    | { kind: 'insert'; at: number; bytes: Uint8Array }
    | { kind: 'delete'; at: number; count: number }
    | { kind: 'cut'; at: number }
    | { kind: 'repeat'; at: number; count: number };
  /** Bytes that are MessagePack headers (bin, str, array, map, ext, floats), the never-used 0xc1, and edges. */
  const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xca, 0xcb, 0xcc, 0xcf, 0xd3, 0xd4, 0xd8, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff];
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.oneof(fc.nat(255), fc.constantFrom(...INTERESTING)) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 32 }) }),
  );

  function mutate(frame: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
    let b = frame.slice();
    for (const m of mutations) {
      if (b.length === 0) break;
      const at = m.at % b.length;
      switch (m.kind) {
        case 'flip': b[at] ^= 1 << m.bit; break;
        case 'set': b[at] = m.value; break;
        case 'insert': b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]); break;
        case 'delete': b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.count)]); break;
        case 'cut': b = b.slice(0, at); break;
        case 'repeat': b = Buffer.concat([b.subarray(0, at + m.count), b.subarray(at)]); break;
      }
    }
    return b;
  }

  it('real frames mutated byte-wise: a message that keeps its invariants, or a ProtocolError', () => {
    const anyFrame = fc.oneof(arbHostMessage, arbCoordinatorMessage).map((m) => encode(m));
    fc.assert(fc.property(anyFrame, fc.array(mutation, { minLength: 1, maxLength: 4 }), (frame, mutations) => {
      decodeBothWays(mutate(frame, mutations));
    }), runs(32_000));
  }, TIMEOUT);

  it('two frames spliced at random points', () => {
    const anyFrame = fc.oneof(arbHostMessage, arbCoordinatorMessage).map((m) => encode(m));
    fc.assert(fc.property(anyFrame, anyFrame, fc.nat(), fc.nat(), (a, b, i, j) => {
      decodeBothWays(Buffer.concat([a.subarray(0, i % (a.length + 1)), b.subarray(j % (b.length + 1))]));
    }), runs(10_000));
  }, TIMEOUT);

  it('arbitrary MessagePack values and arbitrary bytes: always a ProtocolError (or a valid message)', () => {
    const value = fc.anything({ maxDepth: 3, withBigInt: false, withTypedArray: true, withNullPrototype: true, withObjectString: false });
    fc.assert(fc.property(value, (v) => {
      let frame: Uint8Array;
      try {
        frame = raw(v);
      } catch {
        return; // a value msgpackr cannot pack is no frame
      }
      decodeBothWays(frame);
    }), runs(10_000));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), (frame) => decodeBothWays(frame)), runs(10_000));
  }, TIMEOUT);

  it(`fed at least 100,000 frames, none crashed a decoder`, () => {
    const seconds = (performance.now() - started) / 1000;
    const refused = Object.fromEntries([...tally.refused].sort(([, a], [, b]) => b - a));
    console.log(`protocol fuzzing: ${tally.frames} frames (${tally.decodes} decodes) in ${seconds.toFixed(1)} s (seed ${SEED}, scale ${SCALE}): ${tally.valid} decoded, refused ${JSON.stringify(refused)}`);
    expect(tally.frames).toBeGreaterThanOrEqual(100_000 * SCALE);
    for (const code of ['CNN_PROTO_MALFORMED', 'CNN_PROTO_BAD_VERSION', 'CNN_PROTO_UNEXPECTED', 'CNN_PROTO_BAD_FIELD', 'CNN_PROTO_BAD_LENGTH', 'CNN_PROTO_NOT_FINITE']) {
      expect(tally.refused.get(code) ?? 0, code).toBeGreaterThan(0);
    }
  });
});
