/**
 * Every error this library throws on purpose is a CnnError with a stable code, so callers (the CLI,
 * the coordinator) can react to the kind of failure without parsing messages. Messages say what was
 * wrong and what to do about it.
 */
export class CnnError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CnnError';
    this.code = code;
  }
}

/** Throws a CnnError with a lazily built message (so hot-path asserts cost nothing when they hold). */
export function check(condition: unknown, code: string, message: () => string): asserts condition {
  if (!condition) throw new CnnError(code, message());
}
