import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCnn, tempDir, weightsOf } from '../cli-helpers.js';
import { expectExit, killedAfterEach, startCoordinator, startHost } from '../cluster-helpers.js';

const RUN = ['--model', 'seed', '--batch-size', '32', '--max-steps', '60', '--seed', '3'];
const TOKEN = 'tls-test-token';

const track = killedAfterEach();

/** A self-signed certificate for 127.0.0.1, made by openssl for this test only. */
function selfSigned(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}

describe('wss: the coordinator serves TLS with a certificate', () => {
  it('hosts that trust it and know the token train; plain ws, untrusting hosts and wrong or missing tokens are refused', async () => {
    const root = tempDir('tls');
    const { cert, key } = selfSigned(root);
    const reference = join(root, 'reference');
    expect((await runCnn(['train', ...RUN, '--threads', '1', '--out', reference, '--quiet'])).code).toBe(0);

    const out = join(root, 'run');
    const c = await startCoordinator([...RUN, '--tls-cert', cert, '--tls-key', key, '--token', TOKEN, '--local-threads', '0', '--min-hosts', '1', '--out', out]);
    track(c);
    expect(c.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);

    // Without TLS, or without trusting the certificate, a host never gets in.
    const plain = startHost(c.url.replace('wss://', 'ws://'), ['--threads', '1', '--reconnect-for', '2']);
    const untrusting = startHost(c.url, ['--threads', '1', '--reconnect-for', '2']);
    track([plain, untrusting]);
    expect((await expectExit(plain, 1)).stderr).toMatch(/left the run/);
    expect((await expectExit(untrusting, 1)).stderr).toMatch(/self[- ]signed certificate|unable to verify/i);
    // Over TLS, trusting the certificate, but with a wrong token or none: refused at the hello.
    const wrongToken = startHost(c.url, ['--threads', '1', '--ca', cert, '--token', 'not-the-token']);
    const noToken = startHost(c.url, ['--threads', '1', '--ca', cert]);
    track([wrongToken, noToken]);
    for (const h of [wrongToken, noToken]) expect((await expectExit(h, 1)).stderr).toMatch(/CNN_PROTO_BAD_TOKEN: the join token is wrong/);

    const host = startHost(c.url, ['--threads', '1', '--ca', cert, '--token', TOKEN]);
    track(host);
    await expectExit(c, 0);
    await expectExit(host, 0);
    expect(weightsOf(out).equals(weightsOf(reference))).toBe(true);
  });
});
