import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { type Finished, start, waitFor } from './cli-helpers.js';

export const COORDINATOR_BIN = fileURLToPath(new URL('../packages/cli/bin/cnn-coordinator.js', import.meta.url));
export const WORKER_BIN = fileURLToPath(new URL('../packages/cli/bin/cnn-worker.js', import.meta.url));

export interface Proc {
  child: ChildProcess;
  done: Promise<Finished>;
  output: () => string;
}

/** Starts `cnn-coordinator start ...` and resolves once it prints the join command. */
export async function startCoordinator(args: string[], env: NodeJS.ProcessEnv = {}, command: string[] = [process.execPath], cwd?: string): Promise<Proc & { url: string }> {
  const p = start(COORDINATOR_BIN, ['start', '--port', '0', '--log-level', 'debug', ...args], env, command, cwd);
  let exited = false;
  void p.done.then(() => (exited = true));
  // The address ends at a quote too: the JSON log line on stderr (which may come first) holds it as a string.
  const joinUrl = /cnn-worker join (wss?:\/\/[^\s"]+)/;
  await waitFor(() => joinUrl.test(p.output()) || exited, 60_000, 'the coordinator to listen');
  const m = joinUrl.exec(p.output());
  if (!m) throw new Error(`coordinator exited before listening:\n${p.output()}`);
  return { ...p, url: m[1] };
}

export function startHost(url: string, args: string[] = [], env: NodeJS.ProcessEnv = {}, command: string[] = [process.execPath], cwd?: string): Proc {
  return start(WORKER_BIN, ['join', url, '--log-level', 'info', ...args], env, command, cwd);
}

/** The last step recorded in a run folder's metrics.jsonl (0 if none yet). */
export function lastStep(runDir: string): number {
  const file = `${runDir}/metrics.jsonl`;
  if (!existsSync(file)) return 0;
  const lines = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) {
    const e = JSON.parse(lines[i]) as { event: string; step?: number };
    if (e.event === 'step') return e.step ?? 0;
  }
  return 0;
}

/** Waits until the run in runDir recorded `step`; on timeout the error carries the coordinator's output. */
export async function waitForStep(runDir: string, step: number, coordinator: Proc, timeoutMs = 120_000): Promise<void> {
  try {
    await waitFor(() => lastStep(runDir) >= step, timeoutMs, `step ${step} in ${runDir}`);
  } catch (e) {
    throw new Error(`${(e as Error).message}\ncoordinator output:\n${coordinator.output().slice(-4000)}`);
  }
}

/**
 * Kills (SIGKILL) after each test of the file every process the test handed to the returned
 * `track`, however the test ended; SIGCONT first, for one a test left stopped (SIGSTOP). `track`
 * takes one process or a list and returns what it was given.
 */
export function killedAfterEach(): <T extends Proc | Proc[]>(p: T) => T {
  const started: Proc[] = [];
  afterEach(() => {
    for (const p of started.splice(0)) {
      p.child.kill('SIGCONT');
      p.child.kill('SIGKILL');
    }
  });
  return (p) => {
    started.push(...(Array.isArray(p) ? p : [p]));
    return p;
  };
}

/** Asserts a process ended with `code`, showing its output when not. */
export async function expectExit(p: Proc, code: number): Promise<Finished> {
  const r = await p.done;
  if (r.code !== code) throw new Error(`expected exit ${code}, got ${r.code} (${r.signal ?? 'no signal'}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** A TCP port that was free a moment ago (for a coordinator that must come back on the same port). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
