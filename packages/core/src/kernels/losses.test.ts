/* Loss kernels by hand: values, stability, Keras' clipping, accuracy counting. Gradients: layers/gradients.test.ts. */
import { describe, expect, it } from 'vitest';
import { CnnError } from '../errors.js';
import { losses, resolveLoss } from '../losses/index.js';
import { countCorrect, crossEntropyOnProbabilities, EPSILON, meanSquaredError, softmaxCrossEntropyFromLogits } from './losses.js';

const f32 = (v: number[]) => Float32Array.from(v);

describe('softmax cross-entropy from logits', () => {
  it('two equal logits: loss ln 2, probabilities 1/2, gradient p - t', () => {
    const out = f32([0, 0]);
    const grad = new Float32Array(2);
    expect(softmaxCrossEntropyFromLogits(1, 2, out, { sparse: Int32Array.from([0]) }, grad)).toBeCloseTo(Math.LN2, 12);
    expect(Array.from(out)).toEqual([0.5, 0.5]);
    expect(Array.from(grad)).toEqual([-0.5, 0.5]);
  });

  it('is stable for huge logits', () => {
    const run = (label: number) => {
      const out = f32([1000, 0, -1000]);
      const grad = new Float32Array(3);
      const loss = softmaxCrossEntropyFromLogits(1, 3, out, { sparse: Int32Array.from([label]) }, grad);
      return { loss, out: Array.from(out), grad: Array.from(grad) };
    };
    expect(run(0)).toEqual({ loss: 0, out: [1, 0, 0], grad: [0, 0, 0] });
    const wrong = run(2);
    expect(wrong.loss).toBe(2000);
    expect(wrong.grad).toEqual([1, 0, -1]);
  });

  it('sums over rows and takes dense (one-hot or soft) targets', () => {
    const out = f32([0, 0, 2, 2]);
    const loss = softmaxCrossEntropyFromLogits(2, 2, out, { dense: f32([0.5, 0.5, 1, 0]) }, null);
    expect(loss).toBeCloseTo(2 * Math.LN2, 12);
  });
});

describe('cross-entropy on probabilities (Keras clipping to [1e-7, 1 - 1e-7])', () => {
  it('-log p of the target class, gradient -1/p there and 0 elsewhere', () => {
    const grad = new Float32Array(2);
    expect(crossEntropyOnProbabilities(1, 2, f32([0.25, 0.75]), { sparse: Int32Array.from([1]) }, grad)).toBeCloseTo(-Math.log(0.75), 7);
    expect(grad[0]).toBe(0);
    expect(grad[1]).toBeCloseTo(-1 / 0.75, 6);
  });

  it('clips a zero probability instead of returning Infinity, with zero gradient where clipped', () => {
    const grad = new Float32Array(2).fill(NaN);
    const loss = crossEntropyOnProbabilities(1, 2, f32([1, 0]), { sparse: Int32Array.from([1]) }, grad);
    expect(loss).toBeCloseTo(-Math.log(EPSILON), 9);
    expect(Array.from(grad)).toEqual([0, 0]);
  });
});

describe('mean squared error', () => {
  it('means over the row and sums over rows; gradient 2 (y - t) / width', () => {
    const grad = new Float32Array(6);
    const loss = meanSquaredError(2, 3, f32([1, 2, 3, 0, 0, 0]), { dense: f32([1, 0, 0, 0, 0, 3]) }, grad);
    expect(loss).toBeCloseTo(13 / 3 + 3, 12);
    expect(Array.from(grad)).toEqual(Array.from(f32([0, 4 / 3, 2, 0, 0, -2])));
  });
});

describe('countCorrect (accuracy)', () => {
  it('compares the first maximum with the class index or the one-hot row', () => {
    const out = f32([0.1, 0.7, 0.2, 0.5, 0.5, 0, 0.3, 0.3, 0.4]);
    expect(countCorrect(3, 3, out, { sparse: Int32Array.from([1, 0, 2]) })).toBe(3);
    expect(countCorrect(3, 3, out, { sparse: Int32Array.from([1, 1, 0]) })).toBe(1); // ties go to the first
    expect(countCorrect(3, 3, out, { dense: f32([0, 1, 0, 1, 0, 0, 0, 0, 1]) })).toBe(3);
  });

  it('thresholds a single output at 0.5 (binary accuracy)', () => {
    expect(countCorrect(3, 1, f32([0.9, 0.2, 0.5]), { sparse: Int32Array.from([1, 0, 1]) })).toBe(2);
  });
});

describe('loss names', () => {
  it('accepts Keras snake_case, TF.js camelCase and the mse alias', () => {
    expect(resolveLoss('sparse_categorical_crossentropy').name).toBe('sparseCategoricalCrossentropy');
    expect(resolveLoss('sparseCategoricalCrossentropy').name).toBe('sparseCategoricalCrossentropy');
    expect(resolveLoss('categorical_crossentropy').name).toBe('categoricalCrossentropy');
    expect(resolveLoss('categoricalCrossentropy').sparseTargets).toBe(false);
    expect(resolveLoss('mean_squared_error').name).toBe('meanSquaredError');
    expect(resolveLoss('meanSquaredError').name).toBe('meanSquaredError');
    expect(resolveLoss('mse').name).toBe('meanSquaredError');
  });

  it('round-trips configs, fromLogits included', () => {
    for (const loss of [losses.sparseCategoricalCrossentropy(), losses.categoricalCrossentropy({ fromLogits: true }), losses.meanSquaredError()]) {
      const again = resolveLoss(loss.getConfig());
      expect([again.name, again.fromLogits]).toEqual([loss.name, loss.fromLogits]);
    }
    expect(resolveLoss({ className: 'sparse_categorical_crossentropy', config: { from_logits: true } }).fromLogits).toBe(true);
  });

  it('an unknown or missing loss is an error that lists the valid names', () => {
    let err: unknown;
    try {
      resolveLoss('hinge');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CnnError);
    expect((err as CnnError).code).toBe('CNN_ERR_UNKNOWN_NAME');
    expect((err as CnnError).message).toMatch(/^Unknown loss "hinge"\. Valid losses: /);
    for (const name of ['sparse_categorical_crossentropy', 'categorical_crossentropy', 'mean_squared_error']) expect((err as CnnError).message).toContain(`'${name}'`);
    expect(() => resolveLoss(undefined)).toThrow(/a loss is required/);
    expect(() => losses.categoricalCrossentropy({ fromLogit: true } as never)).toThrow(/unknown option 'fromLogit'/);
  });
});
