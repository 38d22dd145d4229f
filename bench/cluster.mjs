#!/usr/bin/env node
/**
 * `pnpm bench:cluster` (issue 4): lenet5 at batch 256 trained by real hosts on this machine. Each run
 * starts `cnn-coordinator start --local-threads 0` on 127.0.0.1 (control only) and H `cnn-worker join`
 * processes with T threads each (topologies 1x2, 2x1, 4x1: the machine's threads split among hosts),
 * and reads the coordinator's per-step debug lines (`step`: totalMs, updateMs, and per host computeMs
 * and commMs = round trip - compute) and GET /status. For each run, over the steps after a warm-up:
 *   - images/s (from the step lines' timestamps);
 *   - the share of step time spent communicating: sum over steps of the slowest host's commMs over
 *     the sum of totalMs (GET /status's communicationShare is the same over its last 20 steps);
 *     beside it the compute, update (coordinator combine + optimizer) and remaining coordinator shares;
 * and the effect of ws' native bufferutil: every topology runs once as is and once with
 * WS_NO_BUFFER_UTIL=1 in every process, alternating. `local` (the coordinator's own pool, no
 * network: what `cnn train` runs) is the in-process reference.
 *
 *   pnpm bench:cluster -- --topologies local 1x2 2x1 4x1 --steps 150 --warmup 20 --repeats 3
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { UsageError, parseFlags, runMain } from './lib/flags.mjs';
import { CLK_TCK, systemBusySeconds } from './lib/machine.mjs';
import { machineLines, median } from './lib/report.mjs';
import { REPO_ROOT, commandLine, openSession } from './lib/session.mjs';

const COORDINATOR_BIN = join(REPO_ROOT, 'packages/cli/bin/cnn-coordinator.js');
const WORKER_BIN = join(REPO_ROOT, 'packages/cli/bin/cnn-worker.js');

/** Every default, each with its reason. The default run takes about 6 minutes. */
const DEFAULTS = {
  topologies: ['local', '1x2', '2x1', '4x1'],
  model: 'lenet5',
  /** Issue 4's figure is lenet5 at batch 256. */
  batch: 256,
  /** Steps per run; the first --warmup are left out (pools starting, connections warming). */
  steps: 150,
  warmup: 20,
  repeats: 3,
  /** on: ws as installed (native bufferutil if it loads); off: WS_NO_BUFFER_UTIL=1 everywhere. */
  bufferutil: ['on', 'off'],
  /** A run that takes longer is killed and reported as failed. */
  timeoutSeconds: 300,
  /** GET /status is polled this often during a run. */
  statusEveryMs: 1000,
  seed: 1,
  tag: '',
  out: undefined,
};

const SPEC = {
  topologies: { type: 'string', list: true },
  model: { type: 'string', choices: ['seed', 'lenet5', 'convnet'] },
  batch: { type: 'int' },
  steps: { type: 'int' },
  warmup: { type: 'int' },
  repeats: { type: 'int' },
  bufferutil: { type: 'string', list: true, choices: ['on', 'off'] },
  timeoutSeconds: { type: 'int' },
  seed: { type: 'int' },
  tag: { type: 'string' },
  out: { type: 'string' },
  help: { type: 'bool' },
};

const USAGE = `usage: pnpm bench:cluster -- [flags]   (or: node bench/cluster.mjs [flags] after pnpm run build)
  --topologies T...    HxT (H cnn-worker hosts of T threads each) or local[N] (the coordinator's own pool,
                       N threads, default 2: no network) (default: ${DEFAULTS.topologies.join(' ')})
  --model M --batch B  (default: ${DEFAULTS.model}, ${DEFAULTS.batch})
  --steps N            optimizer steps per run (default ${DEFAULTS.steps}); --warmup W of them left out (default ${DEFAULTS.warmup})
  --repeats R          runs per topology and bufferutil setting, alternating (default ${DEFAULTS.repeats})
  --bufferutil on|off  which settings to run (default: on off; off = WS_NO_BUFFER_UTIL=1 in every process)
  --timeout-seconds S  kill a run that takes longer (default ${DEFAULTS.timeoutSeconds})
  --tag T, --out FILE  label; JSON-lines file (default: bench/results/<time>-cluster.jsonl)`;

function parseTopology(t) {
  const local = /^local(\d*)$/.exec(t);
  if (local) return { id: t, hosts: 0, threads: Number(local[1] || 2), local: true };
  const m = /^(\d+)x(\d+)$/.exec(t);
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new UsageError(`--topologies: '${t}' is not HxT (e.g. 2x1) or local[N]`);
  return { id: t, hosts: Number(m[1]), threads: Number(m[2]), local: false };
}

/** Whether ws in @cnn/coordinator loads bufferutil's native binding here, or its JS fallback. */
function bufferutilState() {
  try {
    const coordinator = createRequire(join(REPO_ROOT, 'packages/coordinator/package.json'));
    const fromWs = createRequire(coordinator.resolve('ws'));
    const b = fromWs('bufferutil');
    const pkg = fromWs('bufferutil/package.json');
    return { version: pkg.version, native: /\[native code\]/.test(String(b.mask)) };
  } catch (e) {
    return { version: null, native: false, error: e.message };
  }
}

/** CPU seconds (all threads) of a live process, from /proc/<pid>/stat; 0 once it is gone. */
function processCpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime + stime, in clock ticks
  } catch {
    return 0;
  }
}

/** A child whose stderr JSON lines (pino) go to onLine; output tails are kept for errors. */
function startProcess(bin, args, env, onLine = () => {}) {
  const child = spawn(process.execPath, [bin, ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (out = (out + d).slice(-8000)));
  child.stderr.setEncoding('utf8').on('data', (d) => {
    out = (out + d).slice(-8000);
    pending += d;
    const lines = pending.split('\n');
    pending = lines.pop();
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      try {
        onLine(JSON.parse(line));
      } catch {
        // not a log line
      }
    }
  });
  const done = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return { child, done, output: () => out };
}

function envFor(bufferutil) {
  const env = { ...process.env };
  delete env.WS_NO_BUFFER_UTIL;
  if (bufferutil === 'off') env.WS_NO_BUFFER_UTIL = '1';
  return env;
}

/** One run: coordinator + hosts to the end; the step lines, /status snapshots and CPU meters. */
async function runOnce(topo, bufferutil, o, tmp) {
  const env = envFor(bufferutil);
  const steps = [];
  const meters = {};
  let port = null;
  let listening;
  const listened = new Promise((resolve) => (listening = resolve));
  const procs = [];
  const cpuOfChildren = () => procs.reduce((a, p) => a + processCpuSeconds(p.child.pid), 0);
  const meter = (name) => (meters[name] = { at: Date.now(), busy: systemBusySeconds(), children: cpuOfChildren() });
  const onLine = (rec) => {
    if (rec.msg === 'coordinator listening') {
      port = rec.port;
      listening();
    } else if (rec.msg === 'step' && Array.isArray(rec.hosts)) {
      steps.push(rec);
      if (rec.step === o.warmup) meter('windowStart');
      if (rec.step === o.steps) meter('windowEnd');
    }
  };
  const runDir = join(tmp, `run-${Date.now()}`);
  const args = ['start', '--model', o.model, '--batch-size', String(o.batch), '--max-steps', String(o.steps), '--seed', String(o.seed),
    '--host', '127.0.0.1', '--port', '0', '--log-level', 'debug', '--out', runDir,
    '--local-threads', String(topo.local ? topo.threads : 0), '--min-hosts', String(topo.hosts), ...o.outputFlags];
  const coordinator = startProcess(COORDINATOR_BIN, args, env, onLine);
  procs.push(coordinator);
  const status = [];
  let polling = true;
  const deadline = setTimeout(() => {
    for (const p of procs) p.child.kill('SIGKILL');
  }, o.timeoutSeconds * 1000);
  try {
    await Promise.race([listened, coordinator.done]);
    if (port === null) throw new Error(`the coordinator exited before listening:\n${coordinator.output()}`);
    for (let h = 0; h < topo.hosts; h++) {
      procs.push(startProcess(WORKER_BIN, ['join', `ws://127.0.0.1:${port}`, '--threads', String(topo.threads), '--log-level', 'warn'], env));
    }
    const poll = (async () => {
      while (polling) {
        await new Promise((r) => setTimeout(r, o.statusEveryMs));
        try {
          const s = await (await fetch(`http://127.0.0.1:${port}/status`)).json();
          if (s.state === 'training' && s.step > o.warmup) status.push({ at: Date.now(), step: s.step, imagesPerSecond: s.imagesPerSecond, communicationShare: s.communicationShare });
        } catch {
          // the run is ending
        }
      }
    })();
    const results = await Promise.all(procs.map((p) => p.done));
    polling = false;
    await poll;
    const failed = results.map((r, i) => ({ ...r, i })).filter((r) => r.code !== 0);
    if (failed.length) {
      const p = procs[failed[0].i];
      throw new Error(`${failed[0].i === 0 ? 'the coordinator' : `host ${failed[0].i}`} exited with ${failed[0].signal ?? `code ${failed[0].code}`}:\n${p.output().slice(-3000)}`);
    }
  } finally {
    clearTimeout(deadline);
    polling = false;
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    rmSync(runDir, { recursive: true, force: true });
  }
  return { steps, status, meters };
}

/** The figures of one run over its steps after the warm-up. */
function figures(run, o) {
  const window = run.steps.filter((s) => s.step > o.warmup && s.step <= o.steps);
  const start = run.steps.find((s) => s.step === o.warmup);
  const end = run.steps.find((s) => s.step === o.steps);
  if (!start || !end || window.length === 0) throw new Error(`the coordinator logged ${run.steps.length} step lines; expected ${o.steps} (is --log-level debug honoured?)`);
  const sum = (f) => window.reduce((a, s) => a + f(s), 0);
  const maxComm = (s) => Math.max(0, ...s.hosts.map((h) => h.commMs));
  // The host the step waited for: the longest round trip (compute + comm).
  const slowest = (s) => s.hosts.reduce((a, h) => (h.computeMs + h.commMs > a.computeMs + a.commMs ? h : a), s.hosts[0]);
  const total = sum((s) => s.totalMs);
  const comm = sum(maxComm);
  const slowCompute = sum((s) => slowest(s).computeMs);
  const slowComm = sum((s) => slowest(s).commMs);
  const update = sum((s) => s.updateMs);
  const wall = (end.time - start.time) / 1000;
  const images = window.length * o.batch;
  const { windowStart: m0, windowEnd: m1 } = run.meters;
  const meterWall = m0 && m1 ? (m1.at - m0.at) / 1000 : null;
  const lastStatus = run.status.at(-1) ?? null;
  return {
    steps: window.length, wall_s: wall, img_per_s: images / wall,
    step_ms: median(window.map((s) => s.totalMs)),
    comm_ms: median(window.map(maxComm)),
    compute_ms: median(window.map((s) => slowest(s).computeMs)),
    update_ms: median(window.map((s) => s.updateMs)),
    // as GET /status: the largest comm of any host, over the step
    comm_share: comm / total,
    // the step, additively: the slowest host's compute and comm, the update, the coordinator's rest
    // (encoding and sending the orders host after host, collecting results)
    compute_share: slowCompute / total, slowest_comm_share: slowComm / total, update_share: update / total,
    other_share: Math.max(0, 1 - (slowCompute + slowComm + update) / total),
    // the fit loop between steps (callbacks, run folder records, status)
    between_steps_share: Math.max(0, 1 - total / 1000 / wall),
    hosts: window[0].hosts.length,
    status_comm_share: lastStatus?.communicationShare ?? null,
    status_img_per_s: lastStatus?.imagesPerSecond ?? null,
    others_cores: meterWall ? Math.max(0, (m1.busy - m0.busy) - (m1.children - m0.children)) / meterWall : null,
  };
}

const int = (v) => (v == null || Number.isNaN(v) ? '-' : Math.round(v).toLocaleString('en-US'));
const fixed = (v, nd = 2) => (v == null || Number.isNaN(v) ? '-' : v.toFixed(nd));
const pct = (v) => (v == null || Number.isNaN(v) ? '-' : `${(v * 100).toFixed(1)}%`);

function summarize(topos, settings, runs) {
  return topos.flatMap((t) => settings.filter((b) => !(t.local && b === 'off')).map((b) => {
    const rs = runs.filter((r) => r.topology === t.id && r.bufferutil === b);
    const med = (k) => median(rs.map((r) => r[k]).filter((v) => v != null));
    const keys = ['img_per_s', 'step_ms', 'comm_ms', 'compute_ms', 'update_ms', 'comm_share', 'compute_share', 'slowest_comm_share', 'update_share', 'other_share', 'between_steps_share', 'status_comm_share', 'status_img_per_s', 'others_cores'];
    return {
      topology: t.id, hosts: t.hosts, threads: t.threads, local: t.local, bufferutil: b, n: rs.length,
      ...Object.fromEntries(keys.map((k) => [k, med(k)])),
      min: rs.length ? Math.min(...rs.map((r) => r.img_per_s)) : null, max: rs.length ? Math.max(...rs.map((r) => r.img_per_s)) : null,
    };
  }));
}

function describe(row) {
  return row.local ? `coordinator's own pool, ${row.threads} threads (no network)` : `${row.hosts} host${row.hosts > 1 ? 's' : ''} x ${row.threads} thread${row.threads > 1 ? 's' : ''}`;
}

function markdown(header, rows, o) {
  const bu = header.bufferutil;
  const md = [`## bench:cluster, run of ${header.started}`, '', ...machineLines(header),
    `- bufferutil: ${bu.version ? `${bu.version}, ${bu.native ? 'native binding loaded' : '**JS fallback (the native binding did not load): "on" and "off" run the same code**'}` : `not loadable (${bu.error})`}; ws ${header.ws ?? '?'}`,
    `- Work: ${o.model}, batch ${o.batch}, ${o.steps} steps per run, the first ${o.warmup} left out; coordinator \`--local-threads 0\` on 127.0.0.1, hosts \`cnn-worker join\` on this machine`, '',
    `### ${o.model} at batch ${o.batch}: images/s and the share of step time spent communicating (medians of ${o.repeats} runs)`, '',
    'A host\'s comm = its round trip minus its compute (encode, send, receive, decode on both sides, waiting for a core). Comm share = the largest comm of any host, ' +
    'summed over steps, over the summed step time (GET /status\'s definition). The step split additively: the slowest host\'s compute and comm, the update (the coordinator ' +
    'combining the pieces and applying the optimizer), and the coordinator\'s rest (encoding and sending the orders host after host, collecting). Between steps: the fit ' +
    'loop outside the step. /status: its own figures over its last 20 steps, read during the run.', '',
    '| hosts x threads | bufferutil | img/s | min–max | step ms | comm ms (largest) | comm share | step: slowest host compute / comm / update / coordinator | between steps | /status comm share | /status img/s | other procs, cores |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'];
  for (const r of rows) {
    md.push(`| ${describe(r)} | ${r.local ? '-' : r.bufferutil === 'on' ? (bu.native ? 'native' : 'fallback') : 'off'} | ${int(r.img_per_s)} | ${int(r.min)}–${int(r.max)} | ${fixed(r.step_ms, 1)} | ${fixed(r.comm_ms, 1)} | ` +
      `${pct(r.comm_share)} | ${pct(r.compute_share)} / ${pct(r.slowest_comm_share)} / ${pct(r.update_share)} / ${pct(r.other_share)} | ${pct(r.between_steps_share)} | ${pct(r.status_comm_share)} | ${int(r.status_img_per_s)} | ${fixed(r.others_cores)} |`);
  }
  const pairs = rows.filter((r) => !r.local && r.bufferutil === 'on').map((on) => [on, rows.find((x) => x.topology === on.topology && x.bufferutil === 'off')]).filter(([, off]) => off);
  if (pairs.length) {
    md.push('', '### The effect of bufferutil (WS_NO_BUFFER_UTIL=1 in every process = off)', '',
      '| hosts x threads | img/s on / off | on ÷ off | comm ms on / off | comm share on / off |', '| --- | ---: | ---: | ---: | ---: |');
    for (const [on, off] of pairs) {
      md.push(`| ${describe(on)} | ${int(on.img_per_s)} / ${int(off.img_per_s)} | ${on.img_per_s && off.img_per_s ? `${fixed(on.img_per_s / off.img_per_s)}x` : '-'} | ${fixed(on.comm_ms, 1)} / ${fixed(off.comm_ms, 1)} | ${pct(on.comm_share)} / ${pct(off.comm_share)} |`);
    }
  }
  const cores = header.machine.cores;
  const over = rows.filter((r) => !r.local && r.hosts * r.threads > cores);
  if (over.length) md.push('', `Topologies with more threads than the machine's ${cores} cores (${over.map((r) => r.topology).filter((v, i, a) => a.indexOf(v) === i).join(', ')}) share cores: their compute and comm times include waiting for a core.`);
  return `${md.join('\n')}\n`;
}

/** `--no-report`/`--quiet` when this build's cnn-coordinator has them (the run folder's plots are not measured). */
async function outputFlags() {
  const help = await new Promise((resolve) => {
    const p = spawn(process.execPath, [COORDINATOR_BIN, 'start', '--help'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    p.on('close', () => resolve(out));
    p.on('error', () => resolve(''));
  });
  return ['--no-report', '--quiet'].filter((f) => help.includes(f));
}

async function main(argv) {
  const flags = parseFlags(argv, SPEC);
  if (flags.help) return console.log(USAGE);
  const o = { ...DEFAULTS, ...flags };
  if (o.warmup >= o.steps) throw new UsageError(`--warmup (${o.warmup}) must be below --steps (${o.steps})`);
  if (!existsSync(COORDINATOR_BIN)) throw new Error(`${COORDINATOR_BIN} not found: build first (pnpm run build)`);
  const topos = o.topologies.map(parseTopology);
  o.outputFlags = await outputFlags();
  const session = openSession({ name: 'cluster', command: commandLine('bench:cluster', argv), options: o, tag: o.tag, out: o.out });
  const { write, log } = session;
  session.header.bufferutil = bufferutilState();
  try {
    const coordinator = createRequire(join(REPO_ROOT, 'packages/coordinator/package.json'));
    session.header.ws = createRequire(coordinator.resolve('ws'))('ws/package.json').version;
  } catch {
    session.header.ws = null;
  }
  write({ kind: 'bufferutil', ...session.header.bufferutil, ws: session.header.ws });
  const plan = [];
  for (let repeat = 1; repeat <= o.repeats; repeat++) {
    for (const t of topos) {
      // Alternate which bufferutil setting goes first.
      const settings = repeat % 2 === 1 ? o.bufferutil : [...o.bufferutil].reverse();
      for (const b of settings) if (!(t.local && b === 'off')) plan.push({ t, b, repeat });
    }
  }
  log(`${plan.length} runs of ${o.steps} steps (${o.model}, batch ${o.batch}); bufferutil ${session.header.bufferutil.native ? 'native' : 'NOT native'}`);
  const tmp = mkdtempSync(join(os.tmpdir(), 'cnn-bench-cluster-'));
  const runs = [];
  try {
    for (const [i, { t, b, repeat }] of plan.entries()) {
      const raw = await runOnce(t, b, o, tmp);
      const f = figures(raw, o);
      const run = { kind: 'cluster_run', topology: t.id, hosts: t.hosts, threads: t.threads, local: t.local, bufferutil: b, repeat, ...f };
      runs.push(run);
      write(run);
      write({ kind: 'cluster_steps', topology: t.id, bufferutil: b, repeat, steps: raw.steps.map(({ step, time, totalMs, updateMs, hosts }) => ({ step, time, totalMs, updateMs, hosts })), status: raw.status });
      log(`[${i + 1}/${plan.length}] ${t.id.padEnd(6)} bufferutil ${b.padEnd(3)} repeat ${repeat}: ${Math.round(f.img_per_s)} img/s, step ${f.step_ms.toFixed(1)} ms, ` +
        `comm ${(f.comm_share * 100).toFixed(1)}%${f.status_comm_share != null ? ` (/status ${(f.status_comm_share * 100).toFixed(1)}%)` : ''}, others ${f.others_cores?.toFixed(2) ?? '-'} cores`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const rows = summarize(topos, o.bufferutil, runs);
  session.finish((h) => markdown(h, rows, o), { othersCores: runs.map((r) => r.others_cores), summary: { rows } });
}

runMain('bench:cluster', USAGE, main);
