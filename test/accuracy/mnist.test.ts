import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCnn, tempDir } from '../cli-helpers.js';

/** The accuracy `cnn train` prints at the end ("Test accuracy: 98.12%"). */
function testAccuracy(stdout: string): number {
  const m = /Test accuracy: ([\d.]+)%/.exec(stdout);
  if (!m) throw new Error(`no test accuracy in:\n${stdout}`);
  return Number(m[1]) / 100;
}

// The README's main job against the peers. One epoch of lenet5 varies with the seed: over seeds 1-7
// we measured 97.30-98.33% (mean 97.9%), PyTorch 97.66-98.50% (mean 98.1%) on the same setup; the
// default seed 1 gives 97.39%. The bar sits below that spread, where a real regression lands.
describe('cnn train reaches the accuracy of the peers on MNIST', () => {
  it('lenet5, 1 epoch, batch 32 (the defaults): >= 97.0%', async () => {
    const r = await runCnn(['train', '--out', join(tempDir('acc-lenet5'), 'run')]);
    expect(r.code, r.stderr).toBe(0);
    const acc = testAccuracy(r.stdout);
    console.log(`lenet5, 1 epoch: test accuracy ${(acc * 100).toFixed(2)}%`);
    expect(acc).toBeGreaterThanOrEqual(0.97);
  });

  it('seed model, 10 epochs, batch 32: >= 95.5%', async () => {
    const r = await runCnn(['train', '--model', 'seed', '--epochs', '10', '--out', join(tempDir('acc-seed'), 'run')]);
    expect(r.code, r.stderr).toBe(0);
    const acc = testAccuracy(r.stdout);
    console.log(`seed, 10 epochs: test accuracy ${(acc * 100).toFixed(2)}%`);
    expect(acc).toBeGreaterThanOrEqual(0.955);
  });
});
