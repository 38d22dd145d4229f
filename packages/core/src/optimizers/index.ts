import { CnnError } from '../errors.js';
import { resolveName } from '../names.js';
import { Adam, type AdamConfig } from './adam.js';
import type { Optimizer } from './optimizer.js';
import { RMSprop, type RmspropConfig } from './rmsprop.js';
import { SGD, type SgdConfig } from './sgd.js';

export type { Optimizer };
export { Adam, RMSprop, SGD };

/** TF.js-style factories (`train.adam(0.001)`) with Keras' defaults. */
export const optimizers = {
  sgd: (config?: SgdConfig | number) => new SGD(typeof config === 'number' ? { learningRate: config } : config),
  adam: (config?: AdamConfig | number) => new Adam(typeof config === 'number' ? { learningRate: config } : config),
  rmsprop: (config?: RmspropConfig | number) => new RMSprop(typeof config === 'number' ? { learningRate: config } : config),
};

const TABLE = { sgd: 'sgd', adam: 'adam', rmsprop: 'rmsprop', SGD: 'sgd', Adam: 'adam', RMSprop: 'rmsprop' } as const;

/**
 * An optimizer from a name ('adam'), a saved {className, config}, or an Optimizer. `overrides` (the
 * CLI's --learning-rate) apply on top of the defaults.
 */
export function resolveOptimizer(given: unknown, overrides: { learningRate?: number } = {}): Optimizer {
  if (typeof given === 'object' && given !== null && 'apply' in given) return given as Optimizer;
  if (typeof given === 'object' && given !== null && 'className' in given) {
    const { className, config } = given as { className: string; config?: Record<string, unknown> };
    const key = resolveName('optimizer', className, TABLE);
    return optimizers[key]({ ...(config ?? {}), ...overrides } as never);
  }
  if (given === undefined) throw new CnnError('CNN_ERR_BAD_CONFIG', "compile: an optimizer is required, e.g. optimizer: 'adam'");
  const key = resolveName('optimizer', given, TABLE);
  return optimizers[key](overrides as never);
}
