import { CnnError } from '@cnn/core';
import { FAULT_ENV, threads } from '@cnn/worker';
import { afterEach, describe, expect, it } from 'vitest';
import { trainSteps } from '../helpers.js';

describe('a failing thread ends fit with a clear error', () => {
  afterEach(() => {
    delete process.env[FAULT_ENV];
  });

  for (const kind of ['throw', 'exit'] as const) {
    it(`when a thread ${kind === 'throw' ? 'throws' : 'exits'} at step 3`, async () => {
      process.env[FAULT_ENV] = `${kind}@3`;
      const strategy = threads(2);
      const error = await trainSteps('seed', strategy, { steps: 10, batchSize: 32, microBatchSize: 8 }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(CnnError);
      expect((error as CnnError).code).toBe('CNN_ERR_THREAD_FAILED');
      expect((error as CnnError).message).toMatch(/at step 3 \(computing gradients\)/);
      expect((error as CnnError).message).toMatch(kind === 'throw' ? /fault injected at step 3/ : /exit/i);
      expect((error as CnnError).message).toMatch(/pool is closed/);
      // The pool is gone: using the strategy again fails at once instead of hanging.
      await expect(strategy.trainStep({ step: 0, epoch: 0, batchStart: 0, batchSize: 32 })).rejects.toMatchObject({ code: 'CNN_ERR_POOL_CLOSED' });
    });
  }
});
