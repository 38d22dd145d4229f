import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PROTOCOL_ERRORS, ProtocolError, type ProtocolErrorCode, codeOfClose } from './errors.js';

const codes = Object.keys(PROTOCOL_ERRORS) as ProtocolErrorCode[];

describe('PROTOCOL_ERRORS', () => {
  it('every code has its own close code in the application range 4000-4999', () => {
    const closes = codes.map((c) => PROTOCOL_ERRORS[c].close);
    expect(new Set(closes).size).toBe(codes.length);
    for (const close of closes) expect(close >= 4000 && close <= 4999, String(close)).toBe(true);
    for (const code of codes) expect(code).toMatch(/^CNN_PROTO_[A-Z_]+$/);
  });

  it('codes are stable: the list and the close codes never change meaning', () => {
    expect(Object.fromEntries(codes.map((c) => [c, PROTOCOL_ERRORS[c].close]))).toEqual({
      CNN_PROTO_MALFORMED: 4000, CNN_PROTO_BAD_VERSION: 4001, CNN_PROTO_BAD_TOKEN: 4002, CNN_PROTO_BAD_MODEL: 4003,
      CNN_PROTO_BAD_DATASET: 4004, CNN_PROTO_UNEXPECTED: 4005, CNN_PROTO_BAD_FIELD: 4006, CNN_PROTO_BAD_LENGTH: 4007,
      CNN_PROTO_NOT_FINITE: 4008, CNN_PROTO_TIMEOUT: 4009, CNN_PROTO_HOST_FAILED: 4010, CNN_PROTO_RUN_OVER: 4011,
      CNN_PROTO_BAD_RESULT: 4012,
    });
  });

  it('codeOfClose inverts the close codes; other close codes are not protocol errors', () => {
    for (const code of codes) expect(codeOfClose(PROTOCOL_ERRORS[code].close)).toBe(code);
    for (const close of [1000, 1001, 1006, 1009, 3999, 4013, 4999]) expect(codeOfClose(close)).toBeUndefined();
  });

  it('a ProtocolError carries its code and close code', () => {
    const e = new ProtocolError('CNN_PROTO_BAD_LENGTH', 'result.pieces[0].grad holds 8 bytes');
    expect(e).toBeInstanceOf(Error);
    expect([e.name, e.code, e.closeCode, e.message]).toEqual(['ProtocolError', 'CNN_PROTO_BAD_LENGTH', 4007, 'result.pieces[0].grad holds 8 bytes']);
  });
});

describe('docs/PROTOCOL.md', () => {
  const doc = readFileSync(new URL('../../../../docs/PROTOCOL.md', import.meta.url), 'utf8');

  it("the error table lists exactly PROTOCOL_ERRORS' codes, close codes and meanings, in order", () => {
    const rows = doc.split('\n').flatMap((line) => {
      const m = /^\| `(CNN_PROTO_[A-Z_]+)` \| (\d+) \| ([^|]+) \| ([^|]+) \|$/.exec(line);
      return m ? [{ code: m[1], close: Number(m[2]), meaning: m[3].trim(), advice: m[4].trim() }] : [];
    });
    expect(rows.map(({ code, close, meaning }) => ({ code, close, meaning }))).toEqual(
      codes.map((code) => ({ code, close: PROTOCOL_ERRORS[code].close, meaning: PROTOCOL_ERRORS[code].meaning })),
    );
    for (const row of rows) expect(row.advice.length, `${row.code} says what the peer should do`).toBeGreaterThan(10);
  });

  it('states the protocol version of the code', async () => {
    const { PROTOCOL_VERSION } = await import('./messages.js');
    expect(doc).toContain(`**Protocol version: ${PROTOCOL_VERSION}**`);
  });

  it('documents every message type', () => {
    for (const type of ['hello', 'ready', 'result', 'failure', 'welcome', 'work', 'done', 'reject']) {
      expect(doc, type).toMatch(new RegExp(`^\\| \`${type}\` \\|`, 'm'));
    }
  });
});
