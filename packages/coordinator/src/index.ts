/** @cnn/coordinator: many machines — the protocol, the coordinator, hosts that join it. */
export { CoordinatorRun, COORDINATOR_DEFAULTS, type CoordinatorOptions, type ListenOptions, type RunLength, type RunOutcome, type RunSettings } from './run.js';
export { HostClient, HOST_DEFAULTS, type HostOptions, type HostOutcome } from './host/host-client.js';
export { modelFrom, datasetFrom } from './load.js';
export { RunFolder, defaultRunDir } from './run-folder.js';
export { newestCheckpoint, readCheckpoint, writeCheckpoint, type Checkpoint, type CheckpointHeader } from './checkpoint.js';
export { modelFingerprint } from './fingerprint.js';
export { encode, decodeHostMessage, decodeCoordinatorMessage, maxResultBytes, maxWorkBytes, type DecodeLimits } from './protocol/codec.js';
export { PROTOCOL_ERRORS, ProtocolError, codeOfClose, type ProtocolErrorCode } from './protocol/errors.js';
export * from './protocol/messages.js';
export { tokenMatches, isLoopback } from './server/token.js';
export { Membership } from './cluster/membership.js';
export { ClusterStrategy, type StepTiming } from './cluster/cluster-strategy.js';
export { splitShards, redistribute } from './cluster/split.js';
