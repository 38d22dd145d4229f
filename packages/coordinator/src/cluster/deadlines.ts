/**
 * How long a remote host's order may take before it counts as a straggler: from the host's own recent
 * orders, deadline = max(factor x median time per shard x shards, floor), the shards counting those of
 * its earlier orders still unanswered (a host serves orders in turn). A host with too few answered
 * orders has no deadline yet (heartbeats still catch a host that is gone).
 */
export const DEADLINE_DEFAULTS = {
  /** Multiple of the usual time an order may take: jitter and a reassigned piece or two stay within it. */
  factor: 4,
  /** Never less: a loaded machine's hiccups (GC, a busy core) must not look like a stopped host. */
  floorMs: 1000,
  /** Answered orders per host whose times are kept. */
  window: 16,
  /** Answered orders a host needs before it gets deadlines (its first orders warm up the JIT). */
  minSamples: 3,
} as const;

export interface DeadlineOptions {
  readonly factor: number;
  readonly floorMs: number;
  readonly window: number;
  readonly minSamples: number;
}

export class Deadlines {
  readonly #o: DeadlineOptions;
  /** Per host id: recent round trips in ms per shard, oldest first. */
  readonly #times = new Map<string, number[]>();

  constructor(options: Partial<DeadlineOptions> = {}) {
    this.#o = { ...DEADLINE_DEFAULTS, ...options };
  }

  /** An answered order: its round trip (send to result) and how many real shards it held. */
  record(host: string, roundTripMs: number, shards: number): void {
    let times = this.#times.get(host);
    if (!times) this.#times.set(host, (times = []));
    times.push(roundTripMs / Math.max(1, shards));
    if (times.length > this.#o.window) times.shift();
  }

  /** Milliseconds an order may take on `host` with `shards` shards ahead of its answer, or null while its times are too few. */
  deadline(host: string, shards: number): number | null {
    const times = this.#times.get(host);
    if (!times || times.length < this.#o.minSamples) return null;
    const sorted = [...times].sort((a, b) => a - b);
    const median = sorted[sorted.length >> 1];
    return Math.max(this.#o.floorMs, this.#o.factor * median * shards);
  }

  /** Hosts that left take their times with them (ids are never reused). */
  retain(live: ReadonlySet<string>): void {
    for (const host of this.#times.keys()) if (!live.has(host)) this.#times.delete(host);
  }
}
