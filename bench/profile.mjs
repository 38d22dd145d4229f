#!/usr/bin/env node
/**
 * `pnpm bench:profile` (issue 5): where one training step's time goes, op by op, on the reference
 * TypeScript kernels ("before") and the WebAssembly SIMD kernels ("after"), on one thread, in one
 * process, the two alternating in rounds.
 *
 * The step is core's own: sumBlock over the whole canonical tree (gather, forward, fused loss,
 * accuracy count, backward, tree additions, for every micro-shard) and then the kernel set's
 * applyUpdate, exactly as fit's single-thread strategy runs it. Nothing in core is changed for it:
 *   - the Workspace is built on a timing wrapper of the kernel set (Workspace takes its kernels), so
 *     every kernel call is timed and booked to the layer whose output (gradient) buffer it works on:
 *     conv forward / backward-input / backward-filter, dense, pooling, activations; addInto outside
 *     the layers is the tree's addition, applyUpdate the optimizer;
 *   - that workspace is a subclass timing its forward and backward passes whole, so the passes' time
 *     outside kernels (layers' own JavaScript: dropout masks, copies) shows too;
 *   - the loss object handed to the step is a timing wrapper of the model's;
 *   - what is left of the step (gather, accuracy count, the tree's bookkeeping) is the remainder;
 *     gather alone is timed apart on the same samples.
 * Plain steps (no wrappers, a plain Workspace) alternate with the profiled ones, so the table also
 * shows what the profiling costs. Needs the built packages.
 *
 *   node bench/profile.mjs [--models lenet5] [--batch-sizes 256] [--kernels reference wasm] [--rounds 3] [--seconds 1]
 *   node bench/profile.mjs --jsonl     (JSON lines on stdout, for bench/run.mjs)
 */
import {
  DEFAULTS as CORE, Workspace, datasets, epochPermutation, gatherInputs, gatherTargets, heapArenaFor, kernelsModule, models,
  processHeap, referenceKernels, shardCount, slotsForBlock, sumBlock, treeSpan, wasmKernelSet, WasmKernels,
} from '@cnn/core';
import { parseFlags, runMain } from './lib/flags.mjs';
import { CpuMeter } from './lib/machine.mjs';
import { machineLines, median } from './lib/report.mjs';
import { commandLine, openSession } from './lib/session.mjs';

const DEFAULTS = {
  models: ['seed', 'lenet5', 'convnet'],
  batchSizes: [32, 256],
  kernels: ['reference', 'wasm'],
  /** Rounds per kernel set; each round runs profiled and plain steps for --seconds each. Medians over rounds. */
  rounds: 3,
  seconds: 1,
  microBatch: CORE.microBatchSize,
  seed: 1,
  jsonl: false,
  tag: '',
  out: undefined,
};

const SPEC = {
  models: { type: 'string', list: true, choices: Object.keys(models) },
  batchSizes: { type: 'int', list: true },
  kernels: { type: 'string', list: true, choices: ['reference', 'wasm'] },
  rounds: { type: 'int' },
  seconds: { type: 'float' },
  microBatch: { type: 'int' },
  seed: { type: 'int' },
  jsonl: { type: 'bool' },
  tag: { type: 'string' },
  out: { type: 'string' },
  help: { type: 'bool' },
};

const USAGE = `usage: pnpm bench:profile -- [flags]   (or: node bench/profile.mjs [flags] after pnpm run build)
  --models M...        (default: ${DEFAULTS.models.join(' ')})
  --batch-sizes B...   (default: ${DEFAULTS.batchSizes.join(' ')})
  --kernels K...       reference | wasm (default: both, alternating)
  --rounds R           (default ${DEFAULTS.rounds}); --seconds S per round and kind of step (default ${DEFAULTS.seconds})
  --micro-batch B      samples per micro-shard (default: @cnn/core's ${DEFAULTS.microBatch})
  --jsonl              print JSON lines (records, then the report) instead of writing bench/results/`;

/** Kernel names as the profile reports them, and which argument names the layer (its y or dy buffer). */
const OPS = {
  conv2dForward: ['conv fwd', 6], conv2dBackwardInput: ['conv bwd-input', 3], conv2dBackwardFilter: ['conv bwd-filter', 4],
  denseForward: ['dense fwd', 6], denseBackwardInput: ['dense bwd-input', 3], denseBackwardFilter: ['dense bwd-filter', 4],
  extremePoolForward: ['pool fwd', 4], extremePoolBackward: ['pool bwd', 3], avgPoolForward: ['pool fwd', 3], avgPoolBackward: ['pool bwd', 2],
  activationForward: ['activation fwd', 4], activationBackward: ['activation bwd', 4],
  addInto: ['tree addition', -1], applyUpdate: ['optimizer', -1],
};

/** Categories of the summary table (issue 5's list). */
function category(op) {
  if (op.startsWith('conv ')) return op;
  if (op.startsWith('dense')) return 'dense (fwd + bwd)';
  if (op.startsWith('pool')) return 'pooling';
  if (op.startsWith('activation')) return 'activations (not fused)';
  return op;
}

/** Accumulates milliseconds per key (in first-seen order, which is the step's order). */
class Buckets {
  map = new Map();
  /** Kernel ms since the last take() (what a forward or backward pass spent in kernels). */
  kernelMs = 0;
  add(key, ms) {
    this.map.set(key, (this.map.get(key) ?? 0) + ms);
  }
  take() {
    const ms = this.kernelMs;
    this.kernelMs = 0;
    return ms;
  }
}

/**
 * A kernel set whose every kernel call is timed into `buckets`, under the layer whose output (or
 * output gradient) buffer it writes or reads: `owner` maps the workspace's act/grad views to labels.
 * addInto outside a layer is the tree's addition; applyUpdate the optimizer.
 */
function timingKernels(k, buckets, owner) {
  const t = { ...k };
  for (const [name, [op, arg]] of Object.entries(OPS)) {
    const f = k[name];
    t[name] = (...args) => {
      const t0 = performance.now();
      f(...args);
      const ms = performance.now() - t0;
      buckets.add(`${(arg >= 0 && owner.get(args[arg])) || 'step'}|${op}`, ms);
      buckets.kernelMs += ms;
    };
  }
  return t;
}

function layerLabel(layer, i) {
  const c = layer.getConfig();
  const shape = (s) => s.join('x');
  if (layer.className === 'Conv2D') return `${c.name} ${c.kernelSize.join('x')}, ${layer.inputShape[2]}→${c.filters}, ${shape(layer.outputShape)}`;
  if (layer.className === 'Dense') return `${c.name} ${layer.inputShape[0]}→${c.units}`;
  return `${c.name ?? `${layer.className}_${i}`} ${shape(layer.outputShape)}`;
}

/** Layer labels by the workspace's buffers: act{i+1} is layer i's output, grad{i+1} its output gradient. */
function ownersOf(network, views) {
  const owner = new Map();
  network.layers.forEach((layer, i) => {
    const label = layerLabel(layer, i);
    for (const name of [`act${i + 1}`, `grad${i + 1}`]) if (views.has(name)) owner.set(views.get(name), label);
  });
  return owner;
}

/**
 * The profiled workspace: its passes are timed whole, and what they spent outside kernels (layers'
 * own JavaScript: dropout masks, copies, the loop over layers) is booked apart. A subclass, so the
 * plain workspace and the layers stay untouched.
 */
class TimedWorkspace extends Workspace {
  buckets = null;

  forward(...args) {
    this.#timed('forward', () => super.forward(...args));
  }

  backward(...args) {
    this.#timed('backward', () => super.backward(...args));
  }

  #timed(pass, run) {
    this.buckets.take();
    const t0 = performance.now();
    run();
    const ms = performance.now() - t0;
    this.buckets.add(`step|layers' own JS, ${pass}`, ms - this.buckets.take());
  }
}

function kernelSet(name) {
  return name === 'reference' ? referenceKernels : wasmKernelSet(new WasmKernels(processHeap(), kernelsModule()));
}

/** Everything one (model, batch, kernel set) profile needs, built once. */
function setup(name, batch, o, ds, kernelsName) {
  const m = models[name]({ seed: o.seed });
  m.compile({ loss: 'sparse_categorical_crossentropy', optimizer: 'adam', metrics: ['accuracy'] });
  const network = m.network;
  const shards = shardCount(batch, o.microBatch);
  const span = treeSpan(shards);
  const options = { capacity: o.microBatch, training: true, gradSlots: slotsForBlock(span) };
  const k = kernelSet(kernelsName);
  const buckets = new Buckets();
  const owner = new Map();
  const timed = timingKernels(k, buckets, owner);
  const { views } = heapArenaFor(Workspace.requests(network, options, timed));
  for (const [view, label] of ownersOf(network, views)) owner.set(view, label);
  const profiledWs = new TimedWorkspace(network, m.params, options, views, timed);
  profiledWs.buckets = buckets;
  const plainWs = new Workspace(network, m.params, options, heapArenaFor(Workspace.requests(network, options, k)).views, k);
  const loss = m.loss;
  const timedLoss = Object.create(loss);
  timedLoss.compute = (...args) => {
    const t0 = performance.now();
    const v = loss.compute(...args);
    buckets.add('step|loss (softmax + cross-entropy)', performance.now() - t0);
    return v;
  };
  const n = ds.train.x.shape[0];
  const order = epochPermutation(o.seed, 0, n, new Int32Array(n));
  const stepsPerEpoch = Math.floor(n / batch);
  return { m, network, k, timed, buckets, profiledWs, plainWs, loss, timedLoss, order, stepsPerEpoch, span, shards, step: 0, ds, batch, o };
}

function job(s, loss) {
  const batchStart = (s.step % s.stepsPerEpoch) * s.batch;
  return {
    x: s.ds.train.x, y: s.ds.train.y, indices: s.order, batchStart, batchSize: s.batch, microBatch: s.o.microBatch,
    seed: s.o.seed, step: s.step, loss, fuseSoftmax: s.m.fusesSoftmax,
  };
}

/** One step as fit's single-thread strategy runs it: sumBlock over the tree, then the update. */
function runStep(s, ws, kernels, loss) {
  const j = job(s, loss);
  const sum = sumBlock(ws, j, 0, s.span);
  kernels.applyUpdate(s.m.optimizer, s.m.params, sum.grad, s.m.optimizerSlots, j.batchSize, s.step + 1);
  s.step += 1;
}

/** Gathers the step's inputs and targets alone (what sumBlock does before each forward). */
function gatherOnly(s, ws) {
  const j = job(s, s.loss);
  const width = s.network.outputSize;
  for (let shard = 0; shard < s.shards; shard++) {
    const first = shard * j.microBatch;
    const n = Math.min(j.microBatch, j.batchSize - first);
    gatherInputs(j.x, j.indices, j.batchStart + first, n, ws);
    gatherTargets(j.y, s.loss.sparseTargets, width, j.indices, j.batchStart + first, n, ws.sparseTargetSet, ws.denseTargetSet);
  }
}

/** One round: profiled steps for `seconds`, gather alone as often, plain steps for `seconds`. */
function round(s, seconds) {
  s.buckets.map.clear();
  let profiledMs = 0;
  let steps = 0;
  const meter = new CpuMeter().start();
  do {
    const t0 = performance.now();
    runStep(s, s.profiledWs, s.timed, s.timedLoss);
    profiledMs += performance.now() - t0;
    steps += 1;
  } while (profiledMs < seconds * 1000);
  const t1 = performance.now();
  for (let i = 0; i < steps; i++) gatherOnly(s, s.plainWs);
  const gatherMs = (performance.now() - t1) / steps;
  let plainMs = 0;
  let plainSteps = 0;
  do {
    const t0 = performance.now();
    runStep(s, s.plainWs, s.k, s.loss);
    plainMs += performance.now() - t0;
    plainSteps += 1;
  } while (plainMs < seconds * 1000);
  const usage = meter.stop();
  const perStep = new Map([...s.buckets.map].map(([key, ms]) => [key, ms / steps]));
  const accounted = [...perStep.values()].reduce((a, b) => a + b, 0);
  const profiled = profiledMs / steps;
  return { steps, profiled, plain: plainMs / plainSteps, plainSteps, perStep, gather: gatherMs, rest: profiled - accounted, othersCores: usage.othersCores };
}

/** Medians over rounds, as rows in step order, with the remainder split into gather and the rest. */
function combine(rounds) {
  const keys = [...new Set(rounds.flatMap((r) => [...r.perStep.keys()]))];
  const med = (f) => median(rounds.map(f));
  const rows = keys.map((key) => {
    const [layer, op] = key.split('|');
    return { layer, op, ms: med((r) => r.perStep.get(key) ?? 0) };
  });
  const gather = med((r) => r.gather);
  const rest = med((r) => r.rest);
  rows.push({ layer: 'step', op: 'gather (timed apart)', ms: Math.min(gather, rest) });
  rows.push({ layer: 'step', op: 'accuracy count + tree bookkeeping (remainder)', ms: Math.max(0, rest - gather) });
  const profiled = med((r) => r.profiled);
  for (const r of rows) r.share = r.ms / profiled;
  return { rows, profiled, plain: med((r) => r.plain), others_cores: med((r) => r.othersCores), rounds: rounds.map((r) => ({ steps: r.steps, profiled_ms: r.profiled, plain_ms: r.plain, plain_steps: r.plainSteps })) };
}

const fixedMs = (v) => (v == null ? '-' : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3));
const pct = (v) => (v == null ? '-' : `${(v * 100).toFixed(1)}%`);

function modelMarkdown(model, batch, micro, byKernels) {
  const names = Object.keys(byKernels);
  const md = [`#### ${model}, batch ${batch} (micro-batch ${micro}, ${shardCount(batch, micro)} shards), one thread`, ''];
  md.push(`| layer | op | ${names.map((n) => `${n} ms/step | ${n} share`).join(' | ')}${names.length === 2 ? ' | speedup' : ''} |`,
    `| --- | --- | ${names.map(() => '---: | ---:').join(' | ')}${names.length === 2 ? ' | ---:' : ''} |`);
  const keys = [...new Map(names.flatMap((n) => byKernels[n].rows.map((r) => [`${r.layer}|${r.op}`, r]))).keys()];
  for (const key of keys) {
    const [layer, op] = key.split('|');
    const cells = names.map((n) => byKernels[n].rows.find((r) => r.layer === layer && r.op === op));
    const speed = names.length === 2 && cells[0] && cells[1]?.ms > 0 ? `${(cells[0].ms / cells[1].ms).toFixed(1)}x` : '-';
    md.push(`| ${layer === 'step' ? '(step)' : layer} | ${op} | ${cells.map((c) => `${fixedMs(c?.ms)} | ${pct(c?.share)}`).join(' | ')}${names.length === 2 ? ` | ${speed}` : ''} |`);
  }
  const total = (n) => byKernels[n];
  md.push(`| **step, profiled** | | ${names.map((n) => `**${fixedMs(total(n).profiled)}** | 100%`).join(' | ')}${names.length === 2 ? ` | ${(total(names[0]).profiled / total(names[1]).profiled).toFixed(1)}x` : ''} |`);
  md.push(`| step, plain (no wrappers) | | ${names.map((n) => `${fixedMs(total(n).plain)} | ${pct(total(n).profiled / total(n).plain - 1)} profiling cost`).join(' | ')}${names.length === 2 ? ` | ${(total(names[0]).plain / total(names[1]).plain).toFixed(1)}x` : ''} |`);
  md.push(`| images/s (plain step) | | ${names.map((n) => `${Math.round(batch / total(n).plain * 1000).toLocaleString('en-US')} |`).join(' | ')}${names.length === 2 ? ' |' : ''} |`);
  md.push('', `By category (${names.join(' / ')}, share of the profiled step):`, '');
  const cats = new Map();
  for (const n of names) {
    for (const r of byKernels[n].rows) {
      const c = category(r.op);
      const e = cats.get(c) ?? {};
      e[n] = (e[n] ?? 0) + r.share;
      cats.set(c, e);
    }
  }
  md.push([...cats].sort((a, b) => (b[1][names.at(-1)] ?? 0) - (a[1][names.at(-1)] ?? 0)).map(([c, e]) => `${c} ${names.map((n) => pct(e[n])).join(' / ')}`).join('; '));
  return md;
}

function markdown(header, results, o) {
  const md = [`## bench:profile, run of ${header.started}`, '', ...machineLines(header), '',
    '### Per-op profile of one training step (fit\'s single-thread step: sumBlock over the canonical tree + applyUpdate)', '',
    'Each kernel call timed through a wrapper of the kernel set and booked to the layer whose buffers it works on; "(step)" rows are outside the layers: ' +
    'the loss, the tree\'s additions, the optimizer, the passes\' time outside kernels (layers\' own JavaScript: dropout masks, copies, the loop over layers), gather. ' +
    'relu is fused into conv/dense kernels (no activation row); the seed model\'s separate relu layer is an "activation" row. ' +
    `Medians over ${o.rounds} rounds; the kernel sets alternate by round.`, ''];
  for (const r of results) md.push(...modelMarkdown(r.model, r.batch, o.microBatch, r.byKernels), '');
  return `${md.join('\n')}\n`;
}

async function profile(o, log = () => {}) {
  const ds = await datasets.mnist();
  const results = [];
  for (const model of o.models) {
    for (const batch of o.batchSizes) {
      const sets = Object.fromEntries(o.kernels.map((k) => [k, setup(model, batch, o, ds, k)]));
      for (const s of Object.values(sets)) runStep(s, s.plainWs, s.k, s.loss); // warm-up
      const rounds = Object.fromEntries(o.kernels.map((k) => [k, []]));
      for (let i = 0; i < o.rounds; i++) {
        // Alternate which set goes first, so a drift of the machine does not favour one.
        const order = i % 2 === 0 ? o.kernels : [...o.kernels].reverse();
        for (const k of order) rounds[k].push(round(sets[k], o.seconds));
      }
      const byKernels = Object.fromEntries(o.kernels.map((k) => [k, combine(rounds[k])]));
      results.push({ model, batch, byKernels });
      log(`${model} batch ${batch}: ${o.kernels.map((k) => `${k} ${fixedMs(byKernels[k].plain)} ms/step`).join(', ')}`);
    }
  }
  return results;
}

async function main(argv) {
  const flags = parseFlags(argv, SPEC);
  if (flags.help) return console.log(USAGE);
  const o = { ...DEFAULTS, ...flags };
  if (o.jsonl) {
    const results = await profile(o, (m) => process.stderr.write(`[bench:profile] ${m}\n`));
    for (const r of results) process.stdout.write(`${JSON.stringify({ kind: 'profile', micro_batch: o.microBatch, ...r })}\n`);
    process.stdout.write(`${JSON.stringify({ kind: 'profile_markdown', markdown: results.flatMap((r) => modelMarkdown(r.model, r.batch, o.microBatch, r.byKernels).concat([''])).join('\n') })}\n`);
    return;
  }
  const session = openSession({ name: 'profile', command: commandLine('bench:profile', argv), options: o, tag: o.tag, out: o.out });
  session.header.kernels = o.kernels.join(' vs ');
  const results = await profile(o, session.log);
  for (const r of results) session.write({ kind: 'profile', micro_batch: o.microBatch, ...r });
  const others = results.flatMap((r) => Object.values(r.byKernels).map((b) => b.others_cores));
  session.finish((h) => markdown(h, results, o), { othersCores: others });
}

runMain('bench:profile', USAGE, main);
