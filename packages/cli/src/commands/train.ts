import { type Command, Option } from 'commander';
import { availableParallelism } from 'node:os';
import { DEFAULTS, type Logs, singleThread } from '@cnn/core';
import { threads } from '@cnn/worker';
import { datasetFrom, modelFrom } from '../load.js';
import { defaultRunDir, RunFolder } from '../run-folder.js';
import { addTrainingOptions, positiveInt, type TrainingOptions } from '../training-options.js';

const percent = (v: number) => `${(v * 100).toFixed(2)}%`;

/** `cnn train`: one process trains a model and leaves a run folder behind. */
export function trainCommand(program: Command): void {
  addTrainingOptions(program.command('train').description('train a model on this machine'), DEFAULTS.microBatchSize)
    .addOption(new Option('--threads <n>', 'worker threads (default: all cores)').argParser(positiveInt('--threads')).default(availableParallelism()))
    .addOption(new Option('--quiet', 'print only the final result'))
    .action(async (opts: TrainOptions) => {
      process.exitCode = await train(opts);
    });
}

export interface TrainOptions extends TrainingOptions {
  threads: number;
  quiet?: boolean;
}

export async function train(opts: TrainOptions): Promise<number> {
  const log = opts.quiet ? () => {} : (line: string) => console.log(line);
  const model = modelFrom(opts.model, opts.seed);
  model.compile({
    loss: 'sparse_categorical_crossentropy',
    optimizer: opts.learningRate === undefined ? opts.optimizer : { className: opts.optimizer, config: { learningRate: opts.learningRate } },
    metrics: ['accuracy'],
  });
  const data = await datasetFrom(opts.dataset);
  const run = new RunFolder(opts.out ?? defaultRunDir());
  run.writeConfig({ ...opts, out: run.dir, params: model.countParams(), dataset: data.name });
  log(`Training ${model.name} (${model.countParams().toLocaleString('en-US')} params) on ${data.name}: ${data.train.x.shape[0]} images, batch ${opts.batchSize}, ` +
    `${opts.epochs} epoch(s), ${opts.optimizer}, seed ${opts.seed}, ${opts.threads} thread(s)`);
  log(`Run folder: ${run.dir}`);

  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    model.stopTraining = true;
    console.error('\nStopping after this step (Ctrl-C again to abort without saving)...');
  };
  process.on('SIGINT', onSigint);
  let epochStart = performance.now();
  let trainedUntil = epochStart;
  let epochImages = 0;
  let last: Logs = {};
  try {
    await model.fit(data.train.x, data.train.y, {
      batchSize: opts.batchSize,
      epochs: opts.epochs,
      seed: opts.seed,
      microBatchSize: opts.microBatchSize,
      maxSteps: opts.maxSteps,
      validationData: [data.test.x, data.test.y],
      // One thread computes on this thread: the same bits without a pool.
      strategy: opts.threads === 1 ? singleThread() : threads(opts.threads),
      callbacks: {
        onEpochBegin: () => {
          epochStart = performance.now();
          epochImages = 0;
        },
        onBatchEnd: (batch, logs = {}) => {
          epochImages += logs.size;
          trainedUntil = performance.now();
          run.record('step', { step: model.iterations, batch, loss: logs.loss, acc: logs.acc });
        },
        onEpochEnd: (epoch, logs = {}) => {
          // Throughput counts training only, not the validation pass that ends the epoch.
          const seconds = (trainedUntil - epochStart) / 1000;
          const rate = epochImages / seconds;
          last = logs;
          run.record('epoch', { epoch: epoch + 1, ...logs, imagesPerSecond: rate, seconds });
          log(`Epoch ${epoch + 1}/${opts.epochs}  loss ${logs.loss.toFixed(4)}  accuracy ${percent(logs.acc)}  ` +
            `val_loss ${logs.val_loss.toFixed(4)}  val_accuracy ${percent(logs.val_acc)}  ${Math.round(rate).toLocaleString('en-US')} img/s  (${seconds.toFixed(1)} s)`);
        },
      },
    });
  } finally {
    process.off('SIGINT', onSigint);
  }
  await model.save(run.dir);
  if (interrupted) console.error(`Interrupted at step ${model.iterations}; the model and optimizer state are saved in ${run.dir}`);
  console.log(`Test accuracy: ${last.val_acc === undefined ? 'n/a' : percent(last.val_acc)}  (saved to ${run.dir})`);
  return interrupted ? 130 : 0;
}
