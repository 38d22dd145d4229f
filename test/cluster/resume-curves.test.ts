import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { CoordinatorRun, type RunSettings } from '@cnn/coordinator';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../packages/cli/src/logger.js';
import { tempDir } from '../cli-helpers.js';

// A coordinator resumed from a checkpoint serves the whole run on its dashboard and GET /status: the
// curves and epoch history recorded before the interruption, then its own. Both runs in this process,
// on this machine's pool (as `cnn train --checkpoint-dir ... [--resume]` runs them).
describe('a resumed run', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('starts its curves and epoch history with those of the run it resumes', async () => {
    const root = tempDir('resume-curves');
    dirs.push(root);
    const log = createLogger('resume-curves', 'silent');
    // seed at batch 256: 235 steps an epoch, so the first run ends 5 steps into its second epoch.
    const settings: Partial<RunSettings> = { model: 'seed', dataset: 'mnist', epochs: 2, batchSize: 256, microBatchSize: 8, optimizer: 'adam', seed: 1, maxSteps: 240 };
    const common = { listen: null, localThreads: 1, minHosts: 0, out: join(root, 'run'), checkpointDir: join(root, 'checkpoints'), checkpointEvery: 0, log };
    const cursor = () => ({ steps: { generation: -1, count: 0 }, epochs: { generation: -1, count: 0 } });

    const first = await CoordinatorRun.create({ ...common, settings, resume: false });
    await first.start();
    await first.train();
    await first.close(true);
    const before = first.status.metrics.delta(cursor());
    expect(before.steps.points).toHaveLength(240);

    const second = await CoordinatorRun.create({ ...common, settings, resume: true, resumeLength: { maxSteps: 250 } });
    await second.start();
    await second.train();
    await second.close(true);
    const after = second.status.metrics.delta(cursor());
    const snapshot = second.status.snapshot();

    expect(snapshot.step).toBe(250);
    // Each run ends mid-epoch and logs that epoch's part; the resumed run keeps the first's whole epoch 1
    // and logs its own part of epoch 2.
    expect(first.status.snapshot().history.map((h) => h.epoch)).toEqual([1, 2]);
    expect(snapshot.history.map((h) => h.epoch)).toEqual([1, 2]);
    expect(snapshot.history[0].logs).toEqual(first.status.snapshot().history[0].logs);
    expect(after.steps.points.map((p) => p[0])).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    // The first 240 points are the first run's, as it recorded them.
    expect(after.steps.points.slice(0, 240)).toEqual(before.steps.points);
    expect(after.epochs.points[0]).toEqual(before.epochs.points[0]);
    expect(after.epochs.points).toHaveLength(2);
  });
});
