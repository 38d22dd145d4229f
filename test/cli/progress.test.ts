import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CNN_BIN, runCnn, start, tempDir, waitFor } from '../cli-helpers.js';
import { COORDINATOR_BIN, type Proc, expectExit, freePort, startHost } from '../cluster-helpers.js';
import { events, hasScript, runOnTerminal, writeSmallMnist } from './fixtures.js';

// 2,000 training images at batch 32: 63 steps per epoch, a few seconds per run.
const STEPS_PER_EPOCH = 63;
const EPOCH_LINE = /^Epoch 1\/1 {2}loss \d+\.\d{4} {2}accuracy [\d.]+% {2}val_loss \d+\.\d{4} {2}val_accuracy [\d.]+% {2}[\d,]+ img\/s {2}\(\d+\.\d s\)$/;
const RESULT_LINE = /^Test accuracy: [\d.]+% {2}\(saved to .+\)$/;

let data: string;
let root: string;
const train = (args: string[]) => ['train', '--model', 'seed', '--dataset', data, '--threads', '2', '--no-report', ...args];

beforeAll(async () => {
  root = tempDir('progress');
  data = await writeSmallMnist(join(root, 'data'), 2000, 300);
});

describe('cnn train output modes', () => {
  it('--json prints one event per line: start, steps in order, epoch, end', async () => {
    const out = join(root, 'json');
    const r = await runCnn(train(['--json', '--progress-every', '0', '--out', out]));
    expect(r.code, r.stderr).toBe(0);
    const list = events(r.stdout);
    expect(list[0]).toMatchObject({ event: 'start', model: 'seed', params: 10180, trainImages: 2000, testImages: 300, batchSize: 32, stepsPerEpoch: STEPS_PER_EPOCH, steps: STEPS_PER_EPOCH, threads: 2 });
    expect(list[0]).not.toHaveProperty('hosts');
    const steps = list.filter((e) => e.event === 'step');
    expect(steps.map((e) => e.step)).toEqual(Array.from({ length: STEPS_PER_EPOCH }, (_, i) => i + 1));
    for (const s of steps) {
      expect(s).toMatchObject({ epoch: 1, epochs: 1, batches: STEPS_PER_EPOCH });
      expect(s.loss).toBeGreaterThan(0);
      expect(s.accuracy).toBeGreaterThanOrEqual(0);
      expect(s.imagesPerSecond).toBeGreaterThan(0);
    }
    expect(steps.at(-1)!.etaSeconds).toBe(0);
    expect(list.map((e) => e.event)).toEqual(['start', ...steps.map(() => 'step'), 'epoch', 'end']);
    const epoch = list.at(-2)!;
    expect(epoch).toMatchObject({ event: 'epoch', epoch: 1, epochs: 1, step: STEPS_PER_EPOCH });
    expect(epoch.valAccuracy).toBeGreaterThan(0.5);
    expect(list.at(-1)).toEqual({ event: 'end', runDir: out, steps: STEPS_PER_EPOCH, interrupted: false, testAccuracy: epoch.valAccuracy, report: [] });
  });

  it('--json throttles step events by time', async () => {
    const r = await runCnn(train(['--json', '--progress-every', '60', '--out', join(root, 'json-throttled')]));
    expect(r.code, r.stderr).toBe(0);
    // The first step is reported at once, then none for a minute: this run is over before that.
    expect(events(r.stdout).map((e) => e.event)).toEqual(['start', 'step', 'epoch', 'end']);
  });

  it('prints plain lines when stdout is not a terminal: start, steps, the epoch line, the result', async () => {
    const r = await runCnn(train(['--progress-every', '0', '--out', join(root, 'plain')]));
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^Training seed \(10,180 params\) on data: 2000 images, batch 32, 1 epoch\(s\), adam, seed 1, 2 thread\(s\)$/);
    const stepLines = lines.filter((l) => / step \d+\//.test(l));
    // Every step but the last, which the epoch line reports.
    expect(stepLines).toHaveLength(STEPS_PER_EPOCH - 1);
    expect(stepLines[9]).toMatch(/^Epoch 1\/1 {2}step 10\/63 {2}loss \d+\.\d{4} {2}accuracy [\d.]+% {2}[\d,]+ img\/s {2}ETA (\d+ s|\d+:\d\d)$/);
    expect(lines.at(-2)).toMatch(EPOCH_LINE);
    expect(lines.at(-1)).toMatch(RESULT_LINE);
    expect(r.stdout).not.toMatch(/\x1b|\r/);
  });

  it('--quiet prints only the result line', async () => {
    const r = await runCnn(train(['--quiet', '--out', join(root, 'quiet')]));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stdout.trim()).toMatch(RESULT_LINE);
  });

  it('rejects --json with --quiet, and a bad --progress-every', async () => {
    const both = await runCnn(['train', '--json', '--quiet']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/option '--json' cannot be used with option '--quiet'/);
    const bad = await runCnn(['train', '--progress-every', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--progress-every must be a number of seconds/);
  });

  it.skipIf(!hasScript)('draws a bar redrawn in place on a terminal, replaced by the epoch line', async () => {
    const r = await runOnTerminal(CNN_BIN, train(['--epochs', '2', '--out', join(root, 'tty')]));
    expect(r.code, r.output).toBe(0);
    // A bar line: the epoch, the bar, step/steps, ETA, running loss and accuracy, throughput.
    expect(r.output).toMatch(/Epoch 1\/2 [█░]+ \d+\/63 {2}ETA (\d+ s|\d+:\d\d|--) {2}loss \d+\.\d{4} {2}acc [\d.]+% {2}[\d,]+ img\/s/);
    expect(r.output).toMatch(/Epoch 2\/2 [█░]+ \d+\/63/);
    // Redrawn in place (carriage return / cursor to column 1), then cleared for the epoch line.
    expect(r.output).toMatch(/\x1b\[1G/);
    const plain = r.output.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, '');
    expect(plain).toMatch(/Epoch 1\/2 {2}loss \d+\.\d{4} {2}accuracy [\d.]+% {2}val_loss/);
    expect(plain).toMatch(/Epoch 2\/2 {2}loss \d+\.\d{4} {2}accuracy [\d.]+% {2}val_loss/);
    expect(plain.trim().split(/\r?\n/).at(-1)).toMatch(RESULT_LINE);
  });
});

/**
 * Starts a coordinator and reads its join URL from stdout or the log (cluster-helpers' startCoordinator
 * reads the text line, which --json and --quiet replace).
 */
async function coordinator(args: string[]): Promise<Proc & { url: string }> {
  const p = start(COORDINATOR_BIN, ['start', '--port', '0', '--log-level', 'info', ...args]);
  const url = /cnn-worker join (wss?:\/\/[\w.:[\]-]+)/;
  let exited = false;
  void p.done.then(() => (exited = true));
  await waitFor(() => url.test(p.output()) || exited, 60_000, 'the coordinator to listen');
  const m = url.exec(p.output());
  if (!m) throw new Error(`coordinator exited before listening:\n${p.output()}`);
  return { ...p, url: m[1] };
}

describe('cnn-coordinator start output modes', () => {
  it('--json reports the hosts connected in the start, step and epoch events', async () => {
    const out = join(root, 'coordinator');
    const c = await coordinator(['--json', '--progress-every', '0', '--model', 'seed', '--dataset', data, '--local-threads', '1', '--min-hosts', '1', '--no-report', '--out', out]);
    const host = startHost(c.url, ['--threads', '1', '--reconnect-for', '5']);
    const r = await expectExit(c, 0);
    await expectExit(host, 0);
    const list = events(r.stdout);
    expect(list[0]).toMatchObject({ event: 'listening', joinCommand: expect.stringMatching(/^cnn-worker join ws:\/\/127\.0\.0\.1:\d+$/) });
    expect(list[1]).toMatchObject({ event: 'start', hosts: 2, threads: 2, steps: STEPS_PER_EPOCH });
    const steps = list.filter((e) => e.event === 'step');
    expect(steps).toHaveLength(STEPS_PER_EPOCH);
    for (const s of steps) expect(s.hosts).toBe(2);
    expect(list.at(-2)).toMatchObject({ event: 'epoch', epoch: 1, hosts: 2 });
    expect(list.at(-1)).toMatchObject({ event: 'end', runDir: out, steps: STEPS_PER_EPOCH, interrupted: false });
  });

  it('--quiet prints only the result line (the join command is in the log)', async () => {
    const c = await coordinator(['--quiet', '--model', 'seed', '--dataset', data, '--local-threads', '1', '--min-hosts', '1', '--no-report', '--out', join(root, 'coordinator-quiet')]);
    const host = startHost(c.url, ['--threads', '1', '--reconnect-for', '5']);
    const r = await expectExit(c, 0);
    await expectExit(host, 0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stdout.trim()).toMatch(RESULT_LINE);
    expect(r.stderr).toMatch(/cnn-worker join ws:/);
  });

  it.skipIf(!hasScript)('draws the bar on a terminal with the hosts, and writes its logs below it', async () => {
    const port = await freePort();
    const run = runOnTerminal(COORDINATOR_BIN, ['start', '--port', String(port), '--model', 'seed', '--dataset', data, '--epochs', '2', '--local-threads', '1', '--min-hosts', '1', '--no-report', '--log-level', 'info', '--out', join(root, 'coordinator-tty')]);
    // The host retries until the coordinator listens.
    const host = startHost(`ws://127.0.0.1:${port}`, ['--threads', '1', '--reconnect-for', '30']);
    const r = await run;
    await expectExit(host, 0);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/Epoch 1\/2 [█░]+ \d+\/63 {1,2}ETA .+ hosts 2/);
    // "epoch done" is logged while the bar is live: the line is cleared first, the bar redrawn after.
    expect(r.output).toMatch(/\x1b\[1G\x1b\[2K[^\n]*epoch done/);
    const plain = r.output.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, '');
    expect(plain).toMatch(/Epoch 2\/2 {2}loss \d+\.\d{4} {2}accuracy [\d.]+% {2}val_loss/);
    expect(plain.trim().split(/\r?\n/).at(-1)).toMatch(RESULT_LINE);
  });
});
