import { availableParallelism } from 'node:os';
import { type Command, Option } from 'commander';
import { DEFAULTS } from '@cnn/core';
import { CoordinatorRun, type RunLength } from '@cnn/coordinator';
import { LOG_LEVELS, type LogLevel, createLogger } from '../logger.js';
import { type OutputOptions, addOutputOptions, viewFor } from '../progress/options.js';
import { lateCallbacks, runProgress, trainToEnd } from '../training-run.js';
import { addTrainingOptions, givenLength, positiveInt, settingsOf, type TrainingOptions } from '../training-options.js';

export interface TrainOptions extends TrainingOptions, OutputOptions {
  threads: number;
  logLevel: LogLevel;
  checkpointDir?: string;
  checkpointEvery: number;
  resume?: boolean;
}

/** `cnn train`: the embedded default, a coordinator with this machine as its only host. */
export function trainCommand(program: Command): void {
  const cmd = addTrainingOptions(program.command('train').description('train a model on this machine'), DEFAULTS.microBatchSize)
    .addOption(new Option('--threads <n>', 'threads to compute with').argParser(positiveInt('--threads')).default(availableParallelism(), 'all cores'))
    .addOption(new Option('--checkpoint-dir <dir>', 'write checkpoints here'))
    .addOption(new Option('--checkpoint-every <steps>', 'steps between checkpoints').argParser(positiveInt('--checkpoint-every')).default(0))
    .addOption(new Option('--resume', 'continue from the newest checkpoint in --checkpoint-dir'));
  addOutputOptions(cmd)
    .addOption(new Option('--log-level <level>', 'log detail on stderr').choices(LOG_LEVELS).default('warn'))
    .action(async (opts: TrainOptions, command: Command) => {
      process.exitCode = await train(opts, givenLength(command));
    });
}

/** `given`: the length flags given on the command line, which --resume honours (see givenLength). */
export async function train(opts: TrainOptions, given: RunLength = {}): Promise<number> {
  const view = viewFor(opts);
  const progress = lateCallbacks();
  const run = await CoordinatorRun.create({
    settings: settingsOf(opts),
    listen: null,
    localThreads: opts.threads,
    minHosts: 0,
    out: opts.out,
    checkpointDir: opts.checkpointDir,
    checkpointEvery: opts.checkpointEvery,
    resume: opts.resume ?? false,
    resumeLength: given,
    log: createLogger('cnn', opts.logLevel),
    callbacks: progress.callbacks,
  });
  progress.attach(runProgress(run, view, { cluster: false, threads: opts.threads }));
  await run.start();
  return trainToEnd(run, view, { report: opts.report, threads: opts.threads });
}
