import { normalizeConfig } from '../names.js';
import type { Optimizer } from './optimizer.js';
import { finiteNonNegative, inUnitInterval, positive } from './validate.js';

export interface RmspropConfig {
  learningRate?: number;
  rho?: number;
  momentum?: number;
  epsilon?: number;
  centered?: boolean;
}

/**
 * RMSprop as in Keras 3 (keras/src/optimizers/rmsprop.py) and TF.js, defaults lr 0.001, rho 0.9,
 * momentum 0, eps 1e-7:  s = rho s + (1 - rho) g^2;  step = lr g / sqrt(s + eps)
 * (centered: s - mean_g^2 + eps under the root); with momentum, mom = momentum mom + step, p -= mom.
 */
export class RMSprop implements Optimizer {
  readonly className = 'RMSprop';
  readonly learningRate: number;
  readonly rho: number;
  readonly momentum: number;
  readonly epsilon: number;
  readonly centered: boolean;

  constructor(config: RmspropConfig = {}) {
    const c = normalizeConfig<RmspropConfig>('rmsprop', config, ['learningRate', 'rho', 'momentum', 'epsilon', 'centered', 'name']);
    this.learningRate = positive('rmsprop.learningRate', c.learningRate ?? 0.001);
    this.rho = inUnitInterval('rmsprop.rho', c.rho ?? 0.9);
    this.momentum = inUnitInterval('rmsprop.momentum', finiteNonNegative('rmsprop.momentum', c.momentum ?? 0));
    this.epsilon = positive('rmsprop.epsilon', c.epsilon ?? 1e-7);
    this.centered = c.centered ?? false;
  }

  get slotNames(): readonly string[] {
    return ['velocity', ...(this.momentum > 0 ? ['momentum'] : []), ...(this.centered ? ['averageGradient'] : [])];
  }

  apply(params: Float32Array, grad: Float32Array, slots: readonly Float32Array[], _iteration: number, begin = 0, end = params.length): void {
    const s = slots[0];
    const mom = this.momentum > 0 ? slots[1] : null;
    const avg = this.centered ? slots[this.momentum > 0 ? 2 : 1] : null;
    const { learningRate: lr, rho, epsilon: eps } = this;
    for (let i = begin; i < end; i++) {
      const g = grad[i];
      s[i] = rho * s[i] + (1 - rho) * g * g;
      let denominator = s[i] + eps;
      if (avg) {
        avg[i] = rho * avg[i] + (1 - rho) * g;
        denominator = s[i] - avg[i] * avg[i] + eps;
      }
      const step = (lr * g) / Math.sqrt(denominator);
      if (mom) {
        mom[i] = this.momentum * mom[i] + step;
        params[i] -= mom[i];
      } else {
        params[i] -= step;
      }
    }
  }

  getConfig(): Record<string, unknown> {
    return { learningRate: this.learningRate, rho: this.rho, momentum: this.momentum, epsilon: this.epsilon, centered: this.centered };
  }
}
