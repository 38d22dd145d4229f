import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StatusSnapshot } from '../status.js';
import { DashboardAssets } from './assets.js';
import { LiveStream, type LiveStreamOptions } from './live-stream.js';
import type { RunMetrics } from './metrics.js';

export interface DashboardOptions extends Omit<LiveStreamOptions, 'status' | 'metrics'> {
  status: () => StatusSnapshot;
  metrics: RunMetrics;
}

/**
 * The page a coordinator serves at `/`: the run's curves, progress, hosts and events, kept live by
 * Server-Sent Events at `/events`. Everything it loads comes from the coordinator (a CSP says so).
 */
export class Dashboard {
  readonly #assets = new DashboardAssets();
  readonly #live: LiveStream;

  constructor(options: DashboardOptions) {
    this.#live = new LiveStream(options);
  }

  /** Pages open now. */
  get clients(): number {
    return this.#live.clients;
  }

  /** Answers the request if it is the dashboard's (true), else leaves it alone (false). */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path === '/events' && req.method === 'GET') {
      this.#live.open(req, res);
      return true;
    }
    if (!this.#assets.has(path)) return false;
    this.#assets.serve(path, res, req.method === 'HEAD');
    return true;
  }

  /** Tells open pages the run ended and closes their streams (before the HTTP server closes). */
  close(reason: string): void {
    this.#live.close(reason);
  }
}
