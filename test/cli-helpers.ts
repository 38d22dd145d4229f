import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CNN_BIN = fileURLToPath(new URL('../packages/cli/bin/cnn.js', import.meta.url));

/** The weights.bin bytes of a run folder (equal weights are equal bytes). */
export function weightsOf(runDir: string): Buffer {
  return readFileSync(join(runDir, 'weights.bin'));
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `cnn-${prefix}-`));
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts a node script with arguments (behind `command`, e.g. ['ip', 'netns', 'exec', NS, node]); collects its output. */
export function start(script: string, args: string[], env: NodeJS.ProcessEnv = {}, command: string[] = [process.execPath], cwd?: string): { child: ChildProcess; done: Promise<Finished>; output: () => string } {
  const child = spawn(command[0], [...command.slice(1), script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], cwd });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<Finished>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done, output: () => stdout + stderr };
}

export function runCnn(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Finished> {
  return start(CNN_BIN, args, env).done;
}

/** Polls until `probe` holds or the time is up. */
export async function waitFor(probe: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
