import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCnn, tempDir, weightsOf } from '../cli-helpers.js';
import { expectExit, killedAfterEach, startCoordinator, startHost, waitForStep } from '../cluster-helpers.js';

// Settings shared by every run: equal settings must give equal weights, however the work is spread.
const STEPS = 60;
const RUN = ['--model', 'lenet5', '--batch-size', '64', '--max-steps', String(STEPS), '--seed', '7'];

const track = killedAfterEach();

describe('the weights do not depend on the topology', () => {
  it('cnn train --threads 1 = 2 hosts x 1 = 3 hosts x 2 = a host killed and another joining', async () => {
    const root = tempDir('topology');
    const reference = join(root, 'reference');
    const single = await runCnn(['train', ...RUN, '--threads', '1', '--out', reference, '--quiet']);
    expect(single.code, single.stderr).toBe(0);

    // Coordinator + 2 hosts x 1 thread (the coordinator only coordinates).
    const twoHosts = join(root, 'two-hosts');
    const c2 = track(await startCoordinator([...RUN, '--local-threads', '0', '--min-hosts', '2', '--out', twoHosts]));
    const h2 = [track(startHost(c2.url, ['--threads', '1'])), track(startHost(c2.url, ['--threads', '1']))];
    await expectExit(c2, 0);
    for (const h of h2) await expectExit(h, 0);
    expect(weightsOf(twoHosts).equals(weightsOf(reference))).toBe(true);

    // Coordinator + 3 hosts x 2 threads.
    const threeHosts = join(root, 'three-hosts');
    const c3 = track(await startCoordinator([...RUN, '--local-threads', '0', '--min-hosts', '3', '--out', threeHosts]));
    const h3 = [0, 1, 2].map(() => track(startHost(c3.url, ['--threads', '2'])));
    await expectExit(c3, 0);
    for (const h of h3) await expectExit(h, 0);
    expect(weightsOf(threeHosts).equals(weightsOf(reference))).toBe(true);

    // Two hosts; one is SIGKILLed mid-run, a third joins later.
    const churn = join(root, 'churn');
    const cc = track(await startCoordinator([...RUN, '--local-threads', '0', '--min-hosts', '2', '--out', churn]));
    const victim = track(startHost(cc.url, ['--threads', '1']));
    const survivor = track(startHost(cc.url, ['--threads', '1']));
    await waitForStep(churn, 15, cc);
    victim.child.kill('SIGKILL');
    await waitForStep(churn, 30, cc);
    const late = track(startHost(cc.url, ['--threads', '2']));
    const r = await expectExit(cc, 0);
    await expectExit(survivor, 0);
    await expectExit(late, 0);
    expect(r.stderr).toMatch(/host lost mid-step: reassigning its pieces|host disconnected/);
    expect(weightsOf(churn).equals(weightsOf(reference))).toBe(true);
  });
});
