import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CNN_BIN, start } from '../cli-helpers.js';
import { COORDINATOR_BIN, WORKER_BIN } from '../cluster-helpers.js';

const DOCS = fileURLToPath(new URL('../../docs/cli/', import.meta.url));

async function help(bin: string, args: string[]): Promise<string> {
  const r = await start(bin, [...args, '--help']).done;
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

interface HelpOption {
  flags: string[];
  /** What `(default: …)` says, if anything. */
  default: string | null;
}

/** The options of a --help text: each entry's flags (`-h, --help` gives both) and its default. */
function options(text: string): HelpOption[] {
  const section = text.split(/^Options:$/m)[1]?.split(/^\S/m)[0] ?? '';
  const entries: string[] = [];
  for (const line of section.split('\n')) {
    if (/^ {2}-/.test(line)) entries.push(line.trim());
    else if (line.trim() && entries.length) entries[entries.length - 1] += ` ${line.trim()}`;
  }
  return entries.map((e) => ({
    flags: e.split(/ {2,}/)[0].split(/,\s*/).map((f) => f.split(' ')[0]),
    default: /default: "?(.+?)"?\)/.exec(e)?.[1] ?? null,
  }));
}

/** `cnn --help`'s commands (without `help`). */
function subcommands(text: string): string[] {
  const section = text.split(/^Commands:$/m)[1] ?? '';
  return [...section.matchAll(/^ {2}(\w[\w-]*)/gm)].map((m) => m[1]).filter((c) => c !== 'help');
}

const words = (s: string) => s.toLowerCase().replace(/[`*|(),]/g, ' ').split(/\s+/).filter(Boolean);

/** Every flag of the help has a row in the page's tables, and the row states the default. */
function checkPage(page: string, helpText: string): void {
  const file = `${DOCS}${page}`;
  expect(existsSync(file), `${page} is missing`).toBe(true);
  const doc = readFileSync(file, 'utf8');
  const opts = options(helpText);
  expect(opts.length, `no options parsed from:\n${helpText}`).toBeGreaterThan(0);
  for (const o of opts) {
    const long = o.flags[o.flags.length - 1];
    const row = doc.split('\n').find((l) => l.startsWith('| `') && l.split('|')[1].includes(long));
    expect(row, `${page}: no table row for ${long}`).toBeDefined();
    if (o.default === null) continue;
    const cell = words(row!);
    for (const w of words(o.default)) expect(cell, `${page}: the row of ${long} should state its default "${o.default}"`).toContain(w);
  }
}

describe('docs/cli', () => {
  it('has a page for every cnn command, listing every flag and its default', async () => {
    const commands = subcommands(await help(CNN_BIN, []));
    expect(commands).toEqual(expect.arrayContaining(['train', 'predict', 'evaluate', 'report', 'summary', 'export']));
    const texts = await Promise.all(commands.map((c) => help(CNN_BIN, [c])));
    commands.forEach((c, i) => checkPage(`cnn-${c}.md`, texts[i]));
  });

  it('has pages for cnn-coordinator start and cnn-worker join', async () => {
    checkPage('cnn-coordinator-start.md', await help(COORDINATOR_BIN, ['start']));
    checkPage('cnn-worker-join.md', await help(WORKER_BIN, ['join']));
  });

  it('links every page from its index', () => {
    const index = readFileSync(`${DOCS}README.md`, 'utf8');
    for (const page of ['cnn-train', 'cnn-predict', 'cnn-evaluate', 'cnn-report', 'cnn-export', 'cnn-summary', 'cnn-coordinator-start', 'cnn-worker-join']) {
      expect(index).toContain(`(${page}.md)`);
    }
  });
});
