import type { ProgressView, RunEvent } from './events.js';
import { endLine, epochLine, listeningLines, startLine, stepLine } from './lines.js';

type Print = (line: string) => void;
const stdout: Print = (line) => void process.stdout.write(`${line}\n`);

/**
 * True at most once per `intervalMs`: step lines and events are throttled by time, not step
 * count, so a log gets the same density whatever the model's speed. Interval 0 passes every step.
 */
function throttle(intervalMs: number): () => boolean {
  let last = -Infinity;
  return () => {
    const now = performance.now();
    if (now - last < intervalMs) return false;
    last = now;
    return true;
  };
}

/** Not a terminal (CI, a file): a line per epoch, a step line every `intervalMs`. */
export function plainView(intervalMs: number, print: Print = stdout): ProgressView {
  const due = throttle(intervalMs);
  return {
    show(e: RunEvent) {
      switch (e.event) {
        case 'start': return print(startLine(e));
        case 'step': return void (due() && e.batch < e.batches && print(stepLine(e)));
        case 'epoch': return print(epochLine(e));
        case 'end': return print(endLine(e));
        case 'listening': return print(listeningLines(e));
      }
    },
    note: print,
    close() {},
  };
}

/** --json: one JSON object per event on stdout; step events at most once per `intervalMs`. */
export function jsonView(intervalMs: number, print: Print = stdout): ProgressView {
  const due = throttle(intervalMs);
  return {
    show(e: RunEvent) {
      if (e.event === 'step' && !due()) return;
      print(JSON.stringify(e));
    },
    note() {},
    close() {},
  };
}

/** --quiet: only the result line. */
export function quietView(print: Print = stdout): ProgressView {
  return {
    show(e: RunEvent) {
      if (e.event === 'end') print(endLine(e));
    },
    note() {},
    close() {},
  };
}
