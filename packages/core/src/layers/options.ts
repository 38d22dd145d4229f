import { CnnError } from '../errors.js';
import { ACTIVATIONS, type ActivationName } from '../kernels/activations.js';
import type { Padding } from '../kernels/geometry.js';
import { resolveName } from '../names.js';

/** A window size or stride given as one number or [height, width]. */
export function pair(what: string, v: unknown): [number, number] {
  const arr = typeof v === 'number' ? [v, v] : Array.isArray(v) ? v : null;
  if (!arr || arr.length !== 2 || !arr.every((d) => Number.isInteger(d) && d > 0)) {
    throw new CnnError('CNN_ERR_BAD_CONFIG', `${what} must be a positive integer or [height, width] of positive integers, got ${JSON.stringify(v)}`);
  }
  return [arr[0], arr[1]];
}

export function padding(what: string, v: unknown): Padding {
  if (v === undefined) return 'valid';
  if (v === 'valid' || v === 'same') return v;
  throw new CnnError('CNN_ERR_BAD_CONFIG', `${what}.padding must be 'valid' or 'same', got ${JSON.stringify(v)}`);
}

const ACTIVATION_TABLE = Object.fromEntries(ACTIVATIONS.map((a) => [a, a])) as Record<string, ActivationName>;

export function activationName(v: unknown): ActivationName {
  if (v === undefined || v === null) return 'linear';
  return resolveName('activation', v, ACTIVATION_TABLE);
}

export function positiveInt(what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new CnnError('CNN_ERR_BAD_CONFIG', `${what} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function requireRank(layer: string, inputShape: readonly number[], rank: number, hint: string): void {
  if (inputShape.length !== rank) {
    throw new CnnError('CNN_ERR_BAD_SHAPE', `${layer} expects inputs of rank ${rank} per sample (${hint}), got shape [${inputShape.join(', ')}]`);
  }
}

/**
 * Only NHWC is implemented. Keras configs name it ('channels_last') or leave it null; anything else
 * would silently read the wrong axes, so it is an error.
 */
export function requireChannelsLast(what: string, v: unknown): void {
  if (v === undefined || v === null || v === 'channelsLast' || v === 'channels_last') return;
  throw new CnnError('CNN_ERR_BAD_CONFIG', `${what}: only dataFormat 'channelsLast' (NHWC) is supported, got ${JSON.stringify(v)}`);
}
