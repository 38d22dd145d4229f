import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Longest a recorded step line waits before it is written (a reader polling the file sees it by then). */
const FLUSH_MS = 200;

/** runs/2026-11-28T20-31-05: sortable, and safe in file names everywhere. */
export function defaultRunDir(now = new Date()): string {
  return join('runs', now.toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, ''));
}

/** The folder a training run leaves behind: config.json, metrics.jsonl, then the saved model. */
export class RunFolder {
  readonly dir: string;
  readonly #metrics: string;
  /** Step lines recorded but not yet written, and when the file was last written. */
  #pending = '';
  #flushedAt = 0;

  /** With `append`, a resumed run adds to the metrics it had written before. */
  constructor(dir: string, append = false) {
    this.dir = resolve(dir);
    mkdirSync(this.dir, { recursive: true });
    this.#metrics = join(this.dir, 'metrics.jsonl');
    if (!append || !existsSync(this.#metrics)) writeFileSync(this.#metrics, '');
  }

  writeConfig(config: object): void {
    writeFileSync(join(this.dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  }

  /**
   * One JSON object per line: {"event": "step" | "epoch", ...}. Step lines reach the file at most
   * FLUSH_MS after they were recorded (an append per step cost ~9 µs of the main thread, a compute
   * thread); every other event, and flush(), writes at once.
   */
  record(event: string, fields: object): void {
    const now = new Date();
    this.#pending += JSON.stringify({ event, time: now.toISOString(), ...fields }) + '\n';
    if (event !== 'step' || now.getTime() - this.#flushedAt >= FLUSH_MS) this.flush();
  }

  /** Writes the lines not yet in the file (at the end of a run, and before it stops for any reason). */
  flush(): void {
    if (this.#pending) appendFileSync(this.#metrics, this.#pending);
    this.#pending = '';
    this.#flushedAt = Date.now();
  }
}
