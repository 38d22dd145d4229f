#!/usr/bin/env node
/**
 * `pnpm bench:crosscheck` (issue 2): is our training PyTorch's arithmetic, and how much of the 1-epoch
 * test accuracy is luck? For each seed, our lenet5 (batch 32, Adam, 1 epoch, fit's single thread)
 * writes its initial weights and its epoch's sample order; torch (bench/torch_crosscheck.py, Debian's
 * python3-torch) then trains from exactly those weights in exactly that order, once with Keras' Adam
 * (our formula) and once with torch.optim.Adam. Reported per seed:
 *   - the largest difference between our loss and torch-with-Keras-Adam's over the first 10 steps:
 *     float rounding (~1e-7) when the arithmetic is the same, far more if anything differs;
 *   - the three test accuracies after the epoch: by then rounding differences have grown into
 *     different trajectories, so their spread is how far one seed's figure can move by rounding alone.
 *
 *   pnpm bench:crosscheck -- --seeds 1 2 3 4 5
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { datasets, epochPermutation, models } from '@cnn/core';
import { parseFlags, runMain } from './lib/flags.mjs';
import { ensurePeer, mnistDataDir, peerPaths } from './lib/peer.mjs';
import { runJsonLines } from './lib/proc.mjs';
import { machineLines } from './lib/report.mjs';
import { BENCH_DIR, REPO_ROOT, commandLine, openSession } from './lib/session.mjs';

const TORCH_SCRIPT = join(BENCH_DIR, 'torch_crosscheck.py');
/** Steps whose losses are compared (the script prints as many). */
const FIRST = 10;
const BATCH = 32;

const DEFAULTS = { seeds: [1, 2, 3, 4, 5], install: true, tag: '', out: undefined };
const SPEC = {
  seeds: { type: 'int', list: true },
  install: { type: 'bool' },
  python: { type: 'string' },
  tag: { type: 'string' },
  out: { type: 'string' },
  help: { type: 'bool' },
};
const USAGE = `usage: pnpm bench:crosscheck -- [--seeds N...] [--no-install] [--python PATH]
  --seeds N...   seeds of our lenet5 (default: ${DEFAULTS.seeds.join(' ')}); about 20 s each on 2 cores`;

/** Our side of one seed: writes the initial weights and the order to `dir`, trains, returns our figures. */
async function ours(seed, dir, data) {
  const m = models.lenet5({ seed });
  m.compile({ loss: 'sparse_categorical_crossentropy', optimizer: 'adam', metrics: ['accuracy'] });
  const weights = m.getWeights();
  weights.forEach((w, i) => writeFileSync(join(dir, `w${i}.f32`), w.dataSync()));
  writeFileSync(join(dir, 'shapes.json'), JSON.stringify(weights.map((w) => w.shape)));
  writeFileSync(join(dir, 'order.i32'), epochPermutation(seed, 0, data.train.x.shape[0]));
  const first = [];
  await m.fit(data.train.x, data.train.y, {
    batchSize: BATCH, epochs: 1, seed,
    callbacks: { onBatchEnd: (b, logs) => void (b < FIRST && first.push(logs.loss)) },
  });
  const [loss, acc] = m.evaluate(data.test.x, data.test.y).map((t) => t.dataSync()[0]);
  return { first_losses: first, test_acc: acc, test_loss: loss };
}

const pct = (v) => `${(v * 100).toFixed(2)}%`;
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

function report(header, rows) {
  const lines = [
    `## bench:crosscheck, run of ${header.started}`,
    '',
    ...machineLines(header),
    '',
    `lenet5, batch ${BATCH}, Adam (lr 1e-3, eps 1e-7), one epoch; torch trains from our initial weights in our order.`,
    '',
    `| seed | first ${FIRST} steps: max abs. loss difference, ours vs torch with Keras' Adam | ours | torch, Keras' Adam | torch, torch.optim.Adam |`,
    '| ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.seed} | ${r.first_diff.toExponential(1)} | ${pct(r.ours)} | ${pct(r.keras)} | ${pct(r.torch)} |`),
    `| mean | | ${pct(mean(rows.map((r) => r.ours)))} | ${pct(mean(rows.map((r) => r.keras)))} | ${pct(mean(rows.map((r) => r.torch)))} |`,
    '',
    'Same arithmetic: the first steps agree to float rounding. After an epoch the three runs of a seed',
    'differ by rounding alone (the same init, order and formulas), so a single seed\'s accuracy is known to',
    'about that spread.',
  ];
  return `${lines.join('\n')}\n`;
}

async function main(argv) {
  const flags = parseFlags(argv, SPEC);
  if (flags.help) return console.log(USAGE);
  const o = { ...DEFAULTS, ...flags };
  const session = openSession({ name: 'crosscheck', command: commandLine('bench:crosscheck', argv), options: o, tag: o.tag, out: o.out });
  const peer = { ...peerPaths(REPO_ROOT, o), script: TORCH_SCRIPT };
  session.header.peer = { ...peer, packages: ensurePeer(peer, { install: o.install, log: session.log }) };
  const data = await datasets.mnist();
  const rows = [];
  for (const seed of o.seeds) {
    const dir = mkdtempSync(join(tmpdir(), `cnn-crosscheck-${seed}-`));
    try {
      const us = await ours(seed, dir, data);
      const env = { ...process.env, OPENBLAS_NUM_THREADS: '1' };
      const [keras, torch] = await Promise.all(['keras', 'torch'].map(async (adam) => {
        const { records } = await runJsonLines(peer.python, [TORCH_SCRIPT, dir, mnistDataDir(), adam], { env });
        return records.find((r) => r.kind === 'crosscheck');
      }));
      session.header.torch_env ??= { torch: keras.torch };
      const firstDiff = Math.max(...us.first_losses.map((l, i) => Math.abs(l - keras.first_losses[i])));
      const row = { seed, first_diff: firstDiff, ours: us.test_acc, keras: keras.test_acc, torch: torch.test_acc };
      session.write({ kind: 'crosscheck', ...row, ours_first: us.first_losses, keras_first: keras.first_losses, torch_version: keras.torch });
      session.log(`seed ${seed}: first ${FIRST} losses within ${firstDiff.toExponential(1)}; ours ${pct(row.ours)}, torch+Keras Adam ${pct(row.keras)}, torch Adam ${pct(row.torch)}`);
      rows.push(row);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  session.finish((h) => report(h, rows));
}

runMain('bench:crosscheck', USAGE, main);
