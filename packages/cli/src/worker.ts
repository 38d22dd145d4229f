import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Command, Option } from 'commander';
import { HOST_DEFAULTS, HostClient } from '@cnn/coordinator';
import { LOG_LEVELS, type LogLevel, createLogger } from './logger.js';
import { runProgram } from './program.js';
import { positiveInt } from './training-options.js';

interface JoinOptions {
  token?: string;
  threads: number;
  ca?: string;
  reconnectFor: number;
  logLevel: LogLevel;
}

export function workerProgram(): Command {
  const program = new Command('cnn-worker').description("Lend this machine's cores to a training run");
  program
    .command('join')
    .description('join the run served at URL and compute until it ends')
    .argument('<url>', 'ws://HOST:PORT or wss://HOST:PORT, as printed by cnn-coordinator start')
    .addOption(new Option('--token <secret>', "the run's token"))
    .addOption(new Option('--threads <n>', 'threads to compute with').argParser(positiveInt('--threads')).default(availableParallelism(), 'all cores'))
    .addOption(new Option('--ca <file>', 'CA certificate (PEM) to trust for wss://, e.g. a self-signed coordinator'))
    .addOption(new Option('--reconnect-for <seconds>', 'keep trying to reach a coordinator that went away this long').argParser(positiveInt('--reconnect-for')).default(HOST_DEFAULTS.reconnectForMs / 1000))
    .addOption(new Option('--log-level <level>', 'log detail on stderr').choices(LOG_LEVELS).default('info'))
    .action(async (url: string, opts: JoinOptions) => {
      if (!/^wss?:\/\/[^/]+/.test(url)) throw new Error(`${url}: expected ws://HOST:PORT or wss://HOST:PORT`);
      const log = createLogger('cnn-worker', opts.logLevel);
      const host = new HostClient({
        url,
        token: opts.token ?? '',
        threads: opts.threads,
        log,
        ca: opts.ca ? readFileSync(opts.ca) : undefined,
        reconnectForMs: opts.reconnectFor * 1000,
      });
      const stop = () => host.stop();
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      const outcome = await host.run();
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      if (outcome.finished) {
        console.log(`The run is over: ${outcome.reason}`);
        process.exitCode = 0;
      } else {
        console.error(`error: left the run: ${outcome.reason}`);
        process.exitCode = 1;
      }
    });
  return program;
}

export function main(argv: string[]): Promise<number> {
  return runProgram(workerProgram(), argv);
}
