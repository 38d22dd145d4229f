import { existsSync, readdirSync } from 'node:fs';
import { singleThread } from '@cnn/core';
import { FAULT_ENV, releaseIdleThreads, threads } from '@cnn/worker';
import { afterEach, describe, expect, it } from 'vitest';
import { firstBitDifference, trainSteps } from '../helpers.js';

/** The ids of this process's threads (Linux); null elsewhere. */
function threadIds(): Set<string> | null {
  return existsSync('/proc/self/task') ? new Set(readdirSync('/proc/self/task')) : null;
}

// Worker threads outlive the pool of one fit (as PyTorch's thread pool does): the next fit attaches
// the same, already warm threads to its own model. What must hold: every fit still gives the bits of
// one thread, whatever model the threads served before, and a set whose thread failed is not reused.
describe('worker threads serve one pool after another', () => {
  afterEach(() => {
    delete process.env[FAULT_ENV];
  });

  it('a new model on the same threads gives the single-thread bits, and no thread is started for it', async () => {
    const options = { steps: 12, batchSize: 32, microBatchSize: 8 };
    const reference = {
      lenet5: await trainSteps('lenet5', singleThread(), options),
      convnet: await trainSteps('convnet', singleThread(), options),
    };
    let before: Set<string> | null = null;
    for (const [i, name] of (['lenet5', 'convnet', 'lenet5', 'convnet'] as const).entries()) {
      // From the second fit on, the set the last fit gave back serves this one.
      if (i === 1) before = threadIds();
      const run = await trainSteps(name, threads(2), options);
      expect(firstBitDifference(run.params, reference[name].params), `fit ${i + 1} (${name})`).toBe(-1);
      expect(run.history.loss).toEqual(reference[name].history.loss);
    }
    const after = threadIds();
    if (before && after) expect([...after].filter((id) => !before.has(id)), 'threads started after the first fit').toEqual([]);
  });

  it('after a thread failed, the next fit runs on fresh threads and gives the single-thread bits', async () => {
    const options = { steps: 8, batchSize: 32, microBatchSize: 8 };
    process.env[FAULT_ENV] = 'exit@3';
    await expect(trainSteps('seed', threads(2), options)).rejects.toMatchObject({ code: 'CNN_ERR_THREAD_FAILED' });
    delete process.env[FAULT_ENV];
    const reference = await trainSteps('seed', singleThread(), options);
    const run = await trainSteps('seed', threads(2), options);
    expect(firstBitDifference(run.params, reference.params)).toBe(-1);
  });

  it('releaseIdleThreads ends the threads a fit gave back; the next fit starts fresh ones and gives the same bits', async () => {
    const options = { steps: 6, batchSize: 32, microBatchSize: 8 };
    const before = threadIds();
    const first = await trainSteps('seed', threads(3), options);
    const kept = threadIds();
    await releaseIdleThreads();
    const released = threadIds();
    if (before && kept && released) {
      const workers = [...kept].filter((id) => !before.has(id));
      // Two worker threads (the main thread is the third), each with a thread or two of its own.
      expect(workers.length, 'threads a threads(3) fit leaves idle').toBeGreaterThanOrEqual(2);
      expect(workers.filter((id) => released.has(id)), 'idle threads left after releaseIdleThreads').toEqual([]);
    }
    await releaseIdleThreads(); // nothing idle: a no-op
    const again = await trainSteps('seed', threads(3), options);
    expect(firstBitDifference(again.params, first.params)).toBe(-1);
  });
});
