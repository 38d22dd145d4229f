#!/usr/bin/env node
/**
 * Our side of the benchmark, through @cnn/core's public API only: one measurement per process, as
 * one invocation of ../shared/bench/torch_mnist.py is one on the other side.
 *
 *   node bench/train-throughput.mjs train --model lenet5 --batch 32 --threads 1 --max-steps 160
 *   node bench/train-throughput.mjs train --model lenet5 --batch 32 --seconds 10   (steps = as many as fit)
 *   node bench/train-throughput.mjs infer --model lenet5 --batch 1000
 *   node bench/train-throughput.mjs train --model lenet5 --batch 256 --threads 2 --strategy timed --max-steps 50
 *
 * Warm-up: a throw-away model trains --warmup-steps (30) steps and at least --jit-warmup-seconds (1.5)
 * of training, at most --warmup-seconds (2), on the same thread count, before the timed run. With
 * --warmup-models N (default 1), N - 1 more throw-away models train 0.5 s each before it.
 * The timed run is at most --epochs (1) epochs long.
 *
 * --strategy: auto (1 thread: fit's single-thread strategy; more: @cnn/worker's threads(n)), single,
 * threads (threads(n) even for n = 1), timed (threads(n) with the pool's command timings on, see
 * lib/timed-threads.mjs; the record then carries the pool's per-step figures and raw timings).
 *
 * Prints JSON lines on stdout: {kind:"env"}, then one {kind:"train"} or {kind:"infer"} record.
 * Timing mirrors torch_mnist.py: a throw-away model is trained first (warm-up), then a fresh model
 * trains; the timed window is the batch loop (first batch begins -> last batch ends), and the whole
 * fit() call is recorded beside it.
 */
import { DEFAULTS as CORE_DEFAULTS, datasets, models } from '@cnn/core';
import { CpuMeter, peakRssMb, waitForIdle } from './lib/machine.mjs';
import { UsageError, parseFlags, runMain } from './lib/flags.mjs';
import { summarizePoolTimings } from './lib/pool-timings.mjs';
import { TimedThreads } from './lib/timed-threads.mjs';

const DEFAULTS = {
  threads: 1,
  seed: 1,
  /** torch_mnist.py's default warm-up length. */
  warmupSteps: 30,
  /** Cap on the warm-up: 30 steps of lenet5 at batch 256 take ~15 s on the reference kernels. */
  warmupSeconds: 2,
  /**
   * And ours warms at least this long (capped by warmupSeconds): V8 compiles hot functions in the
   * background for about a second after they first run, on each thread, and on two cores that
   * compilation takes a core from a two-thread step (measured: seed's first epoch at 1.3x one thread,
   * later ones at 1.7-1.8x). Torch, compiled ahead of time, is warm after its 30 steps.
   */
  jitWarmupSeconds: 1.5,
  /**
   * Throw-away models trained before the timed one. V8 settles the field types of the per-fit objects
   * (the pool's setup, the fit state) only once a second and a third model have run through them: the
   * second model of a process recompiles the step's functions on every thread (~120 ms of background
   * compilation, see BENCHMARKS.md). 1 times that second model, as a user's second fit runs; 2 or
   * more time a fit on settled code.
   */
  warmupModels: 1,
  /** The timed run trains at most this many epochs (torch_mnist.py's runs are one epoch). */
  epochs: 1,
  /** Images predicted before the timed pass: the whole test set once, as torch_mnist.py warms up (a 1,000-image warm-up left seed's figure anywhere between 59k and 100k). */
  inferWarmupImages: Number.POSITIVE_INFINITY,
  batch: 32,
  waitIdle: 0,
  strategy: 'auto',
  /** Timed pool commands left out of the summary (the pool's first steps, still warming up). */
  timingSkip: 3,
};

const STRATEGIES = ['auto', 'single', 'threads', 'timed'];

const SPEC = {
  model: { type: 'string', choices: Object.keys(models) },
  batch: { type: 'int' },
  threads: { type: 'int' },
  maxSteps: { type: 'int' },
  seconds: { type: 'float' },
  warmupSteps: { type: 'int' },
  warmupSeconds: { type: 'float' },
  jitWarmupSeconds: { type: 'float' },
  warmupModels: { type: 'int' },
  epochs: { type: 'int' },
  seed: { type: 'int' },
  dataDir: { type: 'string' },
  waitIdle: { type: 'float' },
  strategy: { type: 'string', choices: STRATEGIES },
};

/**
 * The fit strategy for a thread count and --strategy: undefined (fit's own single-thread default),
 * @cnn/worker's `threads(n)`, or that pool with timings (TimedThreads). This is the only place that
 * needs to know how to ask for them.
 */
async function strategyFor(threads, kind = 'auto') {
  if (kind === 'single' || (kind === 'auto' && threads === 1)) {
    if (threads !== 1) throw new UsageError(`--strategy single runs 1 thread, not ${threads}`);
    return undefined;
  }
  if (kind === 'timed') return new TimedThreads(threads);
  const worker = await import('@cnn/worker').catch(() => ({}));
  if (typeof worker.threads !== 'function') {
    throw new UsageError(`--threads ${threads}: @cnn/worker does not export threads() yet; only --threads 1 can run`);
  }
  return worker.threads(threads);
}

function emit(record) {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), side: 'ours', ...record })}\n`);
}

function compiled(name, seed) {
  const m = models[name]({ seed });
  m.compile({ loss: 'sparse_categorical_crossentropy', optimizer: 'adam', metrics: ['accuracy'] });
  return m;
}

/**
 * Trains `m` for `epochs` epochs (one by default) of at most maxSteps steps in all (and, given seconds, stops after the batch that
 * crosses that time). Returns the batch-loop timing and fit()'s.
 */
async function timedFit(m, train, { batch, maxSteps, seconds, threads, strategyKind, epochs = 1, stopWhen }) {
  const meter = new CpuMeter();
  let t0 = 0;
  let loop = null;
  let images = 0;
  let steps = 0;
  // From the end of the first step: a pool's threads finish starting during that step.
  let steadyFrom = 0;
  let steadyImages = 0;
  let lastEnd = 0;
  const callbacks = {
    onBatchBegin: (b) => {
      if (steps === 0 && b === 0) {
        meter.start();
        t0 = performance.now();
      }
    },
    onBatchEnd: (_b, logs) => {
      images += logs.size;
      steps += 1;
      lastEnd = performance.now();
      if (steps === 1) steadyFrom = lastEnd;
      else steadyImages += logs.size;
      const elapsed = (performance.now() - t0) / 1000;
      if ((seconds !== undefined && elapsed >= seconds) || stopWhen?.(steps, elapsed)) m.stopTraining = true;
    },
    onTrainEnd: () => {
      loop = meter.stop();
    },
  };
  // fit prepares and closes the strategy it is given: a pool is started before the first batch, but
  // its threads finish starting (module load, heap attach) during the first step, which is timed;
  // steady_img_per_s leaves that step out.
  const strategy = await strategyFor(threads, strategyKind);
  const fitStart = performance.now();
  const history = await m.fit(train.x, train.y, { batchSize: batch, epochs, maxSteps, callbacks, ...(strategy ? { strategy } : {}) });
  const fitSeconds = (performance.now() - fitStart) / 1000;
  const steady = steps > 1 ? steadyImages / ((lastEnd - steadyFrom) / 1000) : null;
  return { loop, fitSeconds, images, steps, steady, loss: history.history.loss?.at(-1) ?? null, strategy: strategy?.name ?? 'single-thread', poolTimings: strategy?.timings ?? null };
}

async function train(o, ds) {
  const stepsPerEpoch = Math.ceil(ds.train.x.shape[0] / o.batch);
  if (o.maxSteps === undefined && o.seconds === undefined) throw new UsageError('train needs --max-steps N or --seconds S');
  const cap = o.epochs * stepsPerEpoch;
  const maxSteps = Math.min(o.maxSteps ?? cap, cap);

  const fitOptions = { batch: o.batch, threads: o.threads, strategyKind: o.strategy };
  for (let k = 1; k < o.warmupModels; k++) {
    await timedFit(compiled(o.model, o.seed + 999 + k), ds.train, { ...fitOptions, epochs: 1000, maxSteps: Number.MAX_SAFE_INTEGER, seconds: 0.5 });
  }
  const warm = compiled(o.model, o.seed + 999);
  // The warm-up runs on threads of the same count, which the timed fit then leases warm.
  const w = await timedFit(warm, ds.train, {
    ...fitOptions, epochs: 1000, maxSteps: Number.MAX_SAFE_INTEGER, seconds: o.warmupSeconds,
    // seconds caps the warm-up at --warmup-seconds whatever jitWarmupSeconds says.
    stopWhen: (steps, elapsed) => steps >= o.warmupSteps && elapsed >= o.jitWarmupSeconds,
  });

  const m = compiled(o.model, o.seed);
  const idle = await waitForIdle(o.waitIdle);
  const r = await timedFit(m, ds.train, { ...fitOptions, epochs: o.epochs, maxSteps, seconds: o.seconds });
  const pool = r.poolTimings && { pool: summarizePoolTimings(r.poolTimings, { skip: DEFAULTS.timingSkip, loopSeconds: r.loop.wall }), pool_timings: r.poolTimings };
  emit({
    kind: 'train', model: o.model, params: m.countParams(), batch: o.batch, threads: o.threads, strategy: r.strategy,
    steps: r.steps, images: r.images, seconds: r.loop.wall, img_per_s: r.images / r.loop.wall, steady_img_per_s: r.steady,
    fit_seconds: r.fitSeconds, fit_img_per_s: r.images / r.fitSeconds,
    own_cpu_s: r.loop.ownCpu, others_cores: r.loop.othersCores, idle_wait_s: idle.waited,
    train_loss: r.loss, warmup_steps: w.steps, warmup_seconds: w.loop.wall, warmup_models: o.warmupModels,
    full_epoch: r.steps === stepsPerEpoch, epochs: r.steps / stepsPerEpoch, max_rss_mb: process.resourceUsage().maxRSS / 1024, vm_hwm_mb: peakRssMb(),
    ...pool,
  });
}

async function infer(o, ds) {
  const m = compiled(o.model, o.seed);
  const x = ds.test.x;
  m.predict(x.slice(0, Math.min(DEFAULTS.inferWarmupImages, x.shape[0])), { batchSize: o.batch });
  const idle = await waitForIdle(o.waitIdle);
  const meter = new CpuMeter().start();
  m.predict(x, { batchSize: o.batch });
  const t = meter.stop();
  const n = x.shape[0];
  emit({
    kind: 'infer', model: o.model, params: m.countParams(), batch: o.batch, threads: 1, images: n,
    seconds: t.wall, img_per_s: n / t.wall, own_cpu_s: t.ownCpu, others_cores: t.othersCores,
    idle_wait_s: idle.waited, max_rss_mb: process.resourceUsage().maxRSS / 1024, vm_hwm_mb: peakRssMb(),
    chunk: CORE_DEFAULTS.inferenceChunk,
  });
}

async function main(argv) {
  const [mode, ...rest] = argv;
  if (mode !== 'train' && mode !== 'infer') throw new UsageError(`first argument must be 'train' or 'infer', got '${mode ?? ''}'`);
  const o = { ...DEFAULTS, ...parseFlags(rest, SPEC) };
  if (!o.model) throw new UsageError('--model is required');
  const ds = o.dataDir ? datasets.fromDirectory(o.dataDir, 'mnist') : await datasets.mnist();
  emit({ kind: 'env', node: process.version, v8: process.versions.v8, data_dir: o.dataDir ?? '(datasets.mnist())', pid: process.pid });
  await (mode === 'train' ? train(o, ds) : infer(o, ds));
}

runMain('train-throughput', '', main);
