import { rmSync } from 'node:fs';
import { CoordinatorRun, HostClient } from '@cnn/coordinator';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../packages/cli/src/logger.js';
import { tempDir } from '../cli-helpers.js';
import { liveHeap } from '../helpers.js';

// A cluster run handles a few messages, timers and promises per step on the coordinator and on every
// host; what a step leaves reachable grows both for the whole run. Coordinator (with a thread of its
// own) and one host share this process and a real WebSocket on 127.0.0.1, so one heap holds both sides.
describe('a long cluster run', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('keeps no memory per step on the coordinator or the host', async () => {
    const out = tempDir('retention');
    dirs.push(out);
    const log = createLogger('retention', 'silent');
    const heapAt = new Map<number, number>();
    const measured = [1000, 4000];
    let steps = 0;
    let host: HostClient | undefined;
    const run = await CoordinatorRun.create({
      settings: { model: 'seed', dataset: 'mnist', epochs: 3, batchSize: 32, microBatchSize: 8, optimizer: 'adam', seed: 1, maxSteps: 4000 },
      listen: { host: '127.0.0.1', port: 0, token: 'retention', tls: null },
      localThreads: 1, minHosts: 1, out, checkpointEvery: 0, resume: false, log,
      callbacks: { onBatchEnd: () => { if (measured.includes(++steps)) heapAt.set(steps, liveHeap()); } },
      onListening: ({ port }) => {
        host = new HostClient({ url: `ws://127.0.0.1:${port}`, token: 'retention', threads: 1, log, reconnectForMs: 5000 });
      },
    });
    await run.start();
    const hostDone = host!.run();
    try {
      await run.train();
    } finally {
      await run.close(true);
    }
    expect((await hostDone).finished).toBe(true);

    expect(steps).toBe(4000);
    // Measured at 1000 to 4000 steps the heap moves by tens of KB; a few hundred bytes kept per step
    // (a promise reaction and its closures, a timer, a log record) would pass 512 KB.
    const growth = heapAt.get(4000)! - heapAt.get(1000)!;
    expect(growth, `the live heap grew by ${growth} bytes over 3000 steps`).toBeLessThan(512 * 1024);
  });
});
