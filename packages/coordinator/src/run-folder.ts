import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** runs/2026-11-28T20-31-05: sortable, and safe in file names everywhere. */
export function defaultRunDir(now = new Date()): string {
  return join('runs', now.toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, ''));
}

/** The folder a training run leaves behind: config.json, metrics.jsonl, then the saved model. */
export class RunFolder {
  readonly dir: string;
  readonly #metrics: string;

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

  /** One JSON object per line: {"event": "step" | "epoch", ...}. */
  record(event: string, fields: object): void {
    appendFileSync(this.#metrics, JSON.stringify({ event, time: new Date().toISOString(), ...fields }) + '\n');
  }
}
