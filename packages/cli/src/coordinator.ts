import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Command, Option } from 'commander';
import { DEFAULTS } from '@cnn/core';
import { COORDINATOR_DEFAULTS, CoordinatorRun, type RunLength } from '@cnn/coordinator';
import { LOG_LEVELS, type LogLevel, createLogger } from './logger.js';
import { runProgram } from './program.js';
import { type OutputOptions, addOutputOptions, viewFor } from './progress/options.js';
import { lateCallbacks, runProgress, trainToEnd } from './training-run.js';
import { addTrainingOptions, givenLength, nonNegativeInt, positiveInt, settingsOf, type TrainingOptions } from './training-options.js';

interface StartOptions extends TrainingOptions, OutputOptions {
  host: string;
  port: number;
  token?: string;
  minHosts: number;
  localThreads: number;
  verifyEvery: number;
  checkpointDir?: string;
  checkpointEvery: number;
  resume?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  logLevel: LogLevel;
}

function port(value: string): number {
  const n = nonNegativeInt('--port')(value);
  if (n > 65535) throw new Error('--port must be at most 65535.');
  return n;
}

export function coordinatorProgram(): Command {
  const program = new Command('cnn-coordinator').description('Serve a training run that other machines join with cnn-worker');
  const start = program.command('start').description('start a run and wait for hosts');
  addTrainingOptions(start, DEFAULTS.microBatchSize)
    .addOption(new Option('--host <address>', 'address to listen on').default(COORDINATOR_DEFAULTS.host))
    .addOption(new Option('--port <n>', 'port for hosts and GET /status (0: any free port)').argParser(port).default(COORDINATOR_DEFAULTS.port))
    .addOption(new Option('--token <secret>', 'token joining hosts must present (required off loopback)'))
    .addOption(new Option('--min-hosts <n>', 'hosts to wait for before the first step').argParser(nonNegativeInt('--min-hosts')).default(0))
    .addOption(new Option('--local-threads <n>', 'threads this machine computes with (0: control only)').argParser(nonNegativeInt('--local-threads')).default(availableParallelism(), 'all cores'))
    .addOption(new Option('--verify-every <steps>', "on average one step in this many, check a random piece of a host's sums on this machine's threads (0: never)").argParser(nonNegativeInt('--verify-every')).default(0))
    .addOption(new Option('--checkpoint-dir <dir>', 'write checkpoints here'))
    .addOption(new Option('--checkpoint-every <steps>', 'steps between checkpoints').argParser(positiveInt('--checkpoint-every')).default(100))
    .addOption(new Option('--resume', 'continue from the newest checkpoint in --checkpoint-dir'))
    .addOption(new Option('--tls-cert <file>', 'certificate (PEM) to serve wss:// with'))
    .addOption(new Option('--tls-key <file>', 'private key (PEM) of --tls-cert'));
  addOutputOptions(start)
    .addOption(new Option('--log-level <level>', 'log detail on stderr').choices(LOG_LEVELS).default('info'))
    .action(async (opts: StartOptions, command: Command) => {
      process.exitCode = await startCoordinator(opts, givenLength(command));
    });
  return program;
}

async function startCoordinator(opts: StartOptions, given: RunLength): Promise<number> {
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) throw new Error('--tls-cert and --tls-key go together');
  const log = createLogger('cnn-coordinator', opts.logLevel);
  const view = viewFor(opts);
  const progress = lateCallbacks();
  if (opts.localThreads === 0 && opts.minHosts === 0) opts.minHosts = 1;
  const run = await CoordinatorRun.create({
    settings: settingsOf(opts),
    listen: {
      host: opts.host,
      port: opts.port,
      token: opts.token ?? null,
      tls: opts.tlsCert ? { cert: readFileSync(opts.tlsCert), key: readFileSync(opts.tlsKey!) } : null,
    },
    localThreads: opts.localThreads,
    verifyEvery: opts.verifyEvery,
    minHosts: opts.minHosts,
    out: opts.out,
    checkpointDir: opts.checkpointDir,
    checkpointEvery: opts.checkpointDir ? opts.checkpointEvery : 0,
    resume: opts.resume ?? false,
    resumeLength: given,
    log,
    callbacks: progress.callbacks,
    onListening: ({ port, joinCommand, dashboardUrl }) => view.show({ event: 'listening', port, joinCommand, dashboardUrl }),
  });
  progress.attach(runProgress(run, view, { cluster: true, threads: opts.localThreads }));
  await run.start();
  return trainToEnd(run, view, { report: opts.report, threads: Math.max(1, opts.localThreads) });
}

export function main(argv: string[]): Promise<number> {
  return runProgram(coordinatorProgram(), argv);
}
