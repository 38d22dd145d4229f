import { type Command, InvalidArgumentError, Option } from 'commander';
import { barView } from './bar.js';
import type { ProgressView } from './events.js';
import { jsonView, plainView, quietView } from './views.js';

export interface OutputOptions {
  quiet?: boolean;
  json?: boolean;
  progressEvery: number;
  report: boolean;
}

export const OUTPUT_DEFAULTS = {
  /** Seconds between step lines in a log: a 10-minute epoch leaves ~120 lines, not thousands. */
  progressEvery: 5,
} as const;

function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('--progress-every must be a number of seconds, 0 or more.');
  return n;
}

/** The output flags of `cnn train` and `cnn-coordinator start`. */
export function addOutputOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--quiet', 'print only the final result line'))
    .addOption(new Option('--json', 'print one JSON object per event (start, step, epoch, end) instead of text').conflicts('quiet'))
    .addOption(new Option('--progress-every <seconds>', 'seconds between step lines when stdout is not a terminal, and between step events with --json (0: every step)')
      .argParser(seconds).default(OUTPUT_DEFAULTS.progressEvery))
    .addOption(new Option('--no-report', 'skip the plots and confusion matrix written into the run folder at the end'));
}

/** --json, --quiet, a bar on a terminal, or plain lines (CI, a file). */
export function viewFor(o: OutputOptions): ProgressView {
  const intervalMs = o.progressEvery * 1000;
  if (o.json) return jsonView(intervalMs);
  if (o.quiet) return quietView();
  return process.stdout.isTTY ? barView() : plainView(intervalMs);
}
