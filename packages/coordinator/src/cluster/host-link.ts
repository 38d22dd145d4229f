import type { BlockSum, StepRequest } from '@cnn/core';
import type { HostPool } from '@cnn/worker';
import type { Span } from '../protocol/messages.js';

/** A share of a step: pieces (aligned subtrees) of its reduction tree, with the parameters to use. */
export interface WorkOrder {
  readonly request: StepRequest;
  readonly shuffle: boolean;
  readonly pieces: readonly Span[];
  readonly params: Float32Array;
}

/** What a host returns: block sums tiling exactly the pieces asked for. */
export interface WorkResult {
  readonly blocks: readonly BlockSum[];
  /** Time the host spent computing. */
  readonly computeMs: number;
  /** Time from sending the order to having the result. */
  readonly roundTripMs: number;
  /** The local pool whose result buffers hold the blocks (null for a remote host). */
  readonly pool: HostPool | null;
}

/**
 * Why an order failed: its host was lost. `code` and `piece` are set on the order whose answer was
 * refused (the oldest outstanding one, since a host answers in order), when one of its pieces was at
 * fault: the coordinator tells a diverging model (the same piece non-finite from two hosts) by them.
 */
export class HostLost extends Error {
  readonly code: string | undefined;
  readonly piece: Span | undefined;

  constructor(message: string, code?: string, piece?: Span) {
    super(message);
    this.name = 'HostLost';
    this.code = code;
    this.piece = piece;
  }
}

/** A host as the coordinator sees it: in this process or at the end of a WebSocket. */
export interface HostLink {
  readonly id: string;
  readonly name: string;
  readonly threads: number;
  readonly address: string;
  readonly alive: boolean;
  /** Resolves with the sums of exactly the ordered pieces; rejects when the host is lost. */
  compute(order: WorkOrder): Promise<WorkResult>;
  /** Tells the host the run is over and lets it go. */
  finish(reason: string): void;
  /** The epoch's sample order, for a host that shares the coordinator's memory (remote hosts derive it). */
  setOrder?(order: Int32Array | null): void;
  /** Drops the host for a protocol error found after its answer was accepted (its sums proved wrong). */
  refuse?(code: 'CNN_PROTO_BAD_RESULT', message: string): void;
}
