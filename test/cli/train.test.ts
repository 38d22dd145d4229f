import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sequential } from '@cnn/core';
import { describe, expect, it } from 'vitest';
import { CNN_BIN, runCnn, start, tempDir, waitFor, weightsOf } from '../cli-helpers.js';

describe('cnn train', () => {
  it('trains on threads and leaves a loadable run folder', async () => {
    const out = join(tempDir('train'), 'run');
    const r = await runCnn(['train', '--model', 'seed', '--max-steps', '40', '--threads', '2', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/2 thread\(s\)/);
    expect(r.stdout).toMatch(/Epoch 1\/1 {2}loss \d+\.\d{4} {2}accuracy [\d.]+% {2}val_loss [\d.]+ {2}val_accuracy [\d.]+% {2}[\d,]+ img\/s/);
    for (const f of ['model.json', 'weights.bin', 'optimizer.bin', 'metrics.jsonl', 'config.json']) expect(existsSync(join(out, f)), f).toBe(true);
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    // Steps are numbered as they happen (1..40), not after fit returns.
    expect(lines.filter((l) => l.event === 'step').map((l) => l.step)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(lines.at(-1)).toMatchObject({ event: 'epoch', epoch: 1 });
    const model = await Sequential.load(out);
    expect(model.iterations).toBe(40);
  });

  it('rejects bad flags with a usage error', async () => {
    const bad = await runCnn(['train', '--batch-size', 'zero']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--batch-size must be a positive integer/);
    const unknown = await runCnn(['train', '--bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option '--bogus'/);
    const model = await runCnn(['train', '--model', 'resnet']);
    expect(model.code).toBe(1);
    expect(model.stderr).toMatch(/not a built-in model \(seed, lenet5, convnet\)/);
  });

  it('stops cleanly on Ctrl-C and says where the state is', async () => {
    const out = join(tempDir('sigint'), 'run');
    const run = start(CNN_BIN, ['train', '--model', 'lenet5', '--threads', '2', '--out', out]);
    const metrics = join(out, 'metrics.jsonl');
    await waitFor(() => existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').length > 3, 60_000, 'a few training steps');
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(new RegExp(`Interrupted at step (\\d+); the model and optimizer state are saved in ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const step = Number(/Interrupted at step (\d+)/.exec(r.stderr)![1]);
    const model = await Sequential.load(out);
    expect(model.iterations).toBe(step);
  });

  it('--resume with a longer --epochs trains a finished run further, to the weights of a run that long', async () => {
    const root = tempDir('extend');
    // --seed and --batch-size on the second command are ignored: the checkpoint's settings fix the arithmetic.
    const run = ['--model', 'seed', '--batch-size', '256', '--threads', '1', '--quiet', '--no-report', '--log-level', 'info'];
    const checkpoints = join(root, 'checkpoints');
    const first = await runCnn(['train', ...run, '--seed', '5', '--epochs', '1', '--out', join(root, 'first'), '--checkpoint-dir', checkpoints]);
    expect(first.code, first.stderr).toBe(0);
    const longer = await runCnn(['train', ...run.map((a) => (a === '256' ? '128' : a)), '--seed', '6', '--epochs', '2', '--out', join(root, 'longer'), '--checkpoint-dir', checkpoints, '--resume']);
    expect(longer.code, longer.stderr).toBe(0);
    expect(longer.stderr).toMatch(/"step":235,"epochs":2,[^\n]*"msg":"resuming from checkpoint"/);
    const reference = await runCnn(['train', ...run, '--seed', '5', '--epochs', '2', '--out', join(root, 'reference')]);
    expect(reference.code, reference.stderr).toBe(0);
    expect(weightsOf(join(root, 'longer')).equals(weightsOf(join(root, 'reference')))).toBe(true);
    expect((await Sequential.load(join(root, 'longer'))).iterations).toBe(470);

    // Without a length flag the checkpoint's length holds: the finished run is not trained again.
    const again = await runCnn(['train', ...run, '--out', join(root, 'again'), '--checkpoint-dir', checkpoints, '--resume']);
    expect(again.code, again.stderr).toBe(0);
    expect(weightsOf(join(root, 'again')).equals(weightsOf(join(root, 'reference')))).toBe(true);
  }, 120_000);
});
