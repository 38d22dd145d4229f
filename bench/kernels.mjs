#!/usr/bin/env node
/**
 * Kernel microbenchmark: the reference TypeScript kernels (src/kernels) against the WebAssembly SIMD
 * kernels (src/kernels/wasm) on the ops of one training step of each built-in model, at micro-batch
 * 8 and 32, on one thread. Prints per-op median time, GFLOP/s and speedup, then an estimate of a
 * training step (the sum of its kernel times: no data gathering, no dropout, no framework overhead)
 * and of inference, against the PyTorch figures of issue 5.
 *
 *   node bench/kernels.mjs [--quick] [--model lenet5] [--micro 8,32] [--json out.json]
 *
 * Reference and wasm runs of an op alternate in short rounds so that load from other processes hits
 * both alike; each time is the median of many calls ("p10": the fastest tenth, nearer a quiet
 * machine's figure). Needs the built package (pnpm install).
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { activationBackward, activationForward } from '../packages/core/dist/kernels/activations.js';
import { conv2dBackwardFilter, conv2dBackwardInput, conv2dForward, conv2dScratchSize } from '../packages/core/dist/kernels/conv2d.js';
import { denseBackwardFilter, denseBackwardInput, denseForward } from '../packages/core/dist/kernels/dense.js';
import { windowGeometry } from '../packages/core/dist/kernels/geometry.js';
import { softmaxCrossEntropyFromLogits } from '../packages/core/dist/kernels/losses.js';
import { extremePoolBackward, extremePoolForward } from '../packages/core/dist/kernels/pool2d.js';
import { addInto } from '../packages/core/dist/kernels/reduce.js';
import { Adam } from '../packages/core/dist/optimizers/adam.js';
import { KernelHeap, conv2dScratchBytes, createWasmKernels, denseScratchBytes } from '../packages/core/dist/kernels/wasm/index.js';

/** PyTorch 1.13 + OpenBLAS images/s from issue 5 (same machine kind, quiet). */
const TORCH = {
  seed: { train32: 30200, train256: 34500, best2x256: 36900, infer1000: 16000 },
  lenet5: { train32: 10200, train256: 12200, best2x256: 16100, infer1000: 12000 },
  convnet: { train32: 2870, train256: 2410, best2x256: 4620, infer1000: 2870 },
};
/** Issue 5's bar: our images/s over PyTorch's. */
const TARGET = { seed: 1.5, lenet5: 1.5, convnet: 1.0 };

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    model: { type: 'string' },
    micro: { type: 'string', default: '8,32' },
    json: { type: 'string' },
  },
});
/** Seconds of measurement per op and side (rounds alternate between the two sides). */
const BUDGET = flags.quick ? 0.08 : 0.4;
const ROUNDS = flags.quick ? 3 : 8;

const heap = KernelHeap.create(64 << 20);
const wasm = createWasmKernels(heap);

function randomInto(view, seed) {
  let s = seed >>> 0;
  for (let i = 0; i < view.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    view[i] = (s >>> 8) / 8388608 - 1;
  }
  return view;
}
const f32 = (length, seed = 1) => randomInto(heap.f32(length), seed);

/** One model's layer list, as src/models/builtin.ts builds it (dropout and flatten cost nothing here). */
const MODELS = {
  seed: [
    { conv: [28, 28, 1], k: 2, pad: 'valid', outC: 6, first: true, relu: 'separate' },
    { pool: true },
    { dense: [1014, 10], last: true },
  ],
  lenet5: [
    { conv: [28, 28, 1], k: 5, pad: 'same', outC: 6, first: true, relu: 'fused' },
    { pool: true },
    { conv: [14, 14, 6], k: 5, pad: 'valid', outC: 16, relu: 'fused' },
    { pool: true },
    { dense: [400, 120], relu: true },
    { dense: [120, 84], relu: true },
    { dense: [84, 10], last: true },
  ],
  convnet: [
    { conv: [28, 28, 1], k: 3, pad: 'valid', outC: 32, first: true, relu: 'fused' },
    { pool: true },
    { conv: [13, 13, 32], k: 3, pad: 'valid', outC: 64, relu: 'fused' },
    { pool: true },
    { dense: [1600, 10], last: true },
  ],
};

/**
 * The kernel calls of one training step on n samples, in order, each with a reference and a wasm
 * closure over preallocated heap buffers: forward ops (`infer` marks those inference also runs),
 * the fused loss, backward ops (the first layer has no input gradient).
 */
function buildOps(modelName, n) {
  const ops = [];
  let shape = [28, 28, 1];
  let paramCount = 0;
  const forward = [];
  const backward = [];
  for (const [i, layer] of MODELS[modelName].entries()) {
    if (layer.conv) {
      const g = windowGeometry(layer.conv, [layer.k, layer.k], [1, 1], layer.pad);
      const { outC } = layer;
      const K = g.kH * g.kW * g.inC;
      const x = f32(n * g.inH * g.inW * g.inC, 1);
      const w = f32(K * outC, 2);
      const b = f32(outC, 3);
      const y = f32(n * g.outH * g.outW * outC, 4);
      const dy = f32(y.length, 5);
      const dx = f32(x.length, 6);
      const dw = f32(w.length, 7);
      const db = f32(outC, 8);
      const scratch = heap.f32(conv2dScratchBytes(g, outC) / 4);
      const ref = new Float64Array(conv2dScratchSize(g, outC));
      const flops = 2 * n * g.outH * g.outW * outC * K;
      const name = `conv${i} ${g.inH}x${g.inW}x${g.inC}->${outC} ${g.kH}x${g.kW}`;
      forward.push({ name: `${name} fwd`, flops, infer: true, ref: () => conv2dForward(g, outC, n, x, w, b, y, ref), wasm: () => wasm.conv2dForward(g, outC, n, x, w, b, y, scratch) });
      const count = y.length;
      forward.push({ name: `relu${i} fwd`, flops: 0, infer: true, ref: () => activationForward('relu', count, outC, y, y), wasm: () => wasm.activationForward('relu', count, outC, y, y) });
      backward.unshift({ name: `relu${i} bwd`, flops: 0, ref: () => activationBackward('relu', count, outC, y, dy, dy), wasm: () => wasm.activationBackward('relu', count, outC, y, dy, dy) });
      const bw = [{ name: `${name} bwd filter`, flops, ref: () => conv2dBackwardFilter(g, outC, n, x, dy, dw, db, ref), wasm: () => wasm.conv2dBackwardFilter(g, outC, n, x, dy, dw, db, scratch) }];
      if (!layer.first) bw.push({ name: `${name} bwd input`, flops, ref: () => conv2dBackwardInput(g, outC, n, dy, w, dx, ref), wasm: () => wasm.conv2dBackwardInput(g, outC, n, dy, w, dx, scratch) });
      backward.unshift(...bw);
      paramCount += w.length + outC;
      shape = [g.outH, g.outW, outC];
    } else if (layer.pool) {
      const g = windowGeometry(shape, [2, 2], [2, 2], 'valid');
      const inSize = g.inH * g.inW * g.inC;
      const outSize = g.outH * g.outW * g.inC;
      const x = f32(n * inSize, 9);
      const y = f32(n * outSize, 10);
      const arg = heap.i32(n * outSize);
      const dy = f32(n * outSize, 11);
      const dx = f32(n * inSize, 12);
      const name = `maxpool${i} ${g.inH}x${g.inW}x${g.inC}`;
      forward.push({ name: `${name} fwd`, flops: 0, infer: true, ref: () => extremePoolForward('max', g, n, x, y, arg), wasm: () => wasm.extremePoolForward('max', g, n, x, y, arg) });
      backward.unshift({ name: `${name} bwd`, flops: 0, ref: () => extremePoolBackward(n, inSize, outSize, dy, arg, dx), wasm: () => wasm.extremePoolBackward(n, inSize, outSize, dy, arg, dx) });
      shape = [g.outH, g.outW, g.inC];
    } else if (layer.dense) {
      const [inDim, outDim] = layer.dense;
      const x = f32(n * inDim, 13);
      const w = f32(inDim * outDim, 14);
      const b = f32(outDim, 15);
      const y = f32(n * outDim, 16);
      const dy = f32(n * outDim, 17);
      const dx = f32(n * inDim, 18);
      const dw = f32(w.length, 19);
      const db = f32(outDim, 20);
      const scratch = heap.f32(denseScratchBytes(n, inDim, outDim) / 4);
      const acc = new Float64Array(outDim);
      const flops = 2 * n * inDim * outDim;
      const name = `dense${i} ${inDim}->${outDim}`;
      forward.push({ name: `${name} fwd`, flops, infer: true, ref: () => denseForward(n, inDim, outDim, x, w, b, y, acc), wasm: () => wasm.denseForward(n, inDim, outDim, x, w, b, y, scratch) });
      if (layer.relu) {
        const count = y.length;
        forward.push({ name: `relu${i} fwd`, flops: 0, infer: true, ref: () => activationForward('relu', count, outDim, y, y), wasm: () => wasm.activationForward('relu', count, outDim, y, y) });
        backward.unshift({ name: `relu${i} bwd`, flops: 0, ref: () => activationBackward('relu', count, outDim, y, dy, dy), wasm: () => wasm.activationBackward('relu', count, outDim, y, dy, dy) });
      }
      backward.unshift(
        { name: `${name} bwd filter`, flops, ref: () => denseBackwardFilter(n, inDim, outDim, x, dy, dw, db, acc), wasm: () => wasm.denseBackwardFilter(n, inDim, outDim, x, dy, dw, db, scratch) },
        { name: `${name} bwd input`, flops, ref: () => denseBackwardInput(n, inDim, outDim, dy, w, dx), wasm: () => wasm.denseBackwardInput(n, inDim, outDim, dy, w, dx, scratch) },
      );
      if (layer.last) {
        const logits = f32(n * outDim, 21);
        const out = heap.f32(n * outDim);
        const grad = heap.f32(n * outDim);
        const sparse = heap.i32(n);
        for (let r = 0; r < n; r++) sparse[r] = r % outDim;
        forward.push({ name: 'softmax infer', flops: 0, infer: true, inferOnly: true, ref: () => activationForward('softmax', n * outDim, outDim, logits, out), wasm: () => wasm.activationForward('softmax', n * outDim, outDim, logits, out) });
        forward.push({
          name: 'softmax cross-entropy', flops: 0,
          ref: () => { out.set(logits); softmaxCrossEntropyFromLogits(n, outDim, out, { sparse }, grad); },
          wasm: () => { out.set(logits); wasm.softmaxCrossEntropyFromLogits(n, outDim, out, { sparse }, grad); },
        });
      }
      paramCount += w.length + outDim;
    }
  }
  ops.push(...forward, ...backward);
  return { ops, paramCount };
}

/** The per-step ops that do not scale with the micro-batch: one tree addition, one Adam update. */
function stepOps(paramCount) {
  const a = f32(paramCount, 30);
  const b = f32(paramCount, 31);
  const params = f32(paramCount, 32);
  const grad = f32(paramCount, 33);
  const slots = [f32(paramCount, 34).fill(0), f32(paramCount, 35).fill(0)];
  const adam = new Adam();
  return {
    add: { name: `addInto (${paramCount} params)`, flops: paramCount, ref: () => addInto(a, b), wasm: () => wasm.addInto(a, b) },
    update: {
      name: 'grad /= B + Adam update', flops: 0,
      ref: () => { for (let i = 0; i < paramCount; i++) grad[i] /= 32; adam.apply(params, grad, slots, 7); },
      wasm: () => wasm.applyUpdate(adam, params, grad, slots, 32, 7),
    },
  };
}

function median(values) {
  const s = [...values].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

/**
 * Median seconds per call of each side, and the fastest decile (p10: closer to what a quiet machine
 * gives; the machine is shared, so medians run high while it is busy). Rounds alternate sides.
 */
function measure(op) {
  const times = { ref: [], wasm: [] };
  for (const side of ['ref', 'wasm']) for (let i = 0; i < 3; i++) op[side](); // warm-up (JIT, wasm tier-up)
  for (let round = 0; round < ROUNDS; round++) {
    for (const side of ['ref', 'wasm']) {
      const until = performance.now() + (BUDGET * 1000) / ROUNDS;
      do {
        const t0 = performance.now();
        op[side]();
        times[side].push((performance.now() - t0) / 1000);
      } while (performance.now() < until);
    }
  }
  const p10 = (v) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 10)];
  return { ref: median(times.ref), wasm: median(times.wasm), refP10: p10(times.ref), wasmP10: p10(times.wasm), calls: times.wasm.length };
}

const fmtTime = (s) => (s >= 1e-3 ? `${(s * 1e3).toFixed(2)} ms` : `${(s * 1e6).toFixed(1)} us`).padStart(10);
const fmtGf = (flops, s) => (flops ? (flops / s / 1e9).toFixed(1) : '').padStart(6);

const models = flags.model ? [flags.model] : Object.keys(MODELS);
const micros = flags.micro.split(',').map(Number);
const report = { machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, load: os.loadavg() }, results: [] };
console.log(`# kernels: reference TypeScript vs WebAssembly SIMD, one thread (${os.cpus()[0]?.model}, node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')})`);

for (const model of models) {
  for (const n of micros) {
    const { ops, paramCount } = buildOps(model, n);
    const fixed = stepOps(paramCount);
    console.log(`\n## ${model}, micro-batch ${n}`);
    console.log(`${'op'.padEnd(40)} ${'reference'.padStart(10)} ${'GF/s'.padStart(6)} ${'wasm'.padStart(10)} ${'GF/s'.padStart(6)} ${'speedup'.padStart(8)} ${'wasm p10'.padStart(10)} ${'GF/s'.padStart(6)}`);
    const rows = [];
    for (const op of [...ops, fixed.add, fixed.update]) {
      const t = measure(op);
      rows.push({ name: op.name, ref: t.ref, wasm: t.wasm, refP10: t.refP10, wasmP10: t.wasmP10, flops: op.flops, infer: !!op.infer, inferOnly: !!op.inferOnly, perStep: op === fixed.add || op === fixed.update });
      console.log(`${op.name.padEnd(40)} ${fmtTime(t.ref)} ${fmtGf(op.flops, t.ref)} ${fmtTime(t.wasm)} ${fmtGf(op.flops, t.wasm)} ${(t.ref / t.wasm).toFixed(1).padStart(7)}x ${fmtTime(t.wasmP10)} ${fmtGf(op.flops, t.wasmP10)}`);
    }
    const sum = (side, pick) => rows.filter(pick).reduce((s, r) => s + r[side], 0);
    const micro = (side) => sum(side, (r) => !r.perStep && !r.inferOnly);
    const add = rows.find((r) => r.name.startsWith('addInto'));
    const update = rows.find((r) => r.name.startsWith('grad /='));
    const stepTime = (side, batch) => {
      const shards = Math.ceil(batch / n);
      return shards * micro(side) + (shards - 1) * add[side] + update[side];
    };
    const inferPerImage = (side) => sum(side, (r) => r.infer) / n;
    const torch = TORCH[model];
    const line = (label, side) => {
      const s32 = 32 / stepTime(side, 32);
      const s256 = 256 / stepTime(side, 256);
      const inf = 1 / inferPerImage(side);
      return `${label.padEnd(10)} train batch 32: ${Math.round(s32).toString().padStart(7)} img/s (${(s32 / torch.train32).toFixed(2)}x torch)   batch 256: ${Math.round(s256).toString().padStart(7)} img/s (${(s256 / torch.train256).toFixed(2)}x)   inference: ${Math.round(inf).toString().padStart(7)} img/s (${(inf / torch.infer1000).toFixed(2)}x)`;
    };
    console.log(`estimate (sum of kernel times; target ${TARGET[model]}x PyTorch ${torch.train32} / ${torch.train256} / infer ${torch.infer1000} img/s):`);
    console.log(line('reference', 'ref'));
    console.log(line('wasm', 'wasm'));
    console.log(line('wasm p10', 'wasmP10'));
    const total = micro('wasm');
    console.log('wasm share of a micro-batch: ' + rows.filter((r) => !r.perStep && !r.inferOnly).sort((a, b) => b.wasm - a.wasm).slice(0, 6).map((r) => `${r.name} ${((100 * r.wasm) / total).toFixed(0)}%`).join(', '));
    report.results.push({ model, microBatch: n, paramCount, rows, estimate: Object.fromEntries(['ref', 'wasm', 'refP10', 'wasmP10'].map((side) => [side, { batch32: 32 / stepTime(side, 32), batch256: 256 / stepTime(side, 256), infer: 1 / inferPerImage(side) }])) });
  }
}
if (flags.json) writeFileSync(flags.json, JSON.stringify(report, null, 2));
