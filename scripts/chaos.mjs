#!/usr/bin/env node
/**
 * Chaos run: lenet5 trains for a fixed number of steps on a coordinator and 3 hosts (1 thread each)
 * while a random host is SIGKILLed every few seconds and restarted, and the coordinator is SIGKILLed
 * and restarted with --resume twice (at a third and two thirds of the run). The final weights must be
 * bitwise equal to those of an undisturbed `cnn train --threads 1` with the same settings. Rounds of
 * that run (each with its own faults, all compared with the one reference) repeat until the time given
 * is up, so the time holds whatever the machine's speed.
 *
 *   node scripts/chaos.mjs --minutes 10        (or: pnpm chaos --minutes 10)
 *   node scripts/chaos.mjs --seconds 45 --json (the CI version: test/reliability/chaos.test.ts)
 *
 * Options: --minutes N | --seconds N (how long to keep starting rounds; default 60 s), --steps N (a
 * round's steps; default 1500), --seed N (the fault schedule), --json (a JSON summary as the last
 * line), --keep (keep the work folder). Needs the built packages (pnpm install builds them).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = (name) => fileURLToPath(new URL(`../packages/cli/bin/${name}.js`, import.meta.url));

const CHAOS = {
  hosts: 3,
  /** Steps of a round: 25-65 s on this 2-core machine (the disturbed run makes 25-65 steps a second, 15 under a parallel test load). */
  steps: 1500,
  /** A random host is killed every this many seconds (uniform in the range)... */
  hostKillEverySeconds: [2, 4],
  /** ... and started again after this many. */
  hostRestartAfterSeconds: [0.2, 1.5],
  /** The coordinator is killed and resumed at these fractions of the run. */
  coordinatorKillsAt: [1 / 3, 2 / 3],
  checkpointEvery: 20,
  batchSize: 64,
  /** Giving up: a round must end within this multiple of the time given (plus a minute). */
  patience: 4,
};

function parseArgs(argv) {
  const o = { seconds: 60, steps: null, seed: Math.floor(Math.random() * 2 ** 31), json: false, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${a} needs a positive number`);
      return v;
    };
    if (a === '--minutes') o.seconds = value() * 60;
    else if (a === '--seconds') o.seconds = value();
    else if (a === '--steps') o.steps = Math.round(value());
    else if (a === '--seed') o.seed = Math.round(value());
    else if (a === '--json') o.json = true;
    else if (a === '--keep') o.keep = true;
    else if (a !== '--') throw new Error(`unknown option ${a} (see the comment at the top of scripts/chaos.mjs)`);
  }
  o.steps ??= CHAOS.steps;
  return o;
}

/** Seeded uniform numbers (mulberry32), so a fault schedule can be replayed. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** A sleep that does not keep the process alive (for races with a process's end). */
const deadline = (ms) => new Promise((r) => setTimeout(r, ms).unref());

/** A child process whose output goes to a log file; `done` resolves to its exit code or signal. */
function launch(bin, args, logFile) {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const done = new Promise((resolve) => child.on('close', (code, signal) => {
    writeFileSync(logFile, output, { flag: 'a' });
    resolve({ code, signal });
  }));
  let exited = false;
  void done.then(() => (exited = true));
  return { child, done, output: () => output, exited: () => exited };
}

/** The last step recorded in a run folder's metrics.jsonl. */
function lastStep(runDir) {
  const file = join(runDir, 'metrics.jsonl');
  if (!existsSync(file)) return 0;
  const lines = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const e = JSON.parse(lines[i]);
      if (e.event === 'step') return e.step;
    } catch {
      // a line being written
    }
  }
  return 0;
}

/**
 * One disturbed run of `o.steps` steps in `dir`: a coordinator and its hosts, killed on schedule.
 * Resolves to what happened; the weights are compared by the caller.
 */
async function disturbedRun(dir, o, rand, say, budgetSeconds) {
  const between = ([lo, hi]) => (lo + rand() * (hi - lo)) * 1000;
  const port = await freePort();
  const url = `ws://127.0.0.1:${port}`;
  const runDir = join(dir, 'run');
  const coordinatorArgs = (resume) => [
    'start', ...runSettings(o), '--port', String(port), '--local-threads', '0', '--min-hosts', resume ? '1' : String(CHAOS.hosts), '--out', runDir,
    '--checkpoint-dir', join(dir, 'checkpoints'), '--checkpoint-every', String(CHAOS.checkpointEvery), '--log-level', 'info', '--quiet', '--no-report',
    ...(resume ? ['--resume'] : []),
  ];
  const startHost = (i) => launch(BIN('cnn-worker'), ['join', url, '--threads', '1', '--reconnect-for', '600', '--log-level', 'warn'], join(dir, `host-${i}.log`));

  const started = Date.now();
  const tally = { hostKills: 0, coordinatorKills: 0 };
  let coordinator = launch(BIN('cnn-coordinator'), coordinatorArgs(false), join(dir, 'coordinator.log'));
  const hosts = Array.from({ length: CHAOS.hosts }, (_, i) => startHost(i));
  const restarting = new Set();
  let nextHostKill = Date.now() + between(CHAOS.hostKillEverySeconds);
  const coordinatorKillSteps = CHAOS.coordinatorKillsAt.map((f) => Math.round(o.steps * f));
  const giveUpAt = started + (budgetSeconds * CHAOS.patience + 60) * 1000;
  let outcome = null;

  while (!outcome) {
    await sleep(50);
    if (Date.now() > giveUpAt) {
      outcome = { ok: false, why: `the run did not finish within ${Math.round((giveUpAt - started) / 1000)} s (at step ${lastStep(runDir)})` };
      break;
    }
    if (coordinator.exited()) {
      const r = await coordinator.done;
      outcome = r.code === 0 ? { ok: true } : { ok: false, why: `the coordinator exited with ${r.code ?? r.signal}` };
      break;
    }
    const step = lastStep(runDir);
    if (coordinatorKillSteps.length > 0 && step >= coordinatorKillSteps[0]) {
      coordinatorKillSteps.shift();
      coordinator.child.kill('SIGKILL');
      await coordinator.done;
      tally.coordinatorKills += 1;
      say(`killed the coordinator at step ${step}; restarting it with --resume`);
      coordinator = launch(BIN('cnn-coordinator'), coordinatorArgs(true), join(dir, 'coordinator.log'));
      continue;
    }
    if (Date.now() >= nextHostKill) {
      nextHostKill = Date.now() + between(CHAOS.hostKillEverySeconds);
      const candidates = hosts.map((_, i) => i).filter((i) => !restarting.has(i) && !hosts[i].exited());
      if (candidates.length === 0) continue;
      const i = candidates[Math.floor(rand() * candidates.length)];
      hosts[i].child.kill('SIGKILL');
      tally.hostKills += 1;
      restarting.add(i);
      const delay = between(CHAOS.hostRestartAfterSeconds);
      void hosts[i].done.then(() => sleep(delay)).then(() => {
        if (!outcome) hosts[i] = startHost(i);
        restarting.delete(i);
      });
    }
  }

  const seconds = (Date.now() - started) / 1000;
  // Hosts told `done` exit by themselves; the ones restarted after the end are stopped.
  await Promise.race([Promise.all(hosts.map((h) => h.done)), deadline(10_000)]);
  for (const h of hosts) if (!h.exited()) h.child.kill('SIGKILL');
  if (!coordinator.exited()) coordinator.child.kill('SIGKILL');
  await Promise.all([...hosts.map((h) => h.done), coordinator.done]);

  const log = existsSync(join(dir, 'coordinator.log')) ? readFileSync(join(dir, 'coordinator.log'), 'utf8') : '';
  const count = (re) => (log.match(re) ?? []).length;
  return {
    ...outcome,
    seconds,
    ...tally,
    resumedFrom: [...log.matchAll(/"step":(\d+)[^\n]*"msg":"resuming from checkpoint"/g)].map((m) => Number(m[1])),
    piecesReassigned: count(/host lost mid-step: reassigning its pieces/g),
    deadlinesMissed: count(/host missed its deadline/g),
    hostsJoined: count(/"msg":"host joined"/g),
    weights: join(runDir, 'weights.bin'),
  };
}

function runSettings(o) {
  return ['--model', 'lenet5', '--batch-size', String(CHAOS.batchSize), '--epochs', '1000', '--max-steps', String(o.steps), '--seed', '7'];
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const rand = random(o.seed);
  const root = mkdtempSync(join(tmpdir(), 'cnn-chaos-'));
  const say = (line) => process.stderr.write(`chaos: ${line}\n`);
  say(`rounds of ${o.steps} steps of lenet5 (batch ${CHAOS.batchSize}) on ${CHAOS.hosts} hosts for ${o.seconds} s; fault schedule seed ${o.seed}; work folder ${root}`);

  // The undisturbed reference runs alongside the first round (it is independent of the chaos).
  const referenceStarted = Date.now();
  const reference = launch(BIN('cnn'), ['train', ...runSettings(o), '--threads', '1', '--out', join(root, 'reference'), '--quiet', '--no-report'], join(root, 'reference.log'));
  let referenceSeconds = null;
  void reference.done.then(() => (referenceSeconds = (Date.now() - referenceStarted) / 1000));

  // Rounds of the same fixed-step run, each with its own faults, until the time is up.
  const started = Date.now();
  const rounds = [];
  do {
    const dir = join(root, `round-${rounds.length + 1}`);
    const round = await disturbedRun(dir, o, rand, say, o.seconds);
    rounds.push(round);
    say(`round ${rounds.length}: ${round.ok ? 'finished' : `FAILED (${round.why})`} in ${round.seconds.toFixed(1)} s: ${round.hostKills} host kills, ${round.coordinatorKills} coordinator kills`);
    if (!round.ok) break;
  } while ((Date.now() - started) / 1000 < o.seconds);
  const seconds = (Date.now() - started) / 1000;

  await Promise.race([reference.done, deadline(rounds.every((r) => r.ok) ? 10 * 60_000 : 0)]);
  if (!reference.exited()) reference.child.kill('SIGKILL');
  const referenceResult = await reference.done;
  const referenceWeights = referenceResult.code === 0 ? readFileSync(join(root, 'reference', 'weights.bin')) : null;
  for (const r of rounds) r.weightsEqual = r.ok && referenceWeights !== null && readFileSync(r.weights).equals(referenceWeights);

  const sum = (key) => rounds.reduce((a, r) => a + r[key], 0);
  const failed = rounds.find((r) => !r.ok || !r.weightsEqual);
  const weightsEqual = rounds.every((r) => r.weightsEqual);
  const summary = {
    ok: !failed && referenceWeights !== null,
    why: referenceWeights === null ? 'the reference run failed' : failed ? (failed.ok ? 'the weights differ from the undisturbed run' : failed.why) : null,
    rounds: rounds.length,
    stepsPerRound: o.steps,
    steps: o.steps * rounds.length,
    seconds: Math.round(seconds * 10) / 10,
    referenceSeconds,
    seed: o.seed,
    hostKills: sum('hostKills'),
    coordinatorKills: sum('coordinatorKills'),
    faultsInjected: sum('hostKills') + sum('coordinatorKills'),
    faultsSurvived: weightsEqual ? sum('hostKills') + sum('coordinatorKills') : 0,
    resumedFrom: rounds.map((r) => r.resumedFrom),
    piecesReassigned: sum('piecesReassigned'),
    deadlinesMissed: sum('deadlinesMissed'),
    hostsJoined: sum('hostsJoined'),
    weightsEqual,
    folder: null,
  };
  summary.folder = o.keep || !summary.ok ? root : null;
  say(summary.ok
    ? `survived ${summary.faultsSurvived} faults (${summary.hostKills} host kills, ${summary.coordinatorKills} coordinator kills) in ${summary.rounds} round(s), ${summary.seconds} s; every round's weights bitwise equal to the undisturbed run`
    : `FAILED: ${summary.why} (logs in ${root})`);
  if (o.json) console.log(JSON.stringify(summary));
  if (summary.ok && !o.keep) rmSync(root, { recursive: true, force: true });
  process.exitCode = summary.ok ? 0 : 1;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
