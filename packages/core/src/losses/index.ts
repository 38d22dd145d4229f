import { CnnError } from '../errors.js';
import { crossEntropyOnProbabilities, meanSquaredError, softmaxCrossEntropyFromLogits, type Targets } from '../kernels/losses.js';
import type { KernelSet } from '../kernels/kernel-set.js';
import { normalizeConfig, resolveName } from '../names.js';

export type LossName = 'sparseCategoricalCrossentropy' | 'categoricalCrossentropy' | 'meanSquaredError';

const TABLE: Record<string, LossName> = {
  sparseCategoricalCrossentropy: 'sparseCategoricalCrossentropy',
  categoricalCrossentropy: 'categoricalCrossentropy',
  meanSquaredError: 'meanSquaredError',
  mse: 'meanSquaredError',
};

/**
 * A loss over a micro-shard. When `fused` the model's final softmax was skipped and `out` holds
 * logits; the loss turns them into probabilities in place and differentiates through the softmax
 * in one stable step (softmax - target).
 */
export interface Loss {
  readonly name: LossName;
  /** Targets are class indices (one per sample) rather than rows of the output's width. */
  readonly sparseTargets: boolean;
  /** The outputs are logits, not probabilities (Keras' from_logits). */
  readonly fromLogits: boolean;
  /** Can absorb a final softmax of the model. */
  readonly fusesSoftmax: boolean;
  /** With `kernels` (a workspace's, whose buffers they all are), the loss runs on that kernel set; else in TypeScript. The bits are the same. */
  compute(rows: number, width: number, out: Float32Array, targets: Targets, grad: Float32Array | null, fused: boolean, kernels?: KernelSet): number;
  getConfig(): string | { className: string; config: Record<string, unknown> };
}

class CrossEntropy implements Loss {
  readonly fusesSoftmax = true;
  constructor(readonly name: LossName, readonly sparseTargets: boolean, readonly fromLogits: boolean) {}

  compute(rows: number, width: number, out: Float32Array, targets: Targets, grad: Float32Array | null, fused: boolean, kernels?: KernelSet): number {
    if (fused || this.fromLogits) {
      return kernels ? kernels.softmaxCrossEntropyFromLogits(rows, width, out, targets, grad) : softmaxCrossEntropyFromLogits(rows, width, out, targets, grad);
    }
    return crossEntropyOnProbabilities(rows, width, out, targets, grad);
  }

  getConfig(): string | { className: string; config: Record<string, unknown> } {
    const snake = this.sparseTargets ? 'sparse_categorical_crossentropy' : 'categorical_crossentropy';
    return this.fromLogits ? { className: snake, config: { fromLogits: true } } : snake;
  }
}

class MeanSquaredError implements Loss {
  readonly name = 'meanSquaredError';
  readonly sparseTargets = false;
  readonly fromLogits = false;
  readonly fusesSoftmax = false;

  compute(rows: number, width: number, out: Float32Array, targets: Targets, grad: Float32Array | null): number {
    return meanSquaredError(rows, width, out, targets, grad);
  }

  getConfig(): string {
    return 'mean_squared_error';
  }
}

export interface CrossEntropyOptions {
  fromLogits?: boolean;
}

export const losses = {
  sparseCategoricalCrossentropy: (options: CrossEntropyOptions = {}): Loss =>
    new CrossEntropy('sparseCategoricalCrossentropy', true, normalizeConfig<CrossEntropyOptions>('sparseCategoricalCrossentropy', options, ['fromLogits']).fromLogits ?? false),
  categoricalCrossentropy: (options: CrossEntropyOptions = {}): Loss =>
    new CrossEntropy('categoricalCrossentropy', false, normalizeConfig<CrossEntropyOptions>('categoricalCrossentropy', options, ['fromLogits']).fromLogits ?? false),
  meanSquaredError: (): Loss => new MeanSquaredError(),
};

/** A loss from a Keras/TF.js name ('sparse_categorical_crossentropy'), a saved config, or a Loss. */
export function resolveLoss(given: unknown): Loss {
  if (typeof given === 'object' && given !== null && 'compute' in given) return given as Loss;
  if (typeof given === 'object' && given !== null && 'className' in given) {
    const { className, config } = given as { className: string; config?: CrossEntropyOptions };
    const name = resolveName('loss', className, TABLE);
    return name === 'meanSquaredError' ? losses.meanSquaredError() : losses[name](config);
  }
  if (given === undefined) throw new CnnError('CNN_ERR_BAD_CONFIG', "compile: a loss is required, e.g. loss: 'sparse_categorical_crossentropy'");
  const name = resolveName('loss', given, TABLE);
  return name === 'meanSquaredError' ? losses.meanSquaredError() : losses[name]();
}
