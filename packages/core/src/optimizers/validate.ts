import { CnnError } from '../errors.js';

export function positive(what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new CnnError('CNN_ERR_BAD_CONFIG', `${what} must be a positive finite number, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function finiteNonNegative(what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new CnnError('CNN_ERR_BAD_CONFIG', `${what} must be a finite number >= 0, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function inUnitInterval(what: string, v: unknown): number {
  if (typeof v !== 'number' || !(v >= 0 && v < 1)) {
    throw new CnnError('CNN_ERR_BAD_CONFIG', `${what} must be in [0, 1), got ${JSON.stringify(v)}`);
  }
  return v;
}
