import type { Logs } from '@cnn/core';
import type { StepTiming } from './cluster/cluster-strategy.js';
import type { Membership, MembershipEvent } from './cluster/membership.js';
import { RunMetrics } from './dashboard/metrics.js';
import type { EarlierMetrics } from './run-folder.js';
import type { RunSettings } from './run.js';

/** Steps whose timings the throughput figures average over. */
const WINDOW = 20;

export interface HostSnapshot {
  id: string;
  name: string;
  address: string;
  threads: number;
  alive: boolean;
  steps: number;
  imagesPerSecond: number | null;
  lastComputeMs: number | null;
  lastRoundTripMs: number | null;
  lastHeartbeat: string | null;
}

/** The JSON of GET /status. */
export interface StatusSnapshot {
  state: RunStatus['state'];
  uptimeSeconds: number;
  step: number;
  epoch: number;
  epochs: number;
  stepsPerEpoch: number;
  settings: RunSettings;
  imagesPerSecond: number | null;
  communicationShare: number | null;
  last: { loss: number | null; accuracy: number | null };
  history: { epoch: number; logs: Logs }[];
  hosts: HostSnapshot[];
  events: (Omit<MembershipEvent, 'time'> & { time: string })[];
}

/** What GET /status reports: the run's progress, each host, recent events. */
export class RunStatus {
  state: 'starting' | 'training' | 'finished' | 'interrupted' = 'starting';
  /** The curves for the dashboard, bounded in memory. */
  readonly metrics = new RunMetrics();
  readonly #membership: Membership;
  readonly #settings: RunSettings;
  readonly #samples: number;
  readonly #started = Date.now();
  #step = 0;
  #epoch = 0;
  #last: Logs = {};
  #epochs: { epoch: number; logs: Logs }[] = [];
  #recent: { at: number; images: number; timing: StepTiming }[] = [];

  constructor(membership: Membership, settings: RunSettings, samples: number) {
    this.#membership = membership;
    this.#settings = settings;
    this.#samples = samples;
  }

  onBatch(step: number, logs: Logs): void {
    this.#step = step;
    this.#epoch = logs.epoch ?? this.#epoch;
    this.#last = logs;
    this.metrics.recordStep(step, logs.loss, logs.acc);
  }

  onEpoch(epoch: number, logs: Logs): void {
    this.#epochs.push({ epoch: epoch + 1, logs });
    this.metrics.recordEpoch(epoch + 1, this.#step, logs);
  }

  /** A resumed run's curves and epoch history start with what the interrupted run recorded. */
  restore(earlier: EarlierMetrics): void {
    const stepsPerEpoch = Math.ceil(this.#samples / this.#settings.batchSize);
    for (const s of earlier.steps) this.metrics.recordStep(s.step, s.loss, s.acc);
    const last = earlier.steps.at(-1);
    if (last) {
      this.#step = last.step;
      this.#last = { ...(last.loss === undefined ? {} : { loss: last.loss }), ...(last.acc === undefined ? {} : { acc: last.acc }) };
    }
    for (const e of earlier.epochs) {
      this.#epochs.push({ epoch: e.epoch, logs: e.logs });
      this.metrics.recordEpoch(e.epoch, e.epoch * stepsPerEpoch, e.logs);
    }
  }

  onStepTiming(t: StepTiming): void {
    const images = t.hosts.reduce((a, h) => a + h.shards, 0) * this.#settings.microBatchSize;
    this.#recent.push({ at: Date.now(), images, timing: t });
    if (this.#recent.length > WINDOW) this.#recent.shift();
    for (const h of t.hosts) {
      const s = this.#membership.stats(h.id);
      if (!s) continue;
      s.steps += 1;
      s.images += h.shards * this.#settings.microBatchSize;
      s.computeMs += h.computeMs;
      s.lastComputeMs = h.computeMs;
      s.lastRoundTripMs = h.roundTripMs;
      s.lastSeen = Date.now();
    }
  }

  snapshot(): StatusSnapshot {
    const r = this.#recent;
    const span = r.length > 1 ? (r[r.length - 1].at - r[0].at) / 1000 : 0;
    const imagesPerSecond = span > 0 ? r.slice(1).reduce((a, x) => a + x.images, 0) / span : null;
    const commShare = r.length
      ? r.reduce((a, x) => a + Math.max(0, ...x.timing.hosts.map((h) => h.roundTripMs - h.computeMs)), 0) / r.reduce((a, x) => a + x.timing.totalMs, 0)
      : null;
    return {
      state: this.state,
      uptimeSeconds: (Date.now() - this.#started) / 1000,
      step: this.#step,
      epoch: this.#epoch + 1,
      epochs: this.#settings.epochs,
      stepsPerEpoch: Math.ceil(this.#samples / this.#settings.batchSize),
      settings: this.#settings,
      imagesPerSecond,
      communicationShare: commShare,
      last: { loss: this.#last.loss ?? null, accuracy: this.#last.acc ?? null },
      history: this.#epochs,
      hosts: this.#membership.all().map((h) => {
        const s = this.#membership.stats(h.id);
        return {
          id: h.id, name: h.name, address: h.address, threads: h.threads, alive: h.alive,
          steps: s?.steps ?? 0,
          imagesPerSecond: s && s.computeMs > 0 ? (s.images / s.computeMs) * 1000 : null,
          lastComputeMs: s?.lastComputeMs ?? null,
          lastRoundTripMs: s?.lastRoundTripMs ?? null,
          lastHeartbeat: s ? new Date(s.lastSeen).toISOString() : null,
        };
      }),
      events: this.#membership.events.map((e) => ({ ...e, time: new Date(e.time).toISOString() })),
    };
  }
}
