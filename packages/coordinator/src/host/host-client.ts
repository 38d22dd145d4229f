import { hostname } from 'node:os';
import {
  type Dataset, datasetFingerprint, epochPermutation, networkFromTopology, resolveLoss, canFuseSoftmax,
  type HeapArena, heapArena, shardCount,
} from '@cnn/core';
import { HostPool } from '@cnn/worker';
import type { Logger } from 'pino';
import { type ClientOptions, WebSocket } from 'ws';
import { modelFingerprint } from '../fingerprint.js';
import { datasetFrom } from '../load.js';
import { decodeCoordinatorMessage, encode, maxWorkBytes } from '../protocol/codec.js';
import { ProtocolError, codeOfClose } from '../protocol/errors.js';
import { type CoordinatorMessage, PROTOCOL_VERSION, type RunSpec, type Work } from '../protocol/messages.js';

export interface HostOptions {
  url: string;
  token: string;
  threads: number;
  log: Logger;
  /** Extra CA certificate(s) to trust for wss:// (a self-signed coordinator). */
  ca?: string | Buffer;
  /** Give up when the coordinator has been unreachable this long. */
  reconnectForMs: number;
  /** Load a data set by the name the coordinator uses (default: the built-in loaders). */
  loadDataset?: (name: string) => Promise<Dataset>;
}

export const HOST_DEFAULTS = {
  /** How long a host keeps trying to reach a coordinator that went away (it may be restarting). */
  reconnectForMs: 10 * 60_000,
  firstRetryMs: 250,
  maxRetryMs: 5000,
} as const;

/** Why the host stopped: the run ended (exit 0) or it cannot take part (exit 1). */
export interface HostOutcome {
  readonly finished: boolean;
  readonly reason: string;
}

/** Errors after which reconnecting cannot help. */
const FATAL = new Set(['CNN_PROTO_BAD_TOKEN', 'CNN_PROTO_BAD_VERSION', 'CNN_PROTO_BAD_MODEL', 'CNN_PROTO_BAD_DATASET', 'CNN_PROTO_BAD_RESULT']);

/**
 * What the host accepts from the coordinator in each state of a connection (anything else closes it
 * with CNN_PROTO_UNEXPECTED): `welcome` once, after its hello; `work` only once it has answered ready.
 */
const HOST_ACCEPTS = {
  hello: new Set<CoordinatorMessage['type']>(['welcome', 'done', 'reject']),
  ready: new Set<CoordinatorMessage['type']>(['work', 'done', 'reject']),
} as const;

/**
 * Silence after which the coordinator counts as gone (a half-open connection shows only as silence).
 * Generous: a coordinator busy validating on its main thread pings late without being gone.
 */
const COORDINATOR_SILENCE_MS = 30_000;

interface Prepared {
  spec: RunSpec;
  pool: HostPool;
  arena: HeapArena;
  params: Float32Array;
  epoch: number;
  shuffle: boolean | null;
  samples: number;
}

/**
 * A host of a cluster: joins a coordinator, computes the pieces of each step it is given with its own
 * worker threads, and sends their sums back. Reconnects (with backoff) when the coordinator goes away,
 * until the run is over.
 */
export class HostClient {
  readonly #o: HostOptions;
  #prepared: Prepared | null = null;
  #datasets = new Map<string, Dataset>();
  #stopping = false;
  #socket: WebSocket | null = null;
  /**
   * Orders are served one at a time, in arrival order, across connections too: an order of a
   * connection that just dropped may still be computing when the next connection's first one comes.
   */
  #queue: Promise<void> = Promise.resolve();

  constructor(options: HostOptions) {
    this.#o = options;
  }

  /** Runs until the coordinator says the run is over (or the host is refused, or gives up). */
  async run(): Promise<HostOutcome> {
    const { log } = this.#o;
    let unreachableSince: number | null = null;
    let delay: number = HOST_DEFAULTS.firstRetryMs;
    try {
      for (;;) {
        const outcome = await this.#session();
        if (outcome.kind === 'finished') return { finished: true, reason: outcome.reason };
        if (outcome.kind === 'fatal' || this.#stopping) return { finished: false, reason: outcome.reason };
        if (outcome.kind === 'connected') {
          unreachableSince = null;
          delay = HOST_DEFAULTS.firstRetryMs;
        }
        unreachableSince ??= Date.now();
        if (Date.now() - unreachableSince > this.#o.reconnectForMs) {
          return { finished: false, reason: `the coordinator has been unreachable for ${Math.round((Date.now() - unreachableSince) / 1000)} s (${outcome.reason})` };
        }
        log.warn({ retryInMs: delay }, `coordinator connection lost (${outcome.reason}); reconnecting`);
        await new Promise((r) => setTimeout(r, delay * (0.75 + Math.random() * 0.5)));
        delay = Math.min(delay * 2, HOST_DEFAULTS.maxRetryMs);
      }
    } finally {
      await this.#release();
    }
  }

  async #release(): Promise<void> {
    const p = this.#prepared;
    this.#prepared = null;
    if (!p) return;
    await p.pool.close();
    p.arena.release();
  }

  /** Stops after the current step; the coordinator reassigns what this host was doing. */
  stop(): void {
    this.#stopping = true;
    this.#socket?.close(1001, 'host stopping');
  }

  /** One connection: handshake, then work until it closes. */
  #session(): Promise<{ kind: 'finished' | 'fatal' | 'connected' | 'unreachable'; reason: string }> {
    const { log } = this.#o;
    return new Promise((resolve) => {
      let joined = false;
      let state: keyof typeof HOST_ACCEPTS = 'hello';
      let settled = false;
      let lastPing = Date.now();
      let heartbeatMs = 0;
      let watchdog: NodeJS.Timeout | null = null;
      const finish = (kind: 'finished' | 'fatal' | 'connected' | 'unreachable', reason: string) => {
        if (settled) return;
        settled = true;
        if (watchdog) clearInterval(watchdog);
        socket.removeAllListeners('message');
        if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.terminate();
        resolve({ kind: kind === 'unreachable' && joined ? 'connected' : kind, reason });
      };
      const options: ClientOptions = { maxPayload: 1 << 30, perMessageDeflate: false, ...(this.#o.ca ? { ca: this.#o.ca } : {}) };
      const socket = new WebSocket(this.#o.url, options);
      this.#socket = socket;
      socket.binaryType = 'nodebuffer';
      socket.on('open', () => {
        socket.send(encode({ type: 'hello', version: PROTOCOL_VERSION, token: this.#o.token, name: hostname(), threads: this.#o.threads }));
      });
      socket.on('ping', () => {
        lastPing = Date.now();
      });
      socket.on('message', (data: Buffer, isBinary) => {
        this.#queue = this.#queue.then(async () => {
          if (settled) return;
          try {
            if (!isBinary) throw new ProtocolError('CNN_PROTO_MALFORMED', 'text frame from the coordinator');
            const message = decodeCoordinatorMessage(data, this.#prepared?.spec.paramCount ?? null);
            if (!HOST_ACCEPTS[state].has(message.type)) {
              throw new ProtocolError('CNN_PROTO_UNEXPECTED', `${message.type} from the coordinator ${state === 'hello' ? 'before its welcome' : 'after its welcome'}`);
            }
            const outcome = await this.#handle(socket, message);
            if (message.type === 'welcome') {
              state = 'ready';
              joined = true;
              heartbeatMs = message.heartbeatMs;
              const silence = Math.max(COORDINATOR_SILENCE_MS, 3 * heartbeatMs);
              watchdog = setInterval(() => {
                if (Date.now() - lastPing > silence) finish('unreachable', `no heartbeat from the coordinator for ${Date.now() - lastPing} ms`);
              }, heartbeatMs);
              watchdog.unref();
            }
            if (outcome) finish(outcome.kind, outcome.reason);
          } catch (e) {
            // The connection went away meanwhile (a result that could not be sent): the next one starts afresh.
            if (settled || socket.readyState !== WebSocket.OPEN) {
              finish('unreachable', e instanceof Error ? e.message : String(e));
              return;
            }
            if (e instanceof ProtocolError) {
              log.error({ code: e.code }, e.message);
              socket.close(e.closeCode, e.code);
              finish('unreachable', e.message);
            } else {
              const reason = e instanceof Error ? e.message : String(e);
              log.error({ err: reason }, 'this host cannot compute: leaving the run');
              socket.send(encode({ type: 'failure', version: PROTOCOL_VERSION, message: reason }), () => finish('fatal', reason));
            }
          }
        });
      });
      socket.on('close', (code, why) => {
        const reason = why.toString() || `closed with code ${code}`;
        const known = codeOfClose(code);
        finish(known && FATAL.has(known) ? 'fatal' : 'unreachable', reason);
      });
      socket.on('error', (e) => finish('unreachable', e.message));
    });
  }

  async #handle(socket: WebSocket, m: CoordinatorMessage): Promise<{ kind: 'finished' | 'fatal'; reason: string } | null> {
    const { log } = this.#o;
    switch (m.type) {
      case 'welcome': {
        const ready = await this.#prepare(m.run);
        log.info({ hostId: m.hostId, threads: this.#o.threads, dataset: m.run.dataset }, 'joined the run');
        socket.send(encode({ type: 'ready', version: PROTOCOL_VERSION, ...ready }));
        return null;
      }
      case 'work':
        await this.#work(socket, m);
        return null;
      case 'done':
        log.info({ reason: m.reason }, 'the run is over');
        return { kind: 'finished', reason: m.reason };
      case 'reject':
        // Joining (or coming back) after the end: the run this host served is over.
        if (m.code === 'CNN_PROTO_RUN_OVER') return { kind: 'finished', reason: m.message };
        log.error({ code: m.code }, `the coordinator refused this host: ${m.message}`);
        // Refusals that a retry cannot cure end the host; others are followed by a close and a retry.
        return FATAL.has(m.code) ? { kind: 'fatal', reason: `${m.code}: ${m.message}` } : null;
    }
  }

  /** Builds the model and loads the data set of the run (kept across reconnects when unchanged). */
  async #prepare(spec: RunSpec): Promise<{ modelFingerprint: string; datasetFingerprint: string }> {
    const network = networkFromTopology(spec.model);
    const loss = resolveLoss(spec.loss);
    const fingerprint = modelFingerprint(spec.model, network, spec.loss);
    let data = this.#datasets.get(spec.dataset);
    if (!data) {
      data = await (this.#o.loadDataset ?? datasetFrom)(spec.dataset);
      this.#datasets.set(spec.dataset, data);
    }
    const dataFingerprint = datasetFingerprint(data);
    const same = this.#prepared && this.#prepared.spec.modelFingerprint === spec.modelFingerprint && this.#prepared.spec.maxShards >= spec.maxShards
      && this.#prepared.spec.microBatch === spec.microBatch && this.#prepared.spec.seed === spec.seed && this.#prepared.spec.dataset === spec.dataset;
    if (!same && fingerprint === spec.modelFingerprint && dataFingerprint === spec.datasetFingerprint) {
      await this.#release();
      // In the kernel heap, where this host's threads read them.
      const arena = heapArena(network.paramCount * 4);
      const params = arena.f32(network.paramCount, 'params');
      const pool = HostPool.start({
        threads: this.#o.threads, modelConfig: spec.model, network, params, loss,
        fuseSoftmax: canFuseSoftmax(loss, network.layers[network.layers.length - 1].finalActivation),
        microBatch: spec.microBatch, seed: spec.seed, maxShards: spec.maxShards, x: data.train.x, y: data.train.y,
      });
      this.#prepared = { spec, pool, arena, params, epoch: -1, shuffle: null, samples: data.train.x.shape[0] };
    }
    return { modelFingerprint: fingerprint, datasetFingerprint: dataFingerprint };
  }

  async #work(socket: WebSocket, w: Work): Promise<void> {
    const p = this.#prepared;
    if (!p) throw new ProtocolError('CNN_PROTO_UNEXPECTED', 'work before the host was ready');
    const started = performance.now();
    if (w.batchStart + w.batchSize > p.samples) {
      throw new ProtocolError('CNN_PROTO_BAD_FIELD', `work names samples [${w.batchStart}, +${w.batchSize}) of a data set of ${p.samples}`);
    }
    if (shardCount(w.batchSize, p.spec.microBatch) > p.spec.maxShards) {
      throw new ProtocolError('CNN_PROTO_BAD_FIELD', `work has a batch of ${w.batchSize}, beyond the run's largest`);
    }
    if (w.epoch !== p.epoch || w.shuffle !== p.shuffle) {
      // The order is a pure function of (seed, epoch): no need to ship it.
      p.pool.setOrder(w.shuffle ? epochPermutation(p.spec.seed, w.epoch, p.samples) : null);
      p.epoch = w.epoch;
      p.shuffle = w.shuffle;
    }
    p.params.set(w.params);
    const request = { step: w.step, epoch: w.epoch, batchStart: w.batchStart, batchSize: w.batchSize };
    const shards = shardCount(w.batchSize, p.spec.microBatch);
    const pieces = await p.pool.computePieces(request, w.pieces);
    const computeMs = performance.now() - started;
    await new Promise<void>((resolve, reject) => {
      socket.send(encode({ type: 'result', version: PROTOCOL_VERSION, work: w.work, step: w.step, computeMs, pieces }), (e) => (e ? reject(e) : resolve()));
    });
  }
}

