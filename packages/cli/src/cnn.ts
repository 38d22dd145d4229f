import { Command, CommanderError } from 'commander';
import { CnnError } from '@cnn/core';
import { evaluateCommand } from './commands/evaluate.js';
import { summaryCommand } from './commands/summary.js';
import { trainCommand } from './commands/train.js';

/** Exit code of a usage error (bad flag or value), as most Unix tools. */
const USAGE_ERROR = 2;

export function cnnProgram(): Command {
  const program = new Command('cnn')
    .description('Train and use convolutional networks on this machine')
    .exitOverride()
    .showHelpAfterError('(run cnn --help for usage)')
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  trainCommand(program);
  summaryCommand(program);
  evaluateCommand(program);
  for (const cmd of program.commands) cmd.exitOverride().showHelpAfterError();
  return program;
}

/** Runs `cnn` with argv (without node and script); resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  process.exitCode = 0;
  try {
    await cnnProgram().parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : USAGE_ERROR;
    if (e instanceof CnnError) {
      console.error(`error: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
