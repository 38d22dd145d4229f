import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCnn, tempDir, weightsOf } from '../cli-helpers.js';
import { type Proc, expectExit, startCoordinator, startHost } from '../cluster-helpers.js';
import { type Lab, createLab, netnsUnavailable } from '../netns.js';

const RUN = ['--model', 'lenet5', '--batch-size', '64', '--max-steps', '40', '--seed', '5'];
const TOKEN = 'netns-test-token';

const unavailable = netnsUnavailable();
if (unavailable) console.warn(`skipping the network-namespace test: ${unavailable}`);

describe.skipIf(unavailable !== null)('hosts on separate network stacks', () => {
  let lab: Lab | undefined;
  const started: Proc[] = [];
  afterAll(() => {
    for (const p of started) p.child.kill('SIGKILL');
    lab?.dispose();
  });

  it('a coordinator and two hosts, each in its own namespace, train to the bits of one thread', async () => {
    const root = tempDir('netns');
    const reference = join(root, 'reference');
    const clean = await runCnn(['train', ...RUN, '--threads', '1', '--out', reference, '--quiet']);
    expect(clean.code, clean.stderr).toBe(0);

    lab = createLab(3);
    const out = join(root, 'run');
    const coordinator = await startCoordinator(
      [...RUN, '--host', lab.address(0), '--token', TOKEN, '--local-threads', '0', '--min-hosts', '2', '--out', out],
      {},
      lab.exec(0),
    );
    started.push(coordinator);
    expect(coordinator.url).toBe(`ws://${lab.address(0)}:${/:(\d+)$/.exec(coordinator.url)![1]}`);
    // Off loopback the token is required: a host without it is refused.
    const intruder = startHost(coordinator.url, ['--threads', '1'], {}, lab.exec(1));
    started.push(intruder);
    const refused = await expectExit(intruder, 1);
    expect(refused.stderr).toMatch(/CNN_PROTO_BAD_TOKEN/);

    const hosts = [1, 2].map((i) => startHost(coordinator.url, ['--threads', '1', '--token', TOKEN], {}, lab!.exec(i)));
    started.push(...hosts);
    const r = await expectExit(coordinator, 0);
    for (const h of hosts) await expectExit(h, 0);
    // Both hosts joined from their own addresses.
    expect(r.stderr).toContain(`"address":"${lab.address(1)}:`);
    expect(r.stderr).toContain(`"address":"${lab.address(2)}:`);
    expect(weightsOf(out).equals(weightsOf(reference))).toBe(true);
  });
});
