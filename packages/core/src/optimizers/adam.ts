import { normalizeConfig } from '../names.js';
import type { Optimizer } from './optimizer.js';
import { inUnitInterval, positive } from './validate.js';

export interface AdamConfig {
  learningRate?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

/**
 * Keras Adam (keras/src/optimizers/adam.py), defaults lr 0.001, beta1 0.9, beta2 0.999, eps 1e-7:
 *   alpha = lr sqrt(1 - beta2^t) / (1 - beta1^t)
 *   m += (g - m)(1 - beta1);  v += (g^2 - v)(1 - beta2);  p -= alpha m / (sqrt(v) + eps)
 */
export class Adam implements Optimizer {
  readonly className = 'Adam';
  readonly slotNames = ['m', 'v'] as const;
  readonly learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;

  constructor(config: AdamConfig = {}) {
    const c = normalizeConfig<AdamConfig>('adam', config, ['learningRate', 'beta1', 'beta2', 'epsilon', 'name', 'amsgrad']);
    this.learningRate = positive('adam.learningRate', c.learningRate ?? 0.001);
    this.beta1 = inUnitInterval('adam.beta1', c.beta1 ?? 0.9);
    this.beta2 = inUnitInterval('adam.beta2', c.beta2 ?? 0.999);
    this.epsilon = positive('adam.epsilon', c.epsilon ?? 1e-7);
  }

  apply(params: Float32Array, grad: Float32Array, slots: readonly Float32Array[], iteration: number, begin = 0, end = params.length): void {
    const [m, v] = slots;
    const alpha = (this.learningRate * Math.sqrt(1 - Math.pow(this.beta2, iteration))) / (1 - Math.pow(this.beta1, iteration));
    const oneMinusBeta1 = 1 - this.beta1;
    const oneMinusBeta2 = 1 - this.beta2;
    const eps = this.epsilon;
    for (let i = begin; i < end; i++) {
      const g = grad[i];
      m[i] += (g - m[i]) * oneMinusBeta1;
      v[i] += (g * g - v[i]) * oneMinusBeta2;
      params[i] -= (m[i] * alpha) / (Math.sqrt(v[i]) + eps);
    }
  }

  getConfig(): Record<string, unknown> {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
  }
}
