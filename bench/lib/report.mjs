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

export function machineLines(h) {
  const t = h.torch_env ?? {};
  const loads = (l) => (l ? l.map((v) => v.toFixed(2)).join(' ') : '-');
  return [
    `- Date: ${h.started} (${h.duration_s != null ? `${Math.round(h.duration_s)} s` : 'unfinished'})`,
    `- Command: \`${h.command}\``,
    `- CPU: ${h.machine.cpu}, ${h.machine.cores} cores, ${h.machine.mem_gb} GB RAM, ${h.machine.kernel}`,
    `- Ours: Node ${h.machine.node} (V8 ${h.machine.v8}), @cnn/core at ${h.machine.commit?.slice(0, 12) ?? '?'}${h.machine.dirty_files ? ` + ${h.machine.dirty_files} uncommitted files` : ''}`,
    `- Torch: ${t.torch ?? '?'} (Debian python3-torch ${h.peer?.packages?.['python3-torch'] ?? '?'}, libopenblas0-pthread ${h.peer?.packages?.['libopenblas0-pthread'] ?? '?'}), Python ${t.python ?? '?'}, numpy ${t.numpy ?? '?'}, mkldnn ${t.mkldnn ?? '?'}`,
    `- Torch BLAS (libraries mapped in its process): ${t.blas_libs ?? '?'}`,
    `- Data: ${h.options.dataDir}`,
    `- Load average (1/5/15 min) at start: ${loads(h.loadavg_start)}; at end: ${loads(h.loadavg_end)}`,
    `- Other processes during the timed runs (cores, median over every run of both sides): ${fixed(h.others_cores_median)}`,
  ];
}
