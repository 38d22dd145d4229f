import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StatusSnapshot } from '../status.js';
import { type MetricsCursor, type MetricsDelta, RunMetrics } from './metrics.js';

export const LIVE_DEFAULTS = {
  /** Fastest pushes go: at most 4 a second, whatever the step rate (a chart needs no more). */
  pushIntervalMs: 250,
  /** A push goes at least this often while nothing changes (heartbeat ages, uptime; keeps proxies from closing). */
  idlePushMs: 1000,
  /** Open streams at most; each costs a snapshot's JSON per push. More get 503. */
  maxClients: 16,
  /** How long EventSource waits before reconnecting (the SSE `retry` field). */
  retryMs: 2000,
} as const;

export interface LiveStreamOptions {
  status: () => StatusSnapshot;
  metrics: RunMetrics;
  pushIntervalMs?: number;
  idlePushMs?: number;
  maxClients?: number;
}

/** One `update` event: the status (without the per-epoch history, which travels as a series) and the new points. */
export interface LiveUpdate {
  /** The coordinator's clock, so the page tells heartbeat ages without trusting its own. */
  serverTime: number;
  status: Omit<StatusSnapshot, 'history' | 'events'>;
  /** Present when the events changed since the client's last update. */
  events?: StatusSnapshot['events'];
  metrics: MetricsDelta;
}

interface Client {
  readonly res: ServerResponse;
  readonly cursor: MetricsCursor;
  eventsKey: string;
  /** What the last push to this page showed (changeKey) and when it went. */
  shownKey: string;
  pushedAt: number;
}

/**
 * Server-Sent Events to the dashboard pages. The training loop only appends points (RunMetrics);
 * this sends them: one timer, running only while a page is open, pushes at most every
 * pushIntervalMs what each page lacks (its cursor into the series), and skips a page whose socket
 * has not drained (it gets the points it missed in the next push: cursors make pushes cumulative).
 */
export class LiveStream {
  readonly #o: Required<LiveStreamOptions>;
  readonly #clients = new Set<Client>();
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(options: LiveStreamOptions) {
    this.#o = { pushIntervalMs: LIVE_DEFAULTS.pushIntervalMs, idlePushMs: LIVE_DEFAULTS.idlePushMs, maxClients: LIVE_DEFAULTS.maxClients, ...options };
    for (const key of ['pushIntervalMs', 'idlePushMs', 'maxClients'] as const) {
      const v = this.#o[key];
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`options.${key} must be a positive integer, got ${v}`);
    }
  }

  get clients(): number {
    return this.#clients.size;
  }

  /** Answers GET /events: the whole state at once, then updates until the page goes or the run ends. */
  open(req: IncomingMessage, res: ServerResponse): void {
    if (this.#closed || this.#clients.size >= this.#o.maxClients) {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5' });
      res.end(this.#closed ? 'the run has ended\n' : `at most ${this.#o.maxClients} dashboards at once: close one\n`);
      return;
    }
    req.socket.setTimeout(0);
    req.socket.setNoDelay(true);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: ${LIVE_DEFAULTS.retryMs}\n\n`);
    const client: Client = { res, cursor: RunMetrics.cursor(), eventsKey: '', shownKey: '', pushedAt: 0 };
    this.#clients.add(client);
    const drop = () => {
      this.#clients.delete(client);
      if (this.#clients.size === 0) this.#stopTimer();
    };
    res.on('close', drop);
    res.on('error', drop);
    const status = this.#o.status();
    this.#send(client, status, changeKey(status, this.#o.metrics), Date.now());
    if (!this.#timer) {
      this.#timer = setInterval(() => this.#tick(), this.#o.pushIntervalMs);
      this.#timer.unref();
    }
  }

  /** Sends every page the final state and an `end` event, then closes the streams (the HTTP server cannot close while they are open). */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopTimer();
    const status = this.#o.status();
    const key = changeKey(status, this.#o.metrics);
    const now = Date.now();
    for (const c of this.#clients) {
      this.#send(c, status, key, now, true);
      c.res.end(`event: end\ndata: ${JSON.stringify({ reason })}\n\n`);
    }
    this.#clients.clear();
  }

  #tick(): void {
    const status = this.#o.status();
    const now = Date.now();
    const key = changeKey(status, this.#o.metrics);
    for (const c of this.#clients) {
      if (c.shownKey === key && now - c.pushedAt < this.#o.idlePushMs) continue;
      this.#send(c, status, key, now);
    }
  }

  #send(c: Client, snapshot: StatusSnapshot, key: string, now: number, force = false): void {
    // A page that has not taken the last push gets nothing more until it has (its cursor stays put).
    if (c.res.writableNeedDrain && !force) return;
    c.shownKey = key;
    c.pushedAt = now;
    const { history: _history, events, ...status } = snapshot;
    const eventsKey = keyOfEvents(events);
    const update: LiveUpdate = { serverTime: now, status, metrics: this.#o.metrics.delta(c.cursor) };
    if (eventsKey !== c.eventsKey) {
      update.events = events;
      c.eventsKey = eventsKey;
    }
    c.res.write(`event: update\ndata: ${JSON.stringify(update)}\n\n`);
  }

  #stopTimer(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}

/** Equal keys: nothing a page shows changed but clocks. */
function changeKey(s: StatusSnapshot, metrics: RunMetrics): string {
  return `${metrics.version}|${s.state}|${keyOfEvents(s.events)}|${s.hosts.map((h) => `${h.id}:${h.alive ? 1 : 0}`).join(',')}`;
}

/** The events list is bounded (it drops its oldest), so its length alone would stop changing. */
function keyOfEvents(events: StatusSnapshot['events']): string {
  const last = events[events.length - 1];
  return last ? `${events.length}|${last.time}|${last.host}|${last.kind}` : '0';
}
