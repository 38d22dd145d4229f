import type { HostLink } from './host-link.js';

export interface HostStats {
  steps: number;
  images: number;
  computeMs: number;
  lastComputeMs: number;
  lastRoundTripMs: number;
  lastSeen: number;
  joinedAt: number;
}

export interface MembershipEvent {
  readonly time: number;
  readonly kind: 'joined' | 'left' | 'rejected';
  readonly host: string;
  readonly detail: string;
}

/** Most recent membership events kept for /status. */
const EVENT_HISTORY = 50;

/**
 * The hosts of a run. Work goes to live hosts; a host that joins takes part from the next order it
 * is given (at the latest the next step); one that leaves is dropped and its work reassigned.
 */
export class Membership {
  readonly #hosts = new Map<string, HostLink>();
  readonly #stats = new Map<string, HostStats>();
  readonly #waiters: (() => void)[] = [];
  #next: Promise<void> | null = null;
  readonly events: MembershipEvent[] = [];

  add(host: HostLink): void {
    this.#hosts.set(host.id, host);
    const now = Date.now();
    this.#stats.set(host.id, { steps: 0, images: 0, computeMs: 0, lastComputeMs: 0, lastRoundTripMs: 0, lastSeen: now, joinedAt: now });
    this.record('joined', host.id, `${host.name} (${host.address}) with ${host.threads} thread(s)`);
    for (const wake of this.#waiters.splice(0)) wake();
  }

  remove(id: string, why: string): void {
    if (!this.#hosts.delete(id)) return;
    this.#stats.delete(id);
    this.record('left', id, why);
  }

  record(kind: MembershipEvent['kind'], host: string, detail: string): void {
    this.events.push({ time: Date.now(), kind, host, detail });
    if (this.events.length > EVENT_HISTORY) this.events.shift();
  }

  /** Live hosts, in joining order. */
  live(): HostLink[] {
    return [...this.#hosts.values()].filter((h) => h.alive);
  }

  all(): HostLink[] {
    return [...this.#hosts.values()];
  }

  stats(id: string): HostStats | undefined {
    return this.#stats.get(id);
  }

  get threads(): number {
    return this.live().reduce((a, h) => a + h.threads, 0);
  }

  /** Resolves once at least `count` hosts are live. */
  async waitFor(count: number): Promise<void> {
    while (this.live().length < count) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /** Wakes waiters (a host's liveness changed without an add). */
  changed(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Resolves at the next join (or change); one promise however many wait for it. */
  next(): Promise<void> {
    this.#next ??= new Promise<void>((resolve) => {
      this.#waiters.push(() => {
        this.#next = null;
        resolve();
      });
    });
    return this.#next;
  }
}
