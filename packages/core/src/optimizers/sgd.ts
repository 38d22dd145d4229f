import { normalizeConfig } from '../names.js';
import type { Optimizer } from './optimizer.js';
import { finiteNonNegative, inUnitInterval, positive } from './validate.js';

export interface SgdConfig {
  learningRate?: number;
  momentum?: number;
  nesterov?: boolean;
}

/**
 * Keras SGD (keras/src/optimizers/sgd.py): with momentum, v = momentum v - lr g and
 * p += v (or p += momentum v - lr g with Nesterov); without, p -= lr g.
 */
export class SGD implements Optimizer {
  readonly className = 'SGD';
  readonly learningRate: number;
  readonly momentum: number;
  readonly nesterov: boolean;

  constructor(config: SgdConfig = {}) {
    const c = normalizeConfig<SgdConfig>('sgd', config, ['learningRate', 'momentum', 'nesterov', 'name']);
    this.learningRate = positive('sgd.learningRate', c.learningRate ?? 0.01);
    this.momentum = inUnitInterval('sgd.momentum', finiteNonNegative('sgd.momentum', c.momentum ?? 0));
    this.nesterov = c.nesterov ?? false;
  }

  get slotNames(): readonly string[] {
    return this.momentum > 0 ? ['momentum'] : [];
  }

  apply(params: Float32Array, grad: Float32Array, slots: readonly Float32Array[], _iteration: number, begin = 0, end = params.length): void {
    const lr = this.learningRate;
    if (this.momentum === 0) {
      for (let i = begin; i < end; i++) params[i] -= lr * grad[i];
      return;
    }
    const m = this.momentum;
    const v = slots[0];
    for (let i = begin; i < end; i++) {
      const g = grad[i];
      const vi = m * v[i] - lr * g;
      v[i] = vi;
      params[i] += this.nesterov ? m * v[i] - lr * g : v[i];
    }
  }

  getConfig(): Record<string, unknown> {
    return { learningRate: this.learningRate, momentum: this.momentum, nesterov: this.nesterov };
  }
}
