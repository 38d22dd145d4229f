import { type Command, CommanderError } from 'commander';
import { CnnError } from '@cnn/core';

/** Exit code of a usage error (bad flag or value), as most Unix tools. */
export const USAGE_ERROR = 2;

/**
 * Runs a commander program with argv (without node and script); resolves to the exit code. Usage
 * errors print the help; known errors (CnnError) print one line, not a stack.
 */
export async function runProgram(program: Command, argv: string[]): Promise<number> {
  program.exitOverride().showHelpAfterError(`(run ${program.name()} --help for usage)`);
  for (const cmd of program.commands) cmd.exitOverride().showHelpAfterError();
  process.exitCode = 0;
  try {
    await program.parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : USAGE_ERROR;
    if (e instanceof CnnError) {
      console.error(`error: ${e.message}`);
      return 1;
    }
    if (e instanceof Error && !(e instanceof TypeError) && !(e instanceof ReferenceError)) {
      console.error(`error: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
