import { expect } from 'vitest';
import { CnnError } from '../errors.js';

/** Runs fn and returns the CnnError it throws (failing the test if it throws anything else or nothing). */
export function caught(fn: () => unknown): CnnError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CnnError);
    return err as CnnError;
  }
  throw new Error('expected a CnnError, nothing was thrown');
}

/** caught() for async functions. */
export async function caughtAsync(fn: () => unknown): Promise<CnnError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CnnError);
    return err as CnnError;
  }
  throw new Error('expected a CnnError, nothing was thrown');
}
