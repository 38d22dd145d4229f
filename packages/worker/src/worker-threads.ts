import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';

const THREAD_MODULE = fileURLToPath(new URL('./thread.js', import.meta.url));

/**
 * The worker threads of this process, kept between pools the way PyTorch keeps its thread pool: a
 * thread that started and compiled its hot code for one fit() serves the next one (or the
 * evaluation after it) warm. A fresh thread costs tens of milliseconds to start and, on a small
 * machine, a few hundred milliseconds of background compilation that takes a core from training.
 *
 * A pool leases a set of threads of the size it needs and gives it back when it closes. At most one
 * set waits idle (the last given back); idle threads do not keep the process alive. A set whose
 * pool failed (a thread threw or exited) is destroyed, never reused.
 */
export interface WorkerSet {
  readonly piscina: Piscina;
  readonly size: number;
}

let idle: WorkerSet | null = null;

export function leaseWorkers(size: number): WorkerSet {
  if (idle && idle.size === size) {
    const set = idle;
    idle = null;
    return set;
  }
  return {
    size,
    piscina: new Piscina({ filename: THREAD_MODULE, minThreads: size, maxThreads: size, idleTimeout: Number.POSITIVE_INFINITY }),
  };
}

/** Takes a set back once none of its threads runs a task of the pool any more; `healthy: false` destroys it. */
export async function returnWorkers(set: WorkerSet, healthy: boolean): Promise<void> {
  if (!healthy) {
    await set.piscina.destroy();
    return;
  }
  const previous = idle;
  idle = set;
  await previous?.piscina.destroy();
}

/**
 * Ends the idle worker threads now instead of at exit: for a long-lived process (a server, a
 * notebook) that has finished training and wants their memory back (10-20 MB a thread). Threads a
 * running fit holds are not touched; the next pool starts fresh ones.
 */
export async function releaseIdleThreads(): Promise<void> {
  const set = idle;
  idle = null;
  await set?.piscina.destroy();
}
