import { availableParallelism } from 'node:os';
import { type Command, Option } from 'commander';
import { DEFAULTS } from '@cnn/core';
import { CoordinatorRun } from '@cnn/coordinator';
import { LOG_LEVELS, type LogLevel, createLogger } from '../logger.js';
import { epochPrinter, trainToEnd } from '../training-run.js';
import { addTrainingOptions, positiveInt, settingsOf, type TrainingOptions } from '../training-options.js';

export interface TrainOptions extends TrainingOptions {
  threads: number;
  quiet?: boolean;
  logLevel: LogLevel;
  checkpointDir?: string;
  checkpointEvery: number;
  resume?: boolean;
}

/** `cnn train`: the embedded default, a coordinator with this machine as its only host. */
export function trainCommand(program: Command): void {
  addTrainingOptions(program.command('train').description('train a model on this machine'), DEFAULTS.microBatchSize)
    .addOption(new Option('--threads <n>', 'worker threads (default: all cores)').argParser(positiveInt('--threads')).default(availableParallelism()))
    .addOption(new Option('--checkpoint-dir <dir>', 'write checkpoints here'))
    .addOption(new Option('--checkpoint-every <steps>', 'steps between checkpoints').argParser(positiveInt('--checkpoint-every')).default(0))
    .addOption(new Option('--resume', 'continue from the newest checkpoint in --checkpoint-dir'))
    .addOption(new Option('--quiet', 'print only the final result'))
    .addOption(new Option('--log-level <level>', 'log detail on stderr').choices(LOG_LEVELS).default('warn'))
    .action(async (opts: TrainOptions) => {
      process.exitCode = await train(opts);
    });
}

export async function train(opts: TrainOptions): Promise<number> {
  const print = opts.quiet ? () => {} : (line: string) => console.log(line);
  const run = await CoordinatorRun.create({
    settings: settingsOf(opts),
    listen: null,
    localThreads: opts.threads,
    minHosts: 0,
    out: opts.out,
    checkpointDir: opts.checkpointDir,
    checkpointEvery: opts.checkpointEvery,
    resume: opts.resume ?? false,
    log: createLogger('cnn', opts.logLevel),
    callbacks: epochPrinter(opts.epochs, print),
  });
  const s = run.settings;
  print(`Training ${run.model.name} (${run.model.countParams().toLocaleString('en-US')} params) on ${run.data.name}: ${run.data.train.x.shape[0]} images, batch ${s.batchSize}, ` +
    `${s.epochs} epoch(s), ${s.optimizer}, seed ${s.seed}, ${opts.threads} thread(s)`);
  await run.start();
  return trainToEnd(run);
}
