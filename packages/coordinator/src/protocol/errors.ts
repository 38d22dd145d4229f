/**
 * Protocol error codes: stable names (documented in docs/PROTOCOL.md) and the WebSocket close code
 * each one closes a connection with. 4000-4999 is the range RFC 6455 leaves to applications.
 */
export const PROTOCOL_ERRORS = {
  CNN_PROTO_MALFORMED: { close: 4000, meaning: 'the frame is not a valid MessagePack map' },
  CNN_PROTO_BAD_VERSION: { close: 4001, meaning: 'the peer speaks another protocol version' },
  CNN_PROTO_BAD_TOKEN: { close: 4002, meaning: 'the join token is missing or wrong' },
  CNN_PROTO_BAD_MODEL: { close: 4003, meaning: "the host's model fingerprint differs from the run's" },
  CNN_PROTO_BAD_DATASET: { close: 4004, meaning: "the host's data set fingerprint differs from the run's" },
  CNN_PROTO_UNEXPECTED: { close: 4005, meaning: 'a message type that is not allowed in the connection state' },
  CNN_PROTO_BAD_FIELD: { close: 4006, meaning: 'a field is missing, of the wrong type, or out of range' },
  CNN_PROTO_BAD_LENGTH: { close: 4007, meaning: "a gradient's length is not the model's parameter count" },
  CNN_PROTO_NOT_FINITE: { close: 4008, meaning: 'a gradient or statistic holds NaN or Infinity' },
  CNN_PROTO_TIMEOUT: { close: 4009, meaning: 'the handshake or heartbeats did not arrive in time' },
  CNN_PROTO_HOST_FAILED: { close: 4010, meaning: 'the host reported that it cannot compute' },
  CNN_PROTO_RUN_OVER: { close: 4011, meaning: 'the run has ended; nothing to join' },
  CNN_PROTO_BAD_RESULT: { close: 4012, meaning: "the host's sums differ from the coordinator's own computation of the same piece" },
} as const;

export type ProtocolErrorCode = keyof typeof PROTOCOL_ERRORS;

/** A message that failed validation: the connection closes with `code`'s close code. */
export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;
  /** Index of the result piece at fault, when one piece of a result failed (to tell divergence from a bad host). */
  readonly piece: number | undefined;

  constructor(code: ProtocolErrorCode, message: string, piece?: number) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
    this.piece = piece;
  }

  get closeCode(): number {
    return PROTOCOL_ERRORS[this.code].close;
  }
}

export function codeOfClose(closeCode: number): ProtocolErrorCode | undefined {
  return (Object.keys(PROTOCOL_ERRORS) as ProtocolErrorCode[]).find((k) => PROTOCOL_ERRORS[k].close === closeCode);
}
