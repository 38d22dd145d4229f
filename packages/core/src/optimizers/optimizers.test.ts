/*
 * Optimizers against steps computed by hand (literal numbers) and against the Keras formulas
 * evaluated in float64. Parameters and slots are float32, so results agree to float32 rounding.
 */
import { describe, expect, it } from 'vitest';
import { CnnError } from '../errors.js';
import { layers } from '../layers/index.js';
import { Sequential } from '../model/sequential.js';
import { Adam, optimizers, resolveOptimizer, RMSprop, SGD, type Optimizer } from './index.js';

/** Runs `steps` updates (iterations 1, 2, ...) on float32 buffers; returns params after each step and the slots. */
function run(opt: Optimizer, p0: number[], grads: number[][]): { params: number[][]; slots: number[][] } {
  const params = Float32Array.from(p0);
  const slots = opt.slotNames.map(() => new Float32Array(p0.length));
  const out: number[][] = [];
  grads.forEach((g, k) => {
    opt.apply(params, Float32Array.from(g), slots, k + 1);
    out.push(Array.from(params));
  });
  return { params: out, slots: slots.map((s) => Array.from(s)) };
}

function expectNear(actual: number[], expected: number[], tol: number, what: string): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => expect(Math.abs(a - expected[i]), `${what}[${i}]: ${a} vs ${expected[i]}`).toBeLessThanOrEqual(tol));
}

describe('Adam (Keras: alpha = lr sqrt(1 - b2^t) / (1 - b1^t), p -= alpha m / (sqrt(v) + eps))', () => {
  it('has Keras defaults lr 0.001, beta1 0.9, beta2 0.999, epsilon 1e-7', () => {
    expect(new Adam().getConfig()).toEqual({ learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 });
  });

  it('first step by hand: p = 1, g = 0.5 moves p by almost exactly lr', () => {
    // m = 0.05, v = 0.00025, alpha = 0.001 sqrt(0.001) / 0.1 = 3.16227766e-4,
    // update = alpha 0.05 / (0.0158113883 + 1e-7) = 9.99993675e-4
    const { params, slots } = run(new Adam(), [1], [[0.5]]);
    expect(params[0][0]).toBeCloseTo(1 - 9.99993675e-4, 7);
    expect(slots[0][0]).toBeCloseTo(0.05, 8);
    expect(slots[1][0]).toBeCloseTo(0.00025, 10);
  });

  it('three steps match the Keras formula, including where epsilon placement matters', () => {
    // The last coordinate has tiny gradients (1e-6), where sqrt(v) is comparable to epsilon, so
    // where epsilon enters the formula changes the step by tens of percent.
    const config = { learningRate: 0.01, beta1: 0.8, beta2: 0.99, epsilon: 1e-7 };
    const p0 = [1, -2, 0.5, 3];
    const grads = [[0.5, -1, 2, 1e-6], [-0.25, -0.5, 1.5, 1e-6], [0.125, 0.1, -3, 1e-6]];
    const { params, slots } = run(new Adam(config), p0, grads);
    const p = [...p0];
    const m = [0, 0, 0, 0];
    const v = [0, 0, 0, 0];
    grads.forEach((g, k) => {
      const t = k + 1;
      const alpha = (config.learningRate * Math.sqrt(1 - config.beta2 ** t)) / (1 - config.beta1 ** t);
      for (let i = 0; i < 4; i++) {
        m[i] = config.beta1 * m[i] + (1 - config.beta1) * g[i];
        v[i] = config.beta2 * v[i] + (1 - config.beta2) * g[i] ** 2;
        p[i] -= (alpha * m[i]) / (Math.sqrt(v[i]) + config.epsilon);
      }
      expectNear(params[k], p, 1e-6, `params after step ${t}`);
    });
    expectNear(slots[0], m, 1e-7, 'm');
    expectNear(slots[1], v, 1e-7, 'v');
    // The check discriminates: with epsilon added to the bias-corrected sqrt(v) (PyTorch), the tiny
    // coordinate ends ~1e-2 away from Keras' result.
    let q = 3;
    let mq = 0;
    let vq = 0;
    for (let t = 1; t <= 3; t++) {
      mq = config.beta1 * mq + (1 - config.beta1) * 1e-6;
      vq = config.beta2 * vq + (1 - config.beta2) * 1e-12;
      q -= (config.learningRate * (mq / (1 - config.beta1 ** t))) / (Math.sqrt(vq / (1 - config.beta2 ** t)) + config.epsilon);
    }
    expect(Math.abs(params[2][3] - q)).toBeGreaterThan(1e-3);
  });
});

describe('SGD (Keras: v = momentum v - lr g; p += v, or p += momentum v - lr g with nesterov)', () => {
  it('plain: p -= lr g, default lr 0.01', () => {
    expect(new SGD().getConfig()).toEqual({ learningRate: 0.01, momentum: 0, nesterov: false });
    expectNear(run(new SGD({ learningRate: 0.1 }), [1], [[1], [0.5]]).params.flat(), [0.9, 0.85], 1e-7, 'p');
  });

  it('momentum 0.9, lr 0.1, gradients 1 then 0.5: v = -0.1, -0.14; p = 0.9, 0.76', () => {
    const { params, slots } = run(new SGD({ learningRate: 0.1, momentum: 0.9 }), [1], [[1], [0.5]]);
    expectNear(params.flat(), [0.9, 0.76], 1e-7, 'p');
    expectNear(slots[0], [-0.14], 1e-7, 'v');
  });

  it('nesterov: p = 1 + 0.9 (-0.1) - 0.1 = 0.81, then 0.81 + 0.9 (-0.14) - 0.05 = 0.634', () => {
    const { params } = run(new SGD({ learningRate: 0.1, momentum: 0.9, nesterov: true }), [1], [[1], [0.5]]);
    expectNear(params.flat(), [0.81, 0.634], 1e-7, 'p');
  });
});

describe('RMSprop (Keras: s = rho s + (1 - rho) g^2; p -= lr g / sqrt(s + eps))', () => {
  it('has Keras defaults lr 0.001, rho 0.9, momentum 0, epsilon 1e-7, not centered', () => {
    expect(new RMSprop().getConfig()).toEqual({ learningRate: 0.001, rho: 0.9, momentum: 0, epsilon: 1e-7, centered: false });
  });

  it('two steps by hand: s = 0.1, 0.115; p = 1 - 0.01/sqrt(0.1000001), then - 0.005/sqrt(0.1150001)', () => {
    const step1 = 0.01 / Math.sqrt(0.1000001); // 0.0316227608
    const step2 = 0.005 / Math.sqrt(0.1150001); // 0.0147441893
    const { params, slots } = run(new RMSprop({ learningRate: 0.01 }), [1], [[1], [0.5]]);
    expect(params[0][0]).toBeCloseTo(0.9683772392, 7);
    expectNear(params.flat(), [1 - step1, 1 - step1 - step2], 1e-7, 'p');
    expectNear(slots[0], [0.115], 1e-8, 's');
  });

  it('with momentum 0.5: mom = step1, then 0.5 step1 + step2', () => {
    const step1 = 0.01 / Math.sqrt(0.1000001);
    const step2 = 0.005 / Math.sqrt(0.1150001);
    const { params } = run(new RMSprop({ learningRate: 0.01, momentum: 0.5 }), [1], [[1], [0.5]]);
    expectNear(params.flat(), [1 - step1, 1 - step1 - (0.5 * step1 + step2)], 1e-7, 'p');
  });

  it('centered: the denominator is s - mean(g)^2 + eps', () => {
    // s = 0.1, mean g = 0.1, step = 0.01 / sqrt(0.1 - 0.01 + 1e-7)
    const { params } = run(new RMSprop({ learningRate: 0.01, centered: true }), [1], [[1]]);
    expectNear(params.flat(), [1 - 0.01 / Math.sqrt(0.0900001)], 1e-7, 'p');
  });
});

describe('any range of the buffer updates alone with the same bits (threads split the update)', () => {
  const makers: [string, () => Optimizer][] = [
    ['adam', () => new Adam()],
    ['sgd momentum nesterov', () => new SGD({ momentum: 0.9, nesterov: true })],
    ['rmsprop centered momentum', () => new RMSprop({ momentum: 0.3, centered: true })],
  ];
  for (const [name, make] of makers) {
    it(name, () => {
      const n = 37;
      const grads = [0, 1, 2].map((k) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + k)));
      const whole = new Float32Array(n).fill(0.5);
      const split = whole.slice();
      const opt = make();
      const s1 = opt.slotNames.map(() => new Float32Array(n));
      const s2 = opt.slotNames.map(() => new Float32Array(n));
      grads.forEach((g, k) => {
        opt.apply(whole, g, s1, k + 1);
        opt.apply(split, g, s2, k + 1, 0, 20);
        opt.apply(split, g, s2, k + 1, 20, n);
      });
      expect(Array.from(split)).toEqual(Array.from(whole));
      expect(whole.every((v) => v !== 0.5)).toBe(true);
    });
  }
});

describe('optimizer names and configs', () => {
  it('from a string, camelCase or Keras class name, with defaults', () => {
    expect(resolveOptimizer('adam')).toBeInstanceOf(Adam);
    expect(resolveOptimizer('Adam')).toBeInstanceOf(Adam);
    expect(resolveOptimizer('sgd')).toBeInstanceOf(SGD);
    expect(resolveOptimizer('SGD')).toBeInstanceOf(SGD);
    expect(resolveOptimizer('rmsprop')).toBeInstanceOf(RMSprop);
    expect(resolveOptimizer('RMSprop')).toBeInstanceOf(RMSprop);
    expect(resolveOptimizer('adam', { learningRate: 0.01 }).learningRate).toBe(0.01);
  });

  it('from an object: a saved {className, config} with snake_case keys, a factory, or an instance', () => {
    const adam = resolveOptimizer({ className: 'Adam', config: { learning_rate: 0.01, beta_1: 0.8, beta_2: 0.95, epsilon: 1e-6 } });
    expect(adam.getConfig()).toEqual({ learningRate: 0.01, beta1: 0.8, beta2: 0.95, epsilon: 1e-6 });
    const sgd = resolveOptimizer({ className: 'SGD', config: { learningRate: 0.1, momentum: 0.9, nesterov: true } });
    expect(sgd.getConfig()).toEqual({ learningRate: 0.1, momentum: 0.9, nesterov: true });
    expect(resolveOptimizer({ className: 'rmsprop', config: { rho: 0.8 } }).getConfig()).toMatchObject({ rho: 0.8, learningRate: 0.001 });
    expect(optimizers.adam(0.005).learningRate).toBe(0.005);
    expect(optimizers.sgd({ learningRate: 0.2 }).learningRate).toBe(0.2);
    const mine = new RMSprop({ learningRate: 0.3 });
    expect(resolveOptimizer(mine)).toBe(mine);
    // saved configs round-trip
    for (const opt of [adam, sgd, mine]) expect(resolveOptimizer({ className: opt.className, config: opt.getConfig() }).getConfig()).toEqual(opt.getConfig());
  });

  it('compile takes a string or an object', () => {
    const model = new Sequential({ layers: [layers.dense({ units: 2, inputShape: [3] })] });
    model.compile({ optimizer: 'adam', loss: 'mse' });
    expect(model.optimizer.getConfig()).toEqual(new Adam().getConfig());
    model.compile({ optimizer: { className: 'SGD', config: { learningRate: 0.5 } }, loss: 'mse' });
    expect(model.optimizer).toBeInstanceOf(SGD);
    expect(model.optimizer.learningRate).toBe(0.5);
    model.compile({ optimizer: optimizers.rmsprop(0.02), loss: 'mse' });
    expect(model.optimizer.learningRate).toBe(0.02);
  });

  it('an unknown name is an error listing the valid ones', () => {
    let err: unknown;
    try {
      resolveOptimizer('adamw');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CnnError);
    expect((err as CnnError).code).toBe('CNN_ERR_UNKNOWN_NAME');
    expect((err as CnnError).message).toBe("Unknown optimizer \"adamw\". Valid optimizers: 'sgd', 'adam', 'rmsprop' (camelCase or snake_case).");
    expect(() => resolveOptimizer({ className: 'Adagrad' })).toThrow(/Valid optimizers: 'sgd', 'adam', 'rmsprop'/);
    expect(() => resolveOptimizer(undefined)).toThrow(/an optimizer is required/);
  });

  it('rejects unknown options and bad values with the option named', () => {
    expect(() => new Adam({ lr: 0.1 } as never)).toThrow(/adam: unknown option 'lr'. Valid options: learningRate/);
    expect(() => new Adam({ learningRate: -1 })).toThrow(/adam.learningRate must be a positive finite number/);
    expect(() => new Adam({ beta1: 1 })).toThrow(/adam.beta1 must be in \[0, 1\)/);
    expect(() => new SGD({ momentum: -0.1 })).toThrow(/sgd.momentum/);
    expect(() => new RMSprop({ rho: 2 })).toThrow(/rmsprop.rho/);
    try {
      new SGD({ learningRate: Number.NaN });
    } catch (e) {
      expect((e as CnnError).code).toBe('CNN_ERR_BAD_CONFIG');
    }
  });
});
