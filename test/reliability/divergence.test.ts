import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCnn, tempDir } from '../cli-helpers.js';
import { expectExit, killedAfterEach, startCoordinator, startHost } from '../cluster-helpers.js';

/*
 * A model that genuinely diverges (a learning rate of 1e10 overflows float32 within two steps) makes
 * every host compute non-finite sums. Each host alone would be dropped as broken (CNN_PROTO_NOT_FINITE)
 * and the step would wait forever for one that is not; instead the run stops with CNN_ERR_DIVERGED,
 * saying to lower the learning rate, and its hosts are told the run is over.
 */

const RUN = ['--model', 'lenet5', '--batch-size', '32', '--max-steps', '50', '--seed', '3', '--learning-rate', '1e10', '--no-report'];

const track = killedAfterEach();

describe('a diverging model', () => {
  it("on this machine's threads (cnn train): stops at once with CNN_ERR_DIVERGED, no model saved", async () => {
    const out = join(tempDir('diverge-local'), 'run');
    const r = await runCnn(['train', ...RUN, '--threads', '2', '--out', out, '--quiet']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^error: step \d+: shards \[\d+, \d+\) gave a non-finite gradient or loss on this machine's threads: the model diverged; lower the learning rate \(--learning-rate\)$/m);
    // The folder keeps what happened (settings, the losses up to the divergence) but no model: model.json is written last.
    expect(existsSync(join(out, 'model.json'))).toBe(false);
    expect(readdirSync(out).sort()).toEqual(['config.json', 'metrics.jsonl']);
  }, 120_000);

  it('on remote hosts: the same shards non-finite from two hosts stop the run; the hosts are told it is over', async () => {
    const out = join(tempDir('diverge-cluster'), 'run');
    const c = await startCoordinator([...RUN, '--local-threads', '0', '--min-hosts', '2', '--out', out]);
    track(c);
    // A bounded --reconnect-for: a host never told the run is over fails the test instead of retrying for 10 minutes.
    const hosts = [0, 1].map(() => startHost(c.url, ['--threads', '1', '--reconnect-for', '30']));
    track(hosts);
    const r = await expectExit(c, 1);
    expect(r.stderr).toMatch(/error: step \d+: shards \[\d+, \d+\) gave a non-finite gradient or loss on host-\d+ \(\S+\) and again on host-\d+ \(\S+\): the model diverged; lower the learning rate/);
    // Before stopping, the hosts were refused one by one for their non-finite sums.
    expect(r.stderr).toMatch(/"code":"CNN_PROTO_NOT_FINITE"/);
    for (const h of hosts) {
      const hr = await expectExit(h, 0);
      expect(hr.stdout).toMatch(/The run is over: step \d+: .*the model diverged/);
    }
    expect(existsSync(join(out, 'model.json'))).toBe(false);
  }, 120_000);
});
