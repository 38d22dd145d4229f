import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCnn, tempDir, weightsOf } from '../cli-helpers.js';
import { expectExit, freePort, killedAfterEach, startCoordinator, startHost, waitForStep } from '../cluster-helpers.js';

const RUN = ['--model', 'lenet5', '--batch-size', '64', '--max-steps', '60', '--seed', '11'];

const track = killedAfterEach();

describe('a coordinator killed and restarted with --resume', () => {
  it('finishes the run with the weights of an uninterrupted one, its hosts reconnecting', async () => {
    const root = tempDir('resume');
    const reference = join(root, 'reference');
    const clean = await runCnn(['train', ...RUN, '--threads', '1', '--out', reference, '--quiet']);
    expect(clean.code, clean.stderr).toBe(0);

    const out = join(root, 'run');
    const checkpoints = join(root, 'checkpoints');
    const port = String(await freePort());
    const args = [...RUN, '--local-threads', '0', '--min-hosts', '2', '--out', out, '--checkpoint-dir', checkpoints, '--checkpoint-every', '10'];
    const first = track(await startCoordinator([...args, '--port', port]));
    const hosts = [track(startHost(first.url, ['--threads', '1'])), track(startHost(first.url, ['--threads', '1']))];
    await waitForStep(out, 25, first);
    first.child.kill('SIGKILL');
    await first.done;
    expect(readdirSync(checkpoints).filter((f) => f.endsWith('.cnnckpt')).length).toBeGreaterThan(0);

    const second = track(await startCoordinator([...args, '--port', port, '--resume']));
    const r = await expectExit(second, 0);
    expect(r.stderr).toMatch(/resuming from checkpoint/);
    for (const h of hosts) {
      const hr = await expectExit(h, 0);
      expect(hr.stderr).toMatch(/reconnecting/);
    }
    expect(weightsOf(out).equals(weightsOf(reference))).toBe(true);
  });
});
