import { connect as connectTcp } from 'node:net';
import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { Membership } from '../cluster/membership.js';
import { decodeCoordinatorMessage, encode } from '../protocol/codec.js';
import { type CoordinatorMessage, PROTOCOL_VERSION, type RunSpec } from '../protocol/messages.js';
import { CoordinatorServer, HANDSHAKE_MAX_BYTES } from './coordinator-server.js';

/*
 * The server's limits on peers that have not completed the handshake, against a server in this
 * process and real WebSocket clients: wrong tokens are rate-limited per address, a connection may
 * send only HANDSHAKE_MAX_BYTES before it is ready, and one that never completes the handshake is
 * closed when its time is up.
 */

const TOKEN = 'server-test-token';
const PARAMS = 20_000;
const RUN: RunSpec = {
  model: {}, modelFingerprint: 'm'.repeat(64), dataset: 'mnist', datasetFingerprint: 'd'.repeat(64), loss: {},
  seed: 1, microBatch: 8, maxShards: 4, paramCount: PARAMS,
};
/** Generous: nothing here is a race, only a loaded machine's slowness. */
const PATIENCE_MS = 20_000;

const servers: CoordinatorServer[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  for (const s of servers.splice(0)) await s.close(false, 'test over');
});

function capturingLog(): { log: Logger; lines: () => { msg: string; code?: string }[] } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      out.push(String(chunk));
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream) as Logger, lines: () => out.join('').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

async function serve(overrides: Partial<ConstructorParameters<typeof CoordinatorServer>[0]> = {}): Promise<{ url: string; lines: () => { msg: string; code?: string }[]; membership: Membership }> {
  const { log, lines } = capturingLog();
  const membership = new Membership();
  const server = new CoordinatorServer({
    host: '127.0.0.1', port: 0, token: TOKEN, tls: null, run: RUN, limits: { paramCount: PARAMS, maxPieces: 4 }, membership, log,
    status: () => ({}), heartbeatMs: 1000, handshakeTimeoutMs: 10_000, ...overrides,
  });
  servers.push(server);
  const port = await server.listen();
  return { url: `ws://127.0.0.1:${port}`, lines, membership };
}

interface Client {
  socket: WebSocket;
  received: CoordinatorMessage[];
  closed: Promise<number>;
}

async function connect(url: string): Promise<Client> {
  const socket = new WebSocket(url, { perMessageDeflate: false });
  sockets.push(socket);
  const received: CoordinatorMessage[] = [];
  socket.on('message', (data: Buffer) => received.push(decodeCoordinatorMessage(data, null)));
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return { socket, received, closed };
}

const hello = (token: string) => encode({ type: 'hello', version: PROTOCOL_VERSION, token, name: 'test', threads: 1 });

/** A client through the whole handshake (hello, welcome, ready with the run's fingerprints): a host in good standing. */
async function joined(url: string, membership: Membership): Promise<Client> {
  const c = await connect(url);
  c.socket.send(hello(TOKEN));
  await within(new Promise<void>((resolve) => {
    const poll = setInterval(() => c.received.length > 0 && (clearInterval(poll), resolve()), 5);
  }), 'the welcome');
  c.socket.send(encode({ type: 'ready', version: PROTOCOL_VERSION, modelFingerprint: RUN.modelFingerprint, datasetFingerprint: RUN.datasetFingerprint }));
  await within(membership.waitFor(membership.live().length + 1), 'the host to join');
  return c;
}

async function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), PATIENCE_MS)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Says hello with `token`; resolves to 'welcome' or the reject frame's message. */
async function tryToken(url: string, token: string): Promise<string> {
  const c = await connect(url);
  c.socket.send(hello(token));
  await within(new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (c.received.length > 0) {
        clearInterval(poll);
        resolve();
      }
    }, 5);
  }), 'an answer to hello');
  const m = c.received[0];
  c.socket.terminate();
  return m.type === 'welcome' ? 'welcome' : m.type === 'reject' ? `${m.code}: ${m.message}` : m.type;
}

describe('wrong tokens are rate-limited per address', () => {
  it('after `allowed` wrong tokens, hellos from the address are refused unchecked until the window ends', async () => {
    const windowMs = 1500;
    const { url, lines } = await serve({ tokenFailures: { allowed: 3, windowMs } });
    const started = Date.now();
    for (let i = 0; i < 3; i++) expect(await tryToken(url, `guess-${i}`)).toMatch(/^CNN_PROTO_BAD_TOKEN: the join token is wrong/);
    expect(await tryToken(url, 'guess-3')).toMatch(/^CNN_PROTO_BAD_TOKEN: too many wrong tokens from 127\.0\.0\.1/);
    // The right token is not even checked meanwhile: a guess that happens to be right learns nothing.
    const during = await tryToken(url, TOKEN);
    if (Date.now() - started < windowMs) expect(during).toMatch(/too many wrong tokens/);
    await new Promise((r) => setTimeout(r, Math.max(0, started + windowMs + 100 - Date.now())));
    expect(await tryToken(url, TOKEN)).toBe('welcome');
    expect(lines().filter((l) => l.code === 'CNN_PROTO_BAD_TOKEN').length).toBeGreaterThanOrEqual(4);
  });

  it('the right token is welcome at once when no wrong one came before', async () => {
    const { url } = await serve();
    expect(await tryToken(url, TOKEN)).toBe('welcome');
  });
});

describe('a host caught with wrong sums', () => {
  it('is dropped, and every later hello from its address is refused with the reason, after the token check', async () => {
    const { url, membership } = await serve();
    const liar = await joined(url, membership);
    // What ClusterStrategy's check does when a piece's sums differ from this machine's.
    membership.live()[0].refuse!('CNN_PROTO_BAD_RESULT', 'step 3: its sums of shards [2, 4) differ from this machine\'s computation');
    expect(await within(liar.closed, 'the refusal')).toBe(4012);

    const again = await connect(url);
    again.socket.send(hello(TOKEN));
    expect(await within(again.closed, 'the refusal')).toBe(4012);
    expect(again.received).toEqual([expect.objectContaining({
      type: 'reject', code: 'CNN_PROTO_BAD_RESULT',
      message: 'a host at 127.0.0.1 sent sums that differ from this machine\'s (step 3: its sums of shards [2, 4) differ from this machine\'s computation): hosts from that address are refused while this coordinator runs',
    })]);
    // Without the token it learns nothing of the ban.
    const guess = await connect(url);
    guess.socket.send(hello('guess'));
    expect(await within(guess.closed, 'the refusal')).toBe(4002);
    expect(guess.received.map((m) => m.type === 'reject' && m.code)).toEqual(['CNN_PROTO_BAD_TOKEN']);
  });
});

describe('before the handshake completes', () => {
  it(`a connection that sends more than ${HANDSHAKE_MAX_BYTES} bytes is cut, without buffering up to maxPayload`, async () => {
    const { url, lines, membership } = await serve();
    const c = await connect(url);
    // The first fragment of a message far below maxPayload (sized for 4 gradients of 20,000 floats:
    // 321 KB) and far above the handshake's: ws would hold it, waiting for the rest.
    c.socket.send(new Uint8Array(64 * 1024), { fin: false });
    expect(await within(c.closed, 'the cut')).toBe(1006);
    expect(lines().some((l) => l.msg.startsWith('cutting connection: sent') && l.msg.includes(`at most ${HANDSHAKE_MAX_BYTES}`))).toBe(true);
    expect(membership.events.at(-1)?.kind).toBe('rejected');
  });

  it('a small bad frame is still answered with its code (the cap does not hide errors)', async () => {
    const { url } = await serve();
    const c = await connect(url);
    c.socket.send(new Uint8Array(1000).fill(0xc1));
    expect(await within(c.closed, 'the refusal')).toBe(4000);
    expect(c.received.map((m) => m.type === 'reject' && m.code)).toEqual(['CNN_PROTO_MALFORMED']);
  });

  it('a ready host may send frames larger than the handshake cap (results are sized by the model)', async () => {
    const { url, membership } = await serve();
    const c = await joined(url, membership);
    // A whole result for a work order it was never given: decoded (not cut), then refused for what it says.
    c.socket.send(encode({ type: 'result', version: PROTOCOL_VERSION, work: 99, step: 0, computeMs: 1, pieces: [{ start: 0, len: 1, lossSum: 1, correct: 0, count: 8, grad: new Float32Array(PARAMS) }] }));
    expect(await within(c.closed, 'the refusal')).toBe(4005);
  });

  it('a connection that never completes the handshake is closed when its time is up', async () => {
    const { url, lines } = await serve({ handshakeTimeoutMs: 300 });
    const silent = await connect(url);
    const welcomedOnly = await connect(url);
    welcomedOnly.socket.send(hello(TOKEN));
    expect(await within(silent.closed, 'the timeout')).toBe(4009);
    expect(await within(welcomedOnly.closed, 'the timeout')).toBe(4009);
    expect(lines().filter((l) => l.code === 'CNN_PROTO_TIMEOUT')).toHaveLength(2);
  });

  it('an HTTP request whose headers never complete (a half-open upgrade) is closed within the handshake time too', async () => {
    const { url } = await serve({ handshakeTimeoutMs: 300 });
    const { hostname, port } = new URL(url);
    const socket = connectTcp(Number(port), hostname);
    const answer: Buffer[] = [];
    socket.on('data', (d: Buffer) => answer.push(d));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n');
    // Node's own default would keep it for 60 s; within() gives up long before that.
    await within(closed, 'the server to close the half-open request');
    expect(Buffer.concat(answer).toString('latin1')).toMatch(/^HTTP\/1\.1 408/);
  });
});

describe('the run\'s data over HTTP is for holders of its token', () => {
  it('GET /status and /events need the token (header or ?token=); wrong ones count against the address; the page itself is open', async () => {
    const { url } = await serve({ status: () => ({ step: 7 }), tokenFailures: { allowed: 2, windowMs: 60_000 } });
    const base = url.replace(/^ws/, 'http');
    const missing = await fetch(`${base}/status`);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ error: 'CNN_ERR_UNAUTHORIZED', message: expect.stringMatching(/needs the run's token.*\?token=/) });
    expect((await fetch(`${base}/events`)).status).toBe(401);
    const byHeader = await fetch(`${base}/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(byHeader.status).toBe(200);
    expect(await byHeader.json()).toEqual({ step: 7 });
    expect((await fetch(`${base}/status?token=${encodeURIComponent(TOKEN)}`)).status).toBe(200);
    // No dashboard in this server: past the token, /events is simply not here.
    expect((await fetch(`${base}/events?token=${encodeURIComponent(TOKEN)}`)).status).toBe(404);

    // Two wrong tokens, then even the right one is refused unchecked for the window, over HTTP and for hellos alike.
    for (const guess of ['guess-1', 'guess-2']) {
      const wrong = await fetch(`${base}/status`, { headers: { authorization: `Bearer ${guess}` } });
      expect(wrong.status).toBe(401);
      expect((await wrong.json()).message).toMatch(/the join token is wrong/);
    }
    const locked = await fetch(`${base}/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(locked.status).toBe(401);
    expect((await locked.json()).message).toMatch(/too many wrong tokens from 127\.0\.0\.1/);
    expect(await tryToken(url, TOKEN)).toMatch(/^CNN_PROTO_BAD_TOKEN: too many wrong tokens/);
  });

  it('a run without a token (on loopback) serves its data to anyone who can reach it', async () => {
    const { url } = await serve({ token: null, status: () => ({ step: 3 }) });
    const res = await fetch(`${url.replace(/^ws/, 'http')}/status`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ step: 3 });
  });
});
