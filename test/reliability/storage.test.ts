import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCnn, tempDir, weightsOf } from '../cli-helpers.js';

/*
 * Storage faults, through the CLI. A checkpoint directory on a tmpfs that holds two checkpoints and
 * not a third: the third write fails with ENOSPC, the run logs a warning and goes on (the choice: a
 * lost checkpoint only widens what a crash would cost, stopping would cost the run), the two earlier
 * checkpoints stay whole and no partial temp file is left; --resume continues from the newest. A
 * truncated, bit-flipped or headerless checkpoint is skipped on --resume with a message naming the
 * file and the damage, and the previous one is used; when none is readable --resume stops.
 */

const CKPT_EVERY = 10;
const RUN = ['--model', 'lenet5', '--batch-size', '64', '--max-steps', '60', '--seed', '13', '--threads', '1', '--quiet', '--no-report', '--log-level', 'info'];
/** lenet5 with Adam: 61,706 parameters x 3 buffers x 4 bytes + header = 741 KB a checkpoint; 2 fit, a third does not. */
const TMPFS_SIZE = '1600k';

function mountUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  const probe = tempDir('tmpfs-probe');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'pipe' });
    execFileSync('umount', [probe], { stdio: 'pipe' });
    return null;
  } catch (e) {
    return `cannot mount a tmpfs: ${(e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message}`;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

const unavailable = mountUnavailable();
if (unavailable) console.warn(`skipping the disk-full checkpoint test: ${unavailable}`);

const checkpoints = (dir: string) => readdirSync(dir).sort();
const name = (step: number) => `ckpt-${String(step).padStart(10, '0')}.cnnckpt`;

let root: string;
let reference: Buffer;

beforeAll(async () => {
  root = tempDir('storage');
  const dir = join(root, 'reference');
  const r = await runCnn(['train', ...RUN, '--out', dir]);
  if (r.code !== 0) throw new Error(`the reference run failed:\n${r.stderr}`);
  reference = weightsOf(dir);
}, 120_000);

describe.skipIf(unavailable !== null)('a checkpoint write that fails: disk full (a tmpfs too small)', () => {
  let disk: string | undefined;
  afterAll(() => {
    if (disk) execFileSync('umount', ['-l', disk], { stdio: 'ignore' });
  });

  it('keeps the previous checkpoints whole, warns, trains on to the same weights; --resume takes the newest', async () => {
    disk = join(root, 'small-disk');
    mkdirSync(disk);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE}`, 'tmpfs', disk]);
    const out = join(root, 'disk-full-run');
    const r = await runCnn(['train', ...RUN, '--out', out, '--checkpoint-dir', disk, '--checkpoint-every', String(CKPT_EVERY)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/checkpoint of step 30 not written; the newest is step 20: training goes on/);
    expect(r.stderr).toMatch(/ENOSPC|no space left/i);
    // The two that fit, whole; no temp file of the failed writes left taking the space.
    expect(checkpoints(disk)).toEqual([name(10), name(20)]);
    expect(weightsOf(out).equals(reference)).toBe(true);

    const resumed = join(root, 'disk-full-resumed');
    const again = await runCnn(['train', ...RUN, '--out', resumed, '--checkpoint-dir', disk, '--checkpoint-every', String(CKPT_EVERY), '--resume']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/"step":20,[^\n]*"msg":"resuming from checkpoint"/);
    expect(weightsOf(resumed).equals(reference)).toBe(true);
  }, 180_000);
});

describe('a damaged checkpoint on --resume', () => {
  let good: string;

  beforeAll(async () => {
    // A whole run's checkpoints (a resumed run takes its settings, the step count included, from them): 40, 50, 60 are kept.
    good = join(root, 'good-checkpoints');
    const r = await runCnn(['train', ...RUN, '--out', join(root, 'checkpointed'), '--checkpoint-dir', good, '--checkpoint-every', String(CKPT_EVERY)]);
    if (r.code !== 0) throw new Error(r.stderr);
    expect(checkpoints(good)).toEqual([name(40), name(50), name(60)]);
  }, 120_000);

  /** A copy of the good checkpoints with the newest damaged by `damage`. */
  function damaged(label: string, damage: (file: string) => void, older?: (file: string) => void): string {
    const dir = join(root, `damaged-${label}`);
    mkdirSync(dir);
    for (const f of checkpoints(good)) copyFileSync(join(good, f), join(dir, f));
    damage(join(dir, name(60)));
    if (older) for (const step of [40, 50]) older(join(dir, name(step)));
    return dir;
  }
  const truncate = (file: string) => truncateSync(file, readFileSync(file).length - 1000);
  const flipBodyByte = (file: string) => {
    const bytes = readFileSync(file);
    bytes[bytes.length - 12345] ^= 0x10;
    writeFileSync(file, bytes);
  };
  const clobberMagic = (file: string) => {
    const bytes = readFileSync(file);
    bytes.write('GARBAGE!', 0, 'ascii');
    writeFileSync(file, bytes);
  };

  it.each([
    ['truncated', truncate, /truncated: expected \d+ bytes of weights, found \d+/],
    ['a flipped bit in the weights', flipBodyByte, /checksum mismatch: the file is corrupt/],
    ['an overwritten header', clobberMagic, /not a checkpoint \(no CNNCKPT1 magic\)/],
  ] as const)('%s: skipped with a message naming the file, the previous one used, same weights', async (label, damage, why) => {
    const dir = damaged(label.replace(/\W+/g, '-'), damage);
    const out = join(root, `resumed-${label.replace(/\W+/g, '-')}`);
    const r = await runCnn(['train', ...RUN, '--out', out, '--checkpoint-dir', dir, '--checkpoint-every', '1000', '--resume']);
    expect(r.code, r.stderr).toBe(0);
    const skipped = r.stderr.split('\n').find((l) => l.includes('skipping unreadable checkpoint'));
    expect(skipped).toContain(name(60));
    expect(skipped).toMatch(why);
    expect(r.stderr).toMatch(/"step":50,[^\n]*"msg":"resuming from checkpoint"/);
    expect(weightsOf(out).equals(reference)).toBe(true);
  }, 120_000);

  it('every checkpoint unreadable: --resume stops with a clear error and starts nothing', async () => {
    const dir = damaged('all', truncate, flipBodyByte);
    const out = join(root, 'resumed-all-damaged');
    const r = await runCnn(['train', ...RUN, '--out', out, '--checkpoint-dir', dir, '--resume']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: --resume: none of the 3 checkpoint\(s\) in \S+ is readable \(newest: \S+ckpt-0000000060\.cnnckpt: truncated.*\); move them away to start from step 0/);
    expect(existsSync(out)).toBe(false);
  }, 120_000);
});
