/** Medians of the alternating runs and the markdown the bench prints (and BENCHMARKS.md quotes). */

export function median(xs) {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const int = (v) => (v == null ? '-' : Math.round(v).toLocaleString('en-US'));
const fixed = (v, nd = 2) => (v == null ? '-' : v.toFixed(nd));
const ratio = (a, b) => (a == null || b == null ? '-' : `${(a / b).toFixed(a / b < 0.1 ? 3 : 2)}x`);

/** One row per configuration: medians (and spreads) of each side's runs. */
export function summarize(configs, runs) {
  return configs.map((c) => {
    const side = (s) => runs.filter((r) => r.config === c.id && r.side === s);
    const stats = (rs) => ({
      n: rs.length,
      img_per_s: median(rs.map((r) => r.img_per_s)),
      min: rs.length ? Math.min(...rs.map((r) => r.img_per_s)) : null,
      max: rs.length ? Math.max(...rs.map((r) => r.img_per_s)) : null,
      others_cores: median(rs.map((r) => r.others_cores)),
      train_loss: median(rs.filter((r) => r.train_loss != null).map((r) => r.train_loss)),
      max_rss_mb: rs.some((r) => r.max_rss_mb != null) ? Math.max(...rs.map((r) => r.max_rss_mb ?? 0)) : null,
    });
    const ours = stats(side('ours'));
    const torch = stats(side('torch'));
    return { ...c, ours, torch, ratio: ours.img_per_s != null && torch.img_per_s ? ours.img_per_s / torch.img_per_s : null };
  });
}

export function mainTable(rows) {
  const lines = ['| model | batch | threads | ours img/s | torch img/s | ratio |', '| --- | ---: | ---: | ---: | ---: | ---: |'];
  for (const r of rows) lines.push(`| ${r.model} | ${r.batch} | ${r.threads} | ${int(r.ours.img_per_s)} | ${int(r.torch.img_per_s)} | ${ratio(r.ours.img_per_s, r.torch.img_per_s)} |`);
  return lines;
}

export function detailTable(rows, kind) {
  if (kind === 'ddp') {
    const lines = ['| model | global batch | procs x threads | steps per run | runs | torch min–max img/s | torch median img/s | other procs, cores (median) | train loss at end (rank 0, median) |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'];
    for (const r of rows) {
      lines.push(`| ${r.model} | ${r.batch} | 2 x 1 | ${r.steps ?? '-'} | ${r.torch.n} | ${int(r.torch.min)}–${int(r.torch.max)} | ${int(r.torch.img_per_s)} | ${fixed(r.torch.others_cores)} | ${fixed(r.torch.train_loss, 3)} |`);
    }
    return lines;
  }
  const head = kind === 'train'
    ? ['| model | batch | threads | steps per run | runs per side | ours min–max img/s | torch min–max img/s | other procs, cores (ours / torch, median) | train loss at end (ours / torch, median) | peak RSS MB (ours / torch) |',
       '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
    : ['| model | batch | threads | runs per side | ours min–max img/s | torch min–max img/s | other procs, cores (ours / torch, median) | peak RSS MB (ours / torch) |',
       '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'];
  const lines = [...head];
  for (const r of rows) {
    const cells = [r.model, r.batch, r.threads];
    if (kind === 'train') cells.push(r.steps ?? '-');
    cells.push(`${r.ours.n} / ${r.torch.n}`, `${int(r.ours.min)}–${int(r.ours.max)}`, `${int(r.torch.min)}–${int(r.torch.max)}`,
      `${fixed(r.ours.others_cores)} / ${fixed(r.torch.others_cores)}`);
    if (kind === 'train') cells.push(`${fixed(r.ours.train_loss, 3)} / ${fixed(r.torch.train_loss, 3)}`);
    cells.push(`${int(r.ours.max_rss_mb)} / ${int(r.torch.max_rss_mb)}`);
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines;
}

/** Issue 5's bar: our images/s over PyTorch's best configuration in the same run. */
export const ISSUE5_TARGETS = { train: { seed: 1.5, lenet5: 1.5, convnet: 1.0 }, infer: 1.5 };

const check = (v, target) => (v == null || target == null ? '' : v >= target ? ' ✓' : ' ✗');

/**
 * Issue 5's table, side by side: one thread (ours single-thread vs torch 1 thread), best on 2 cores
 * (ours: the better of one thread and threads(2); torch: the best of 1 thread, 2 threads and DDP
 * 2x1), inference, and peak RSS training lenet5; every ratio against its target.
 */
export function issue5Tables(rows, { inferBatch, chunk }) {
  const find = (list, model, batch, threads) => list.find((r) => r.model === model && r.batch === batch && r.threads === threads);
  const md = rows.train.length === 0 ? [] : ['### Issue 5: training images/s, ours vs PyTorch (medians of alternating runs)', '',
    '| model | batch | ours 1 thread | torch 1 thread | ratio (target) | ours threads(2) | torch 2 threads | torch DDP 2x1 | ours best on 2 cores | torch best on 2 cores | ratio (target) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'];
  const pairs = [...new Map(rows.train.map((r) => [`${r.model}/${r.batch}`, r])).values()];
  for (const { model, batch } of pairs) {
    const one = find(rows.train, model, batch, 1);
    const two = find(rows.train, model, batch, 2);
    const ddp = find(rows.ddp, model, batch, 2);
    const target = ISSUE5_TARGETS.train[model];
    const best = (options) => options.filter((x) => x.v != null).reduce((a, x) => (a && a.v >= x.v ? a : x), null);
    const oursBest = best([{ v: one?.ours.img_per_s, what: '1 thread' }, { v: two?.ours.img_per_s, what: 'threads(2)' }]);
    const torchBest = best([{ v: one?.torch.img_per_s, what: '1 thread' }, { v: two?.torch.img_per_s, what: '2 threads' }, { v: ddp?.torch.img_per_s, what: 'DDP 2x1' }]);
    const r1 = one?.ours.img_per_s && one?.torch.img_per_s ? one.ours.img_per_s / one.torch.img_per_s : null;
    const r2 = two && oursBest && torchBest ? oursBest.v / torchBest.v : null;
    const ratioCell = (r) => (r == null ? '-' : `${fixed(r)}x (${target}x)${check(r, target)}`);
    md.push(`| ${model} | ${batch} | ${int(one?.ours.img_per_s)} | ${int(one?.torch.img_per_s)} | ${ratioCell(r1)} | ${int(two?.ours.img_per_s)} | ${int(two?.torch.img_per_s)} | ${int(ddp?.torch.img_per_s)} | ` +
      `${two && oursBest ? `${int(oursBest.v)} (${oursBest.what})` : '-'} | ${two && torchBest ? `${int(torchBest.v)} (${torchBest.what})` : '-'} | ${ratioCell(r2)} |`);
  }
  if (rows.infer.length) {
    md.push('', `### Issue 5: inference images/s, one thread (10,000 test images; torch in batches of ${inferBatch}; ours \`predict(x, { batchSize: ${inferBatch} })\` on the calling thread, ` +
      `which runs forward passes of ${chunk} samples (DEFAULTS.inferenceChunk) whatever the batchSize)`, '',
      '| model | ours img/s | torch img/s | ratio (target) |', '| --- | ---: | ---: | ---: |');
    for (const r of rows.infer) md.push(`| ${r.model} | ${int(r.ours.img_per_s)} | ${int(r.torch.img_per_s)} | ${r.ratio == null ? '-' : `${fixed(r.ratio)}x (${ISSUE5_TARGETS.infer}x)${check(r.ratio, ISSUE5_TARGETS.infer)}`} |`);
  }
  const lenet = rows.train.filter((r) => r.model === 'lenet5');
  if (lenet.length) {
    md.push('', '### Issue 5: peak RSS training lenet5 (whole process, MB, highest of the runs; target: ours <= torch)', '',
      '| batch | threads | ours | torch | ours − torch |', '| ---: | ---: | ---: | ---: | ---: |');
    for (const r of lenet) {
      const d = r.ours.max_rss_mb != null && r.torch.max_rss_mb != null ? r.ours.max_rss_mb - r.torch.max_rss_mb : null;
      md.push(`| ${r.batch} | ${r.threads} | ${int(r.ours.max_rss_mb)} | ${int(r.torch.max_rss_mb)} | ${d == null ? '-' : `${int(d)}${check(-d, 0)}`} |`);
    }
  }
  return md;
}

/**
 * The machine, versions, command and load of a run, as BENCHMARKS.md quotes them. The torch lines
 * appear only for runs with the PyTorch peer (h.peer).
 */
export function machineLines(h) {
  const t = h.torch_env ?? {};
  const loads = (l) => (l ? l.map((v) => v.toFixed(2)).join(' ') : '-');
  const lines = [
    `- Date: ${h.started} (${h.duration_s != null ? `${Math.round(h.duration_s)} s` : 'unfinished'})`,
    `- Command: \`${h.command}\``,
    `- CPU: ${h.machine.cpu}, ${h.machine.cores} cores, ${h.machine.mem_gb} GB RAM, ${h.machine.kernel}`,
    `- Ours: Node ${h.machine.node} (V8 ${h.machine.v8}), kernels ${h.kernels ?? process.env.CNN_KERNELS ?? 'wasm'}, @cnn/* at ${h.machine.commit?.slice(0, 12) ?? '?'}${h.machine.dirty_files ? ` + ${h.machine.dirty_files} uncommitted files` : ''}`,
  ];
  if (h.peer) {
    lines.push(
      `- Torch: ${t.torch ?? '?'} (Debian python3-torch ${h.peer?.packages?.['python3-torch'] ?? '?'}, libopenblas0-pthread ${h.peer?.packages?.['libopenblas0-pthread'] ?? '?'}), Python ${t.python ?? '?'}, numpy ${t.numpy ?? '?'}, mkldnn ${t.mkldnn ?? '?'}`,
      `- Torch BLAS (libraries mapped in its process): ${t.blas_libs ?? '?'}`,
    );
  }
  if (h.options?.dataDir) lines.push(`- Data: ${h.options.dataDir}`);
  lines.push(
    `- Load average (1/5/15 min) at start: ${loads(h.loadavg_start)}; at end: ${loads(h.loadavg_end)}`,
    `- Other processes during the timed runs (cores, median over every run${h.peer ? ' of both sides' : ''}): ${fixed(h.others_cores_median)}${h.machine.cores ? ` of ${h.machine.cores}` : ''}`,
  );
  return lines;
}
