/**
 * The messages of the coordinator <-> host protocol (docs/PROTOCOL.md). Every message is a
 * MessagePack map with a `type` and the protocol `version`; float arrays travel as raw little-endian
 * bytes (MessagePack bin), never element by element.
 */

export const PROTOCOL_VERSION = 1;

/** What a host needs to compute for a run, sent in the welcome. */
export interface RunSpec {
  /** The model's topology (Sequential.toJSON()). */
  readonly model: unknown;
  readonly modelFingerprint: string;
  /** Data set name or folder, as given to the coordinator (mnist, fashion-mnist, DIR). */
  readonly dataset: string;
  readonly datasetFingerprint: string;
  readonly loss: unknown;
  readonly seed: number;
  readonly microBatch: number;
  /** Largest shard count of a step (sizes the host's buffers). */
  readonly maxShards: number;
  readonly paramCount: number;
}

export interface Span {
  readonly start: number;
  readonly len: number;
}

/** A piece of the step's reduction tree: an aligned subtree's summed gradient and stats. */
export interface WirePiece extends Span {
  readonly lossSum: number;
  readonly correct: number;
  readonly count: number;
  readonly grad: Float32Array;
}

// host -> coordinator
export interface Hello {
  readonly type: 'hello';
  readonly version: number;
  readonly token: string;
  /** A name for logs (the machine's hostname). */
  readonly name: string;
  readonly threads: number;
}

export interface Ready {
  readonly type: 'ready';
  readonly version: number;
  readonly modelFingerprint: string;
  readonly datasetFingerprint: string;
}

export interface Result {
  readonly type: 'result';
  readonly version: number;
  /** Id of the work order this answers. */
  readonly work: number;
  readonly step: number;
  /** Time the host spent computing, from receiving the order to having the pieces. */
  readonly computeMs: number;
  readonly pieces: readonly WirePiece[];
}

export interface Failure {
  readonly type: 'failure';
  readonly version: number;
  readonly message: string;
}

export type HostMessage = Hello | Ready | Result | Failure;

// coordinator -> host
export interface Welcome {
  readonly type: 'welcome';
  readonly version: number;
  readonly hostId: string;
  readonly heartbeatMs: number;
  readonly run: RunSpec;
}

export interface Work {
  readonly type: 'work';
  readonly version: number;
  readonly work: number;
  readonly step: number;
  readonly epoch: number;
  readonly batchStart: number;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly pieces: readonly Span[];
  /** The parameters to compute with (the model after `step` updates). */
  readonly params: Float32Array;
}

export interface Done {
  readonly type: 'done';
  readonly version: number;
  readonly reason: string;
}

export interface Reject {
  readonly type: 'reject';
  readonly version: number;
  readonly code: string;
  readonly message: string;
}

export type CoordinatorMessage = Welcome | Work | Done | Reject;
