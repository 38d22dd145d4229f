import type { RunLength, RunSettings } from '@cnn/coordinator';
import { type Command, InvalidArgumentError, Option } from 'commander';

/** Training flags shared by `cnn train` and `cnn-coordinator start`: the run's settings and where it goes. */
export interface TrainingOptions extends RunSettings {
  out?: string;
}

export const TRAINING_DEFAULTS = {
  model: 'lenet5',
  dataset: 'mnist',
  epochs: 1,
  batchSize: 32,
  optimizer: 'adam',
  seed: 1,
} as const;

export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer.`);
    return n;
  };
}

export function nonNegativeInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`${name} must be a non-negative integer.`);
    return n;
  };
}

function positiveNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number.`);
    return n;
  };
}

/** Adds the training flags to a command. */
export function addTrainingOptions(cmd: Command, microBatchDefault: number): Command {
  return cmd
    .addOption(new Option('--model <name|file>', 'seed, lenet5, convnet, or a model.json file').default(TRAINING_DEFAULTS.model))
    .addOption(new Option('--dataset <name|dir>', 'mnist, fashion-mnist, or a folder of IDX files').default(TRAINING_DEFAULTS.dataset))
    .addOption(new Option('--epochs <n>', 'passes over the training set').argParser(positiveInt('--epochs')).default(TRAINING_DEFAULTS.epochs))
    .addOption(new Option('--batch-size <n>', 'global batch: samples per optimizer step').argParser(positiveInt('--batch-size')).default(TRAINING_DEFAULTS.batchSize))
    .addOption(new Option('--micro-batch-size <n>', 'samples per leaf of the reduction tree (fixes the arithmetic; not tied to threads)').argParser(positiveInt('--micro-batch-size')).default(microBatchDefault))
    .addOption(new Option('--optimizer <name>', 'sgd, adam or rmsprop').default(TRAINING_DEFAULTS.optimizer))
    .addOption(new Option('--learning-rate <x>', "learning rate (default: the optimizer's Keras default)").argParser(positiveNumber('--learning-rate')))
    .addOption(new Option('--seed <n>', 'seed of initial weights, shuffling and dropout').argParser(nonNegativeInt('--seed')).default(TRAINING_DEFAULTS.seed))
    .addOption(new Option('--max-steps <n>', 'stop after this many optimizer steps').argParser(positiveInt('--max-steps')))
    .addOption(new Option('--out <dir>', 'run folder (default: runs/<timestamp>)'));
}

/** The length flags given on the command line (not defaulted): with --resume they set the resumed run's length. */
export function givenLength(cmd: Command): RunLength {
  const given: RunLength = {};
  for (const name of ['epochs', 'maxSteps'] as const) {
    if (cmd.getOptionValueSource(name) === 'cli') given[name] = cmd.getOptionValue(name) as number;
  }
  return given;
}

/** The run settings among parsed options. */
export function settingsOf(o: TrainingOptions): RunSettings {
  return {
    model: o.model, dataset: o.dataset, epochs: o.epochs, batchSize: o.batchSize, microBatchSize: o.microBatchSize,
    optimizer: o.optimizer, learningRate: o.learningRate, seed: o.seed, maxSteps: o.maxSteps,
  };
}
