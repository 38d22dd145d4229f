/**
 * One bench run's bookkeeping, shared by the bench commands: the raw JSON-lines file in
 * bench/results/ (a header with machine, versions, command and options first, then every record),
 * stderr progress, and the markdown report written beside it and printed.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineInfo } from './machine.mjs';
import { median } from './report.mjs';

export const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = resolve(BENCH_DIR, '..');

export function timestamp(date) {
  return date.toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
}

/**
 * Opens bench/results/<time>-<name>[-<tag>].jsonl (or `out`) and writes the header record.
 * `command` is how the user would type it (for the report), `options` the resolved settings.
 */
export function openSession({ name, command, options, tag = '', out }) {
  const started = new Date();
  const file = resolve(out ?? join(BENCH_DIR, 'results', `${timestamp(started)}-${name}${tag ? `-${tag}` : ''}.jsonl`));
  mkdirSync(dirname(file), { recursive: true });
  const write = (rec) => appendFileSync(file, `${JSON.stringify(rec)}\n`);
  const log = (msg) => process.stderr.write(`[bench:${name}] ${msg}\n`);
  const header = {
    kind: 'bench_run', bench: name, started: started.toISOString(), command, options,
    machine: machineInfo(REPO_ROOT), loadavg_start: os.loadavg(),
  };
  write(header);
  log(`raw records: ${relative(process.cwd(), file)}`);
  return {
    file, header, write, log,
    /** Closes the header's books (duration, load at end, median others_cores of the runs) and writes the report. */
    finish(markdown, { othersCores = [], summary = {} } = {}) {
      header.duration_s = (Date.now() - started.getTime()) / 1000;
      header.loadavg_end = os.loadavg();
      header.others_cores_median = median(othersCores.filter((v) => v != null));
      write({ kind: 'summary', duration_s: header.duration_s, loadavg_end: header.loadavg_end, others_cores_median: header.others_cores_median, ...summary });
      const text = markdown(header);
      const md = file.replace(/\.jsonl$/, '') + '.md';
      writeFileSync(md, text);
      process.stdout.write(`\n${text}`);
      log(`done in ${Math.round(header.duration_s)} s; raw records ${relative(process.cwd(), file)}, table ${relative(process.cwd(), md)}`);
    },
  };
}

/** The command line as typed: `pnpm <script> -- <flags>`. */
export function commandLine(script, argv) {
  const shown = argv.filter((a) => a !== '--');
  return `pnpm ${script}${shown.length ? ` -- ${shown.join(' ')}` : ''}`;
}
