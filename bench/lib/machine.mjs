/**
 * What a timing ran on and how busy the machine was meanwhile. The CPU meter is the torch script's
 * CpuMeter (torch_mnist.py) in JavaScript, so both sides report `others_cores` the same way.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** Kernel clock ticks per second (/proc/stat's unit); 100 on every mainstream Linux build. */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU-seconds spent non-idle by the whole machine (all cores), from /proc/stat. */
export function systemBusySeconds() {
  const v = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return (total - v[3] - v[4]) / CLK_TCK; // minus idle and iowait, as the torch script does
}

/**
 * Wall time, own-process CPU time (all threads of this process) and the average number of cores
 * used by *other* processes over an interval: the contamination of a timing on a shared machine.
 */
export class CpuMeter {
  start() {
    this.t0 = performance.now();
    this.c0 = process.cpuUsage();
    this.s0 = systemBusySeconds();
    return this;
  }

  stop() {
    const wall = (performance.now() - this.t0) / 1000;
    const c = process.cpuUsage(this.c0);
    const ownCpu = (c.user + c.system) / 1e6;
    const sysBusy = systemBusySeconds() - this.s0;
    return { wall, ownCpu, othersCores: Math.max(0, sysBusy - ownCpu) / wall };
  }
}

/** Sleeps until other processes use < thresholdCores for a 1 s window, or maxWait s passed (torch's wait_for_idle). */
export async function waitForIdle(maxWait, thresholdCores = 0.2, windowS = 1) {
  if (!(maxWait > 0)) return { waited: 0, busy: null };
  const t0 = performance.now();
  for (;;) {
    const s0 = systemBusySeconds();
    await new Promise((r) => setTimeout(r, windowS * 1000));
    const busy = (systemBusySeconds() - s0) / windowS;
    const waited = (performance.now() - t0) / 1000;
    if (busy < thresholdCores || waited >= maxWait) return { waited, busy };
  }
}

/** CPU model as /proc/cpuinfo names it, with family/model/stepping (a VM often hides the marketing name). */
function cpuModel() {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8').split('\n\n', 1)[0];
    const field = (k) => info.match(new RegExp(`^${k}\\s*:\\s*(.*)$`, 'm'))?.[1]?.trim();
    return `${field('model name') ?? os.cpus()[0]?.model} (family ${field('cpu family')}, model ${field('model')}, stepping ${field('stepping')})`;
  } catch {
    return os.cpus()[0]?.model ?? 'unknown';
  }
}

function gitState(cwd) {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd, encoding: 'utf8' }).split('\n').filter(Boolean).length;
    return { commit, dirty_files: dirty };
  } catch {
    return { commit: null, dirty_files: null };
  }
}

/** This process's peak resident set (VmHWM of /proc/self/status) in MB; null off Linux. */
export function peakRssMb() {
  try {
    const kb = Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
    return Number.isFinite(kb) ? kb / 1024 : null;
  } catch {
    return null;
  }
}

export function machineInfo(repoRoot) {
  return {
    cpu: cpuModel(),
    cores: os.availableParallelism(),
    mem_gb: Math.round(os.totalmem() / 2 ** 30 * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    v8: process.versions.v8,
    loadavg: os.loadavg(),
    ...gitState(repoRoot),
  };
}

/** A scalar loop's rounds per second over `ms` (the unit of the probe below). */
const PROBE_LOOP = `function spin(ms) {
  const t0 = performance.now();
  let rounds = 0;
  let x = 0;
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 10000; i++) x += Math.sqrt(i * rounds);
    rounds++;
  }
  return { perSecond: rounds / ((performance.now() - t0) / 1000), x };
}`;

/**
 * What both cores of this machine give right now: the same scalar loop on this thread and on a
 * worker thread at once for `ms`, in rounds per second, the slower of the two. Outside load that a VM
 * cannot see (no steal time is reported here) shows as a drop: on the 2-core dev VM 48k when quiet,
 * 39-40k for hours on a slower day; two-thread training figures from a run whose probe dipped
 * compare with nothing. Bursts of load during a run escape it (it runs before). Not a benchmark of
 * ours: a label on one.
 */
export async function twoCoreProbe(ms = 300) {
  const { Worker } = await import('node:worker_threads');
  const worker = new Worker(`${PROBE_LOOP}
    const { parentPort } = require('node:worker_threads');
    parentPort.once('message', (ms) => parentPort.postMessage(spin(ms).perSecond));
    parentPort.postMessage('ready');`, { eval: true });
  try {
    await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const theirs = new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    worker.postMessage(ms);
    const mine = new Function(`${PROBE_LOOP}; return spin;`)()(ms).perSecond;
    return Math.round(Math.min(mine, await theirs));
  } finally {
    await worker.terminate();
  }
}
