import { hostname } from 'node:os';
import {
  type Callbacks, CnnError, type Dataset, type Logs, type Sequential, datasetFingerprint, shardCount, treeSpan, validateInputs, validateTargets,
} from '@cnn/core';
import { HostPool } from '@cnn/worker';
import type { Logger } from 'pino';
import { type Checkpoint, newestCheckpoint, writeCheckpoint } from './checkpoint.js';
import { ClusterStrategy, type StepTiming } from './cluster/cluster-strategy.js';
import { LocalHostLink } from './cluster/local-host.js';
import { Membership } from './cluster/membership.js';
import { Dashboard } from './dashboard/dashboard.js';
import { modelFingerprint } from './fingerprint.js';
import { datasetFrom, modelFrom } from './load.js';
import type { RunSpec } from './protocol/messages.js';
import { RunFolder, defaultRunDir } from './run-folder.js';
import { CoordinatorServer } from './server/coordinator-server.js';
import { isLoopback } from './server/token.js';
import { RunStatus } from './status.js';

/** The settings that fix a run's arithmetic: equal settings, equal weights. */
export interface RunSettings {
  model: string;
  dataset: string;
  epochs: number;
  batchSize: number;
  microBatchSize: number;
  optimizer: string;
  learningRate?: number;
  seed: number;
  maxSteps?: number;
}

/** A run's length, as far as it is given: what --epochs / --max-steps set on a resumed run. */
export type RunLength = Partial<Pick<RunSettings, 'epochs' | 'maxSteps'>>;

export interface ListenOptions {
  host: string;
  port: number;
  token: string | null;
  tls: { cert: string | Buffer; key: string | Buffer } | null;
}

export interface CoordinatorOptions {
  settings: RunSettings;
  /** Null: no server (cnn train). */
  listen: ListenOptions | null;
  /** Threads this machine computes with (0: control only; then remote hosts do all the work). */
  localThreads: number;
  /** Remote hosts to wait for before the first step. */
  minHosts: number;
  out?: string;
  checkpointDir?: string;
  /** Steps between checkpoints (0: none but the final one). */
  checkpointEvery: number;
  resume: boolean;
  /**
   * The length of the run given explicitly with --resume: it wins over the checkpoint's (whose other
   * settings fix the arithmetic), so a finished run can be trained further, as Keras' initialEpoch does.
   */
  resumeLength?: RunLength;
  log: Logger;
  /** Verify a random piece of a remote host's sums on this machine's threads, on average one step in this many (0 or absent: never); see ClusterStrategyOptions. */
  verifyEvery?: number;
  heartbeatMs?: number;
  handshakeTimeoutMs?: number;
  /** Progress for a user interface: called as training goes. */
  callbacks?: Callbacks;
  /** The server is listening: e.g. print the join command and the dashboard's address. */
  onListening?: (info: { port: number; joinCommand: string; dashboardUrl: string }) => void;
}

export const COORDINATOR_DEFAULTS = {
  port: 7070,
  host: '127.0.0.1',
  /** Ping interval; a host silent for 3 intervals is lost and its work reassigned. */
  heartbeatMs: 1000,
  /** An unauthenticated connection must finish hello/ready within this time. */
  handshakeTimeoutMs: 10_000,
} as const;

/** How long a failed run's port stays open to tell reconnecting hosts the run is over. */
const FAILED_RUN_LINGER_MS = 3000;

export interface RunOutcome {
  model: Sequential;
  runDir: string;
  interrupted: boolean;
  lastLogs: Logs;
}

/**
 * A whole run: the model, the data, the hosts (this machine's pool and those that join over the
 * network), the fit loop with checkpoints, and the run folder at the end. `cnn train` is this with
 * no server; `cnn-coordinator start` with one.
 */
export class CoordinatorRun {
  readonly membership = new Membership();
  readonly status: RunStatus;
  readonly model: Sequential;
  readonly data: Dataset;
  readonly spec: RunSpec;
  readonly #o: CoordinatorOptions;
  readonly #settings: RunSettings;
  readonly #checkpoint: Checkpoint | null;
  #server: CoordinatorServer | null = null;
  #dashboard: Dashboard | null = null;
  #pool: HostPool | null = null;
  #interrupted = false;
  /** Why the run cannot go on (a diverged model): its hosts are told the run is over. */
  #failed: string | null = null;
  /** Step of the newest checkpoint written by this process (null: none yet). */
  #checkpointed: number | null = null;

  private constructor(o: CoordinatorOptions, settings: RunSettings, model: Sequential, data: Dataset, checkpoint: Checkpoint | null) {
    this.#o = o;
    this.#settings = settings;
    this.model = model;
    this.data = data;
    this.#checkpoint = checkpoint;
    const maxShards = shardCount(Math.min(settings.batchSize, data.train.x.shape[0]), settings.microBatchSize);
    this.spec = {
      model: model.toJSON(),
      modelFingerprint: modelFingerprint(model.toJSON(), model.network, model.loss.getConfig()),
      dataset: settings.dataset,
      datasetFingerprint: datasetFingerprint(data),
      loss: model.loss.getConfig(),
      seed: settings.seed,
      microBatch: settings.microBatchSize,
      maxShards,
      paramCount: model.network.paramCount,
    };
    this.status = new RunStatus(this.membership, settings, data.train.x.shape[0]);
  }

  /** Loads data and model, and restores the newest checkpoint when resuming. */
  static async create(o: CoordinatorOptions): Promise<CoordinatorRun> {
    if (o.listen && !isLoopback(o.listen.host) && !o.listen.token) {
      throw new CnnError('CNN_ERR_TOKEN_REQUIRED', `--host ${o.listen.host} listens beyond this machine: give a --token that joining hosts must present`);
    }
    if (o.resume && !o.checkpointDir) throw new CnnError('CNN_ERR_BAD_CONFIG', '--resume needs --checkpoint-dir (where the checkpoints are)');
    let settings = o.settings;
    let checkpoint: Checkpoint | null = null;
    if (o.resume) {
      const unreadable: string[] = [];
      checkpoint = newestCheckpoint(o.checkpointDir!, (file, why) => {
        unreadable.push(why);
        o.log.warn({ file }, `skipping unreadable checkpoint: ${why}`);
      });
      if (checkpoint) {
        // The arithmetic must be the interrupted run's, whatever flags came with --resume; only its length may change.
        const saved = checkpoint.header.settings as Partial<RunSettings>;
        settings = { ...settings, ...saved, ...o.resumeLength };
        o.log.info({ file: checkpoint.file, step: checkpoint.header.iterations, epochs: settings.epochs, maxSteps: settings.maxSteps }, 'resuming from checkpoint');
      } else if (unreadable.length > 0) {
        // Checkpoints appear only whole (renamed after fsync): all of them unreadable is damage to look at, not a fresh start.
        throw new CnnError('CNN_ERR_BAD_CHECKPOINT', `--resume: none of the ${unreadable.length} checkpoint(s) in ${o.checkpointDir} is readable (newest: ${unreadable[0]}); move them away to start from step 0`);
      } else {
        o.log.warn({ dir: o.checkpointDir }, 'no checkpoint to resume from: starting from step 0');
      }
    }
    const model = modelFrom(settings.model, settings.seed);
    model.compile({
      loss: 'sparse_categorical_crossentropy',
      optimizer: settings.learningRate === undefined ? settings.optimizer : { className: settings.optimizer, config: { learningRate: settings.learningRate } },
      metrics: ['accuracy'],
    });
    const data = await datasetFrom(settings.dataset);
    // A model that does not fit the data fails here, before a run folder or a port exists.
    const what = `--model ${settings.model} with --dataset ${settings.dataset}`;
    validateInputs(model.network, data.train.x, what);
    validateTargets(model.network, model.loss, data.train.x, data.train.y, what);
    const run = new CoordinatorRun(o, settings, model, data, checkpoint);
    if (checkpoint) run.#restore(checkpoint);
    return run;
  }

  get settings(): RunSettings {
    return this.#settings;
  }

  #restore(c: Checkpoint): void {
    const h = c.header;
    if (h.modelFingerprint !== this.spec.modelFingerprint) {
      throw new CnnError('CNN_ERR_BAD_CHECKPOINT', `${c.file} belongs to another model (fingerprint ${h.modelFingerprint.slice(0, 12)}…, this run's ${this.spec.modelFingerprint.slice(0, 12)}…)`);
    }
    const slots = this.model.optimizerSlots;
    if (h.paramCount !== this.model.network.paramCount || h.slotNames.length !== slots.length) {
      throw new CnnError('CNN_ERR_BAD_CHECKPOINT', `${c.file} holds ${h.paramCount} parameters and ${h.slotNames.length} optimizer slots; this run needs ${this.model.network.paramCount} and ${slots.length}`);
    }
    this.model.params.set(c.params);
    slots.forEach((s, i) => s.set(c.slots[i]));
    this.model.iterations = h.iterations;
    this.#checkpointed = h.iterations;
  }

  /** Stops after the current step (Ctrl-C); the state is saved as on a normal end. */
  interrupt(): void {
    this.#interrupted = true;
    this.model.stopTraining = true;
  }

  async start(): Promise<void> {
    const o = this.#o;
    const s = this.#settings;
    if (o.localThreads > 0) {
      this.#pool = HostPool.start({
        threads: o.localThreads, modelConfig: this.spec.model, network: this.model.network, params: this.model.params,
        loss: this.model.loss, fuseSoftmax: this.model.fusesSoftmax, microBatch: s.microBatchSize, seed: s.seed,
        maxShards: this.spec.maxShards, x: this.data.train.x, y: this.data.train.y,
        optimizer: this.model.optimizer, slots: this.model.optimizerSlots,
      });
      this.membership.add(new LocalHostLink(this.#pool));
    }
    if (o.listen) {
      // Reassignment can hand one host many small pieces; every piece holds a shard at least.
      const maxPieces = this.spec.maxShards;
      this.#dashboard = new Dashboard({ status: () => this.status.snapshot(), metrics: this.status.metrics });
      this.#server = new CoordinatorServer({
        host: o.listen.host, port: o.listen.port, token: o.listen.token, tls: o.listen.tls, run: this.spec,
        limits: { paramCount: this.spec.paramCount, maxPieces }, membership: this.membership, log: o.log,
        status: () => this.status.snapshot(), dashboard: this.#dashboard, heartbeatMs: o.heartbeatMs ?? COORDINATOR_DEFAULTS.heartbeatMs,
        handshakeTimeoutMs: o.handshakeTimeoutMs ?? COORDINATOR_DEFAULTS.handshakeTimeoutMs,
      });
      const port = await this.#server.listen();
      const scheme = o.listen.tls ? 'wss' : 'ws';
      const shown = o.listen.host === '0.0.0.0' || o.listen.host === '::' ? hostname() : o.listen.host;
      const joinCommand = `cnn-worker join ${scheme}://${shown}:${port}${o.listen.token ? ` --token ${o.listen.token}` : ''}`;
      // The run's data behind the page is for token holders: the link carries it (as the join command does).
      const dashboardUrl = `${o.listen.tls ? 'https' : 'http'}://${shown.includes(':') ? `[${shown}]` : shown}:${port}/${o.listen.token ? `?token=${encodeURIComponent(o.listen.token)}` : ''}`;
      o.log.info({ port, joinCommand, dashboardUrl }, 'coordinator listening');
      o.onListening?.({ port, joinCommand, dashboardUrl });
    }
  }

  /** Runs the fit loop to the end (or an interrupt) and writes the run folder. */
  async train(): Promise<RunOutcome> {
    const o = this.#o;
    const s = this.#settings;
    const log = o.log;
    if (o.minHosts > 0) {
      log.info({ minHosts: o.minHosts }, 'waiting for hosts to join');
      await this.membership.waitFor(o.minHosts + (this.#pool ? 1 : 0));
    }
    const runDir = o.out ?? defaultRunDir();
    const folder = new RunFolder(runDir, this.#checkpoint !== null);
    folder.writeConfig({ ...s, out: folder.dir, params: this.model.countParams(), dataset: s.dataset, modelFingerprint: this.spec.modelFingerprint });
    const strategy = new ClusterStrategy({
      membership: this.membership,
      log,
      evaluator: this.#pool,
      onStep: (t) => this.#onStep(t),
      verifyEvery: o.verifyEvery ?? 0,
    });
    const n = this.data.train.x.shape[0];
    const stepsPerEpoch = Math.ceil(n / s.batchSize);
    const done = this.model.iterations;
    const initialEpoch = Math.floor(done / stepsPerEpoch);
    const initialBatch = done % stepsPerEpoch;
    if (this.#checkpoint !== null) this.status.restore(await folder.earlierMetrics(done, initialEpoch));
    let lastLogs: Logs = {};
    const bookkeeping: Callbacks = {
      onBatchEnd: async (batch, logs = {}) => {
        const step = this.model.iterations;
        this.status.onBatch(step, logs);
        folder.record('step', { step, epoch: logs.epoch, batch, loss: logs.loss, acc: logs.acc });
        if (o.checkpointDir && o.checkpointEvery > 0 && step % o.checkpointEvery === 0) {
          // The metrics on disk reach at least as far as the checkpoint a resumed run starts from.
          folder.flush();
          await this.#saveCheckpoint(step, stepsPerEpoch);
        }
      },
      onEpochEnd: (epoch, logs = {}) => {
        lastLogs = logs;
        this.status.onEpoch(epoch, logs);
        folder.record('epoch', { epoch: epoch + 1, ...logs });
        log.info({ epoch: epoch + 1, ...logs }, 'epoch done');
      },
    };
    const remaining = s.maxSteps === undefined ? undefined : s.maxSteps - done;
    this.status.state = 'training';
    if (remaining === undefined || remaining > 0) {
      await this.model.fit(this.data.train.x, this.data.train.y, {
        batchSize: s.batchSize,
        epochs: s.epochs,
        initialEpoch,
        initialBatch,
        seed: s.seed,
        microBatchSize: s.microBatchSize,
        maxSteps: remaining,
        validationData: [this.data.test.x, this.data.test.y],
        strategy,
        callbacks: [bookkeeping, ...(o.callbacks ? [o.callbacks] : [])],
      }).catch((e: unknown) => {
        if (e instanceof CnnError && e.code === 'CNN_ERR_DIVERGED') this.#failed = e.message;
        throw e;
      }).finally(() => folder.flush());
    }
    this.status.state = this.#interrupted ? 'interrupted' : 'finished';
    if (o.checkpointDir) await this.#saveCheckpoint(this.model.iterations, stepsPerEpoch);
    await this.model.save(folder.dir);
    log.info({ runDir: folder.dir, step: this.model.iterations }, this.#interrupted ? 'interrupted: state saved' : 'run finished');
    return { model: this.model, runDir: folder.dir, interrupted: this.#interrupted, lastLogs };
  }

  /**
   * Writes a checkpoint. One that cannot be written (disk full, an I/O error) leaves the previous ones
   * whole (temp file, fsync, rename); training goes on with a warning rather than losing the progress
   * since, and the next interval tries again.
   */
  async #saveCheckpoint(step: number, stepsPerEpoch: number): Promise<void> {
    try {
      await this.#writeCheckpoint(step, stepsPerEpoch);
      this.#checkpointed = step;
    } catch (e) {
      const newest = this.#checkpointed === null ? 'none written by this run yet' : `step ${this.#checkpointed}`;
      this.#o.log.warn({ step, dir: this.#o.checkpointDir, err: (e as Error).message }, `checkpoint of step ${step} not written; the newest is ${newest}: training goes on`);
    }
  }

  async #writeCheckpoint(step: number, stepsPerEpoch: number): Promise<void> {
    const file = await writeCheckpoint(this.#o.checkpointDir!, {
      modelFingerprint: this.spec.modelFingerprint,
      iterations: step,
      epoch: Math.floor(step / stepsPerEpoch),
      batch: step % stepsPerEpoch,
      paramCount: this.model.network.paramCount,
      slotNames: [...this.model.optimizer.slotNames],
      settings: { ...this.#settings },
    }, this.model.params, this.model.optimizerSlots);
    this.#o.log.debug({ step, file }, 'checkpoint written');
  }

  #onStep(t: StepTiming): void {
    this.status.onStepTiming(t);
    // Every step: build the debug record only when it will be written.
    if (!this.#o.log.isLevelEnabled('debug')) return;
    const slowest = t.hosts.reduce((a, h) => (h.roundTripMs > a.roundTripMs ? h : a), t.hosts[0]);
    this.#o.log.debug({
      step: t.step + 1, totalMs: round(t.totalMs), updateMs: round(t.updateMs),
      hosts: t.hosts.map((h) => ({ host: h.id, shards: h.shards, computeMs: round(h.computeMs), commMs: round(h.roundTripMs - h.computeMs) })),
      slowest: slowest?.id,
    }, 'step');
  }

  /** Releases hosts (they exit when `finished`), the pool and the port. */
  async close(finished: boolean): Promise<void> {
    const reason = finished ? 'the run finished' : this.#failed ?? 'the coordinator stopped';
    // Open dashboards hold their connections; the server's close waits for every connection.
    this.#dashboard?.close(reason);
    // A failed run is over too: its hosts exit rather than wait for a coordinator that will not return.
    // It lingers a moment, since those its failure just dropped are reconnecting (backoff 0.25-1 s).
    if (this.#server) await this.#server.close(finished || this.#failed !== null, reason, this.#failed !== null ? FAILED_RUN_LINGER_MS : undefined);
    await this.#pool?.close();
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
