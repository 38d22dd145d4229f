import { type IncomingMessage, type Server, type ServerResponse, createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import { RemoteHostLink } from '../cluster/remote-host.js';
import type { Membership } from '../cluster/membership.js';
import type { Dashboard } from '../dashboard/dashboard.js';
import { type DecodeLimits, decodeHostMessage, encode, maxResultBytes } from '../protocol/codec.js';
import { PROTOCOL_ERRORS, ProtocolError, type ProtocolErrorCode } from '../protocol/errors.js';
import { type HostMessage, PROTOCOL_VERSION, type RunSpec } from '../protocol/messages.js';
import { rateLimitKey, tokenMatches } from './token.js';

export interface ServerOptions {
  readonly host: string;
  readonly port: number;
  /** Required of joining hosts when set. */
  readonly token: string | null;
  readonly tls: { cert: string | Buffer; key: string | Buffer } | null;
  readonly run: RunSpec;
  readonly limits: DecodeLimits;
  readonly membership: Membership;
  readonly log: Logger;
  /** JSON served at GET /status. */
  readonly status: () => unknown;
  /** Serves GET / (the live dashboard), /events and the page's files when set. */
  readonly dashboard?: Dashboard | null;
  readonly heartbeatMs: number;
  readonly handshakeTimeoutMs: number;
  /** Wrong tokens an address may present within `windowMs` before its hellos are refused unchecked. */
  readonly tokenFailures?: { readonly allowed: number; readonly windowMs: number };
}

/** The `token` query parameter of a request target (null: none, or a target that does not parse). */
function queryToken(target: string): string | null {
  try {
    return new URL(target, 'http://coordinator').searchParams.get('token');
  } catch {
    return null;
  }
}

/** A host is declared lost after this many heartbeat intervals without a pong. */
const MISSED_HEARTBEATS = 3;

/**
 * Bytes a connection may send before its handshake completes. hello and ready take under 4 KB (the
 * token is at most 1024 characters); without this bound ws would buffer a frame up to maxPayload
 * (sized for results, megabytes) from every peer that has not even presented a token.
 */
export const HANDSHAKE_MAX_BYTES = 16 * 1024;

/** Wrong tokens an address may present per window; then its hellos are refused without a check until the window ends. */
export const TOKEN_FAILURES = { allowed: 5, windowMs: 60_000 } as const;

/** Addresses whose token failures are remembered at most; expired ones are forgotten first. */
const MAX_TRACKED_ADDRESSES = 10_000;

type State = 'hello' | 'welcomed' | 'ready' | 'closed';

interface Connection {
  readonly socket: WebSocket;
  readonly address: string;
  /** The remote address without port: wrong tokens are counted per address. */
  readonly ip: string;
  readonly id: string;
  state: State;
  name: string;
  threads: number;
  /** Pings sent since the last pong: counted, not timed, so a busy coordinator blames no host. */
  unanswered: number;
  link: RemoteHostLink | null;
  handshakeTimer: NodeJS.Timeout | null;
}

let nextHost = 1;

/**
 * The coordinator's network face: one port serves the WebSocket protocol (docs/PROTOCOL.md) and
 * HTTP (GET /status). Each connection walks hello -> welcome -> ready; any frame that fails
 * validation closes that connection with its code and a log line, and training goes on.
 */
export class CoordinatorServer {
  readonly #o: ServerOptions;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #connections = new Set<Connection>();
  /** Wrong tokens per remote address (without port) in the current window. */
  readonly #tokenFailures = new Map<string, { count: number; since: number }>();
  /**
   * Addresses (rateLimitKey) whose host sent sums that differ from this machine's (--verify-every):
   * why, for the rest of the run. A host that lies once would otherwise join again with the token, and
   * only the steps that happen to be checked catch it.
   */
  readonly #banned = new Map<string, string>();
  #heartbeat: NodeJS.Timeout | null = null;
  #runOver = false;
  #overReason = 'the run has ended';

  constructor(options: ServerOptions) {
    this.#o = options;
    const handler = (req: IncomingMessage, res: ServerResponse) => this.#http_(req, res);
    // A request whose headers never complete (a WebSocket upgrade held half-open) gets the handshake's
    // time, not Node's 60 s, checked every second rather than every 30 s. Node times a request only
    // until it is received, so the dashboard's event stream (a long response) is never cut.
    const timeouts = {
      headersTimeout: options.handshakeTimeoutMs,
      // Node's default (300 s), raised if need be: Node refuses a headers timeout above it.
      requestTimeout: Math.max(300_000, options.handshakeTimeoutMs),
      connectionsCheckingInterval: Math.min(1000, options.handshakeTimeoutMs),
    };
    this.#http = options.tls
      ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key, ...timeouts }, handler)
      : createHttpServer(timeouts, handler);
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: maxResultBytes(options.limits), perMessageDeflate: false });
    this.#http.on('upgrade', (req, socket, head) => {
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, req));
    });
  }

  /** Starts listening; resolves to the bound port (useful with port 0). */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#http.once('error', reject);
      this.#http.listen(this.#o.port, this.#o.host, () => {
        this.#http.off('error', reject);
        this.#heartbeat = setInterval(() => this.#beat(), this.#o.heartbeatMs);
        this.#heartbeat.unref();
        resolve((this.#http.address() as AddressInfo).port);
      });
    });
  }

  /**
   * Closes the port. A finished run tells every host so (they exit); otherwise connections are just
   * cut, and hosts keep trying to reconnect (to a coordinator restarted with --resume).
   */
  async close(finished: boolean, reason: string, lingerMs = 100): Promise<void> {
    this.#runOver = true;
    this.#overReason = reason;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    if (finished) {
      for (const c of this.#connections) {
        if (c.link?.alive) {
          c.link.finish(reason);
          c.state = 'closed';
        } else {
          this.#reject(c, 'CNN_PROTO_RUN_OVER', reason);
        }
      }
      // Meanwhile hosts that reconnect are told the run is over (#accept) rather than left retrying.
      await new Promise((r) => setTimeout(r, lingerMs));
    }
    for (const c of this.#connections) c.socket.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  #http_(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?', 1)[0];
    const data = req.method === 'GET' && (path === '/status' || path === '/events');
    // What a run reports (its settings, hosts, curves) is for whoever holds its token; the page
    // and its scripts hold nothing of the run and stay open.
    if (data && this.#o.token !== null && !this.#authorized(req, res, path)) return;
    if (req.method === 'GET' && path === '/status') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(this.#o.status()));
      return;
    }
    if (this.#o.dashboard?.handle(req, res)) return;
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  }

  /**
   * Whether a request for the run's data carries its token (`Authorization: Bearer <token>`, or
   * `?token=` as the dashboard's link and its event stream do); if not, answers 401 itself. Wrong
   * tokens count against the address as a hello's do.
   */
  #authorized(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    const header = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const token = header ?? queryToken(req.url ?? '/');
    const refusal = token === null
      ? `GET ${path} needs the run's token: open the dashboard link cnn-coordinator start printed (it carries ?token=), or send "Authorization: Bearer <token>"`
      : this.#tokenRefusal(req.socket.remoteAddress ?? '?', token);
    if (refusal === null) return true;
    this.#o.log.warn({ address: req.socket.remoteAddress, path }, `refused GET ${path}: ${refusal}`);
    res.writeHead(401, { 'content-type': 'application/json', 'cache-control': 'no-store', 'www-authenticate': 'Bearer' });
    res.end(JSON.stringify({ error: 'CNN_ERR_UNAUTHORIZED', message: refusal }) + '\n');
    return false;
  }

  #accept(socket: WebSocket, req: IncomingMessage): void {
    const address = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    const c: Connection = { socket, address, ip: req.socket.remoteAddress ?? '?', id: `host-${nextHost++}`, state: 'hello', name: '?', threads: 0, unanswered: 0, link: null, handshakeTimer: null };
    this.#connections.add(c);
    c.handshakeTimer = setTimeout(() => {
      if (c.state !== 'ready') this.#reject(c, 'CNN_PROTO_TIMEOUT', `no completed handshake within ${this.#o.handshakeTimeoutMs} ms`);
    }, this.#o.handshakeTimeoutMs);
    socket.on('pong', () => {
      c.unanswered = 0;
      const stats = this.#o.membership.stats(c.id);
      if (stats) stats.lastSeen = Date.now();
    });
    socket.on('message', (data, isBinary) => this.#onFrame(c, data, isBinary));
    socket.on('close', (code, reason) => this.#onClose(c, code, reason.toString()));
    socket.on('error', (e) => this.#o.log.warn({ host: c.id, address, err: e.message }, 'socket error'));
    this.#limitHandshakeBytes(c, req.socket);
    if (this.#runOver) this.#reject(c, 'CNN_PROTO_RUN_OVER', this.#overReason);
  }

  /** Cuts a connection that sends more than HANDSHAKE_MAX_BYTES before its handshake completes. */
  #limitHandshakeBytes(c: Connection, raw: IncomingMessage['socket']): void {
    let received = 0;
    const count = (chunk: Buffer) => {
      // Ready, or already closing (ws refused a frame over maxPayload by its header: it says so with 1009).
      if (c.state === 'ready' || c.state === 'closed' || c.socket.readyState !== c.socket.OPEN) {
        raw.off('data', count);
        return;
      }
      received += chunk.length;
      if (received <= HANDSHAKE_MAX_BYTES) return;
      raw.off('data', count);
      // After ws has parsed the chunk (it reports errors a tick later): a frame over maxPayload gets its 1009.
      setImmediate(() => {
        if (c.state === 'ready' || c.state === 'closed' || c.socket.readyState !== c.socket.OPEN) return;
        const why = `sent ${received} bytes before completing the handshake (at most ${HANDSHAKE_MAX_BYTES})`;
        this.#o.log.warn({ host: c.id, address: c.address }, `cutting connection: ${why}`);
        this.#o.membership.record('rejected', c.id, why);
        this.#drop(c, why);
        c.socket.terminate();
      });
    };
    raw.on('data', count);
  }

  #onFrame(c: Connection, data: RawData, isBinary: boolean): void {
    if (c.state === 'closed') return;
    let message: HostMessage;
    try {
      if (!isBinary) throw new ProtocolError('CNN_PROTO_MALFORMED', 'text frames are not part of the protocol; frames are binary MessagePack');
      const frame = Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data;
      message = decodeHostMessage(frame, this.#o.limits);
      this.#handle(c, message);
    } catch (e) {
      if (e instanceof ProtocolError) this.#reject(c, e.code, e.message, e.piece);
      else throw e;
    }
  }

  #handle(c: Connection, m: HostMessage): void {
    const expect = (state: State) => {
      if (c.state !== state) throw new ProtocolError('CNN_PROTO_UNEXPECTED', `'${m.type}' is not allowed now (connection state: ${c.state})`);
    };
    switch (m.type) {
      case 'hello': {
        expect('hello');
        if (this.#o.token !== null) this.#checkToken(c, m.token);
        const ban = this.#banned.get(rateLimitKey(c.ip));
        if (ban !== undefined) throw new ProtocolError('CNN_PROTO_BAD_RESULT', ban);
        c.name = m.name;
        c.threads = m.threads;
        c.state = 'welcomed';
        c.socket.send(encode({ type: 'welcome', version: PROTOCOL_VERSION, hostId: c.id, heartbeatMs: this.#o.heartbeatMs, run: this.#o.run }));
        return;
      }
      case 'ready': {
        expect('welcomed');
        if (m.modelFingerprint !== this.#o.run.modelFingerprint) {
          throw new ProtocolError('CNN_PROTO_BAD_MODEL', `model fingerprint ${m.modelFingerprint.slice(0, 12)}… differs from the run's ${this.#o.run.modelFingerprint.slice(0, 12)}…: run the same cnn release on every machine`);
        }
        if (m.datasetFingerprint !== this.#o.run.datasetFingerprint) {
          throw new ProtocolError('CNN_PROTO_BAD_DATASET', `data set fingerprint ${m.datasetFingerprint.slice(0, 12)}… differs from the run's ${this.#o.run.datasetFingerprint.slice(0, 12)}…: every machine needs the same '${this.#o.run.dataset}' files`);
        }
        if (c.handshakeTimer) clearTimeout(c.handshakeTimer);
        c.state = 'ready';
        c.link = new RemoteHostLink(c.id, c.name, c.threads, c.address, c.socket, (code, message) => this.#refuseLiar(c, code, message));
        this.#o.membership.add(c.link);
        this.#o.log.info({ host: c.id, hostName: c.name, address: c.address, threads: c.threads }, 'host joined');
        return;
      }
      case 'result':
        expect('ready');
        c.link!.onResult(m);
        return;
      case 'failure':
        throw new ProtocolError('CNN_PROTO_HOST_FAILED', `the host reported a failure: ${m.message}`);
    }
  }

  /**
   * Checks a hello's token in constant time. An address (of IPv6, its /64: rateLimitKey) that
   * presented `allowed` wrong tokens within the window is refused without a check until the window
   * ends, so guessing costs a minute per handful of tries (an honest host sharing that address is
   * refused meanwhile too).
   */
  #checkToken(c: Connection, token: string): void {
    const refusal = this.#tokenRefusal(c.ip, token);
    if (refusal !== null) throw new ProtocolError('CNN_PROTO_BAD_TOKEN', refusal);
  }

  /** Null when `token` is the run's, else why it is refused (counting a wrong one against `ip`). */
  #tokenRefusal(ip: string, token: string): string | null {
    const { allowed, windowMs } = this.#o.tokenFailures ?? TOKEN_FAILURES;
    const now = Date.now();
    const who = rateLimitKey(ip);
    let failures = this.#tokenFailures.get(who);
    if (failures && now - failures.since > windowMs) {
      this.#tokenFailures.delete(who);
      failures = undefined;
    }
    if (failures && failures.count >= allowed) {
      const wait = Math.ceil((failures.since + windowMs - now) / 1000);
      return `too many wrong tokens from ${who}: refused without a check for ${wait} s more`;
    }
    if (tokenMatches(this.#o.token!, token)) return null;
    if (!failures) {
      this.#forgetOldFailures(now, windowMs);
      failures = { count: 0, since: now };
      this.#tokenFailures.set(who, failures);
    }
    failures.count += 1;
    return 'the join token is wrong: use the --token printed by cnn-coordinator start';
  }

  /** Keeps the failure table bounded: expired windows go first, then the oldest addresses. */
  #forgetOldFailures(now: number, windowMs: number): void {
    if (this.#tokenFailures.size < MAX_TRACKED_ADDRESSES) return;
    for (const [ip, f] of this.#tokenFailures) if (now - f.since > windowMs) this.#tokenFailures.delete(ip);
    for (const ip of this.#tokenFailures.keys()) {
      if (this.#tokenFailures.size < MAX_TRACKED_ADDRESSES) break;
      this.#tokenFailures.delete(ip);
    }
  }

  /** Drops a host whose sums were wrong and refuses its address's hellos for the rest of the run. */
  #refuseLiar(c: Connection, code: 'CNN_PROTO_BAD_RESULT', message: string): void {
    const who = rateLimitKey(c.ip);
    if (this.#banned.size < MAX_TRACKED_ADDRESSES) {
      this.#banned.set(who, `a host at ${who} sent sums that differ from this machine's (${message}): hosts from that address are refused while this coordinator runs`);
    }
    this.#reject(c, code, message);
  }

  /** Sends the reason (so the host can print it), closes with the code's close code, logs it. */
  #reject(c: Connection, code: ProtocolErrorCode, message: string, piece?: number): void {
    if (c.state === 'closed') return;
    this.#o.log.warn({ host: c.id, address: c.address, code }, `closing connection: ${message}`);
    this.#o.membership.record('rejected', c.id, `${code}: ${message}`);
    this.#drop(c, `${code}: ${message}`, { code, piece });
    try {
      c.socket.send(encode({ type: 'reject', version: PROTOCOL_VERSION, code, message }));
      c.socket.close(PROTOCOL_ERRORS[code].close, code);
    } catch {
      c.socket.terminate();
    }
    // A peer that ignores the close handshake is cut off.
    setTimeout(() => c.socket.terminate(), 1000).unref();
  }

  #onClose(c: Connection, code: number, reason: string): void {
    this.#connections.delete(c);
    if (c.state !== 'closed') {
      this.#o.log.warn({ host: c.id, address: c.address, code, reason }, 'host disconnected');
      this.#drop(c, `connection closed (${code}${reason ? ` ${reason}` : ''})`);
    }
  }

  #drop(c: Connection, why: string, fault?: { code: ProtocolErrorCode; piece: number | undefined }): void {
    c.state = 'closed';
    if (c.handshakeTimer) clearTimeout(c.handshakeTimer);
    if (c.link) {
      c.link.lost(why, fault);
      this.#o.membership.remove(c.id, why);
    }
  }

  /** Pings every host; one that left MISSED_HEARTBEATS pings unanswered is lost (its work reassigned). */
  #beat(): void {
    for (const c of this.#connections) {
      if (c.state === 'closed') continue;
      if (c.state === 'ready' && c.unanswered >= MISSED_HEARTBEATS) {
        this.#reject(c, 'CNN_PROTO_TIMEOUT', `${c.unanswered} heartbeats in a row went unanswered`);
        continue;
      }
      c.unanswered += 1;
      c.socket.ping();
    }
  }
}
