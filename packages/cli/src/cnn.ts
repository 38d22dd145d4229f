import { Command } from 'commander';
import { evaluateCommand } from './commands/evaluate.js';
import { predictCommand } from './commands/predict.js';
import { reportCommand } from './commands/report.js';
import { exportCommand } from './commands/export.js';
import { summaryCommand } from './commands/summary.js';
import { trainCommand } from './commands/train.js';
import { runProgram } from './program.js';

export function cnnProgram(): Command {
  const program = new Command('cnn').description('Train and use convolutional networks on this machine');
  trainCommand(program);
  summaryCommand(program);
  evaluateCommand(program);
  predictCommand(program);
  reportCommand(program);
  exportCommand(program);
  return program;
}

/** Runs `cnn` with argv (without node and script); resolves to the process exit code. */
export function main(argv: string[]): Promise<number> {
  return runProgram(cnnProgram(), argv);
}
