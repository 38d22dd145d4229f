/**
 * What a training run tells its user, as events. Every output mode (bar, plain lines, JSON, quiet)
 * is a view of the same events, so they cannot disagree. The JSON mode prints them as they are:
 * field names here are part of the documented output (docs/cli/cnn-train.md).
 */

/** The run is about to take its first step. */
export interface StartEvent {
  event: 'start';
  model: string;
  params: number;
  dataset: string;
  trainImages: number;
  testImages: number;
  epochs: number;
  batchSize: number;
  stepsPerEpoch: number;
  /** Steps this run will take (fewer with --max-steps, or when resuming). */
  steps: number;
  /** Steps already taken (resuming from a checkpoint). */
  initialStep: number;
  optimizer: string;
  seed: number;
  /** This machine's threads (`cnn train`), or all live hosts' threads (coordinator). */
  threads: number;
  /** Live hosts, for a coordinator; absent for `cnn train`. */
  hosts?: number;
}

/** A training step finished. Loss and accuracy are running means over the epoch so far. */
export interface StepEvent {
  event: 'step';
  epoch: number;
  epochs: number;
  /** Optimizer steps taken in the whole run (1-based, as in metrics.jsonl). */
  step: number;
  /** Step within this epoch (1-based) and the steps this epoch will take. */
  batch: number;
  batches: number;
  loss: number;
  accuracy: number;
  /** Training images per second in this epoch so far. */
  imagesPerSecond: number;
  /** Seconds until the epoch's last step, at the current rate (null before it can be estimated). */
  etaSeconds: number | null;
  hosts?: number;
}

/** An epoch ended and was validated on the test set. */
export interface EpochEvent {
  event: 'epoch';
  epoch: number;
  epochs: number;
  step: number;
  loss: number;
  accuracy: number;
  valLoss: number | null;
  valAccuracy: number | null;
  /** Throughput of training only (the validation pass is not counted). */
  imagesPerSecond: number;
  /** Seconds spent training in this epoch. */
  seconds: number;
  hosts?: number;
}

/** The run is over and its folder written. */
export interface EndEvent {
  event: 'end';
  runDir: string;
  steps: number;
  interrupted: boolean;
  /** Accuracy on the test set after the last epoch (null if no epoch ended). */
  testAccuracy: number | null;
  /** Files of the report (plots, confusion matrix) written into runDir. */
  report: string[];
}

/** A coordinator listens: hosts join with joinCommand. */
export interface ListeningEvent {
  event: 'listening';
  port: number;
  joinCommand: string;
  /** The live dashboard of the run. */
  dashboardUrl: string;
}

export type RunEvent = StartEvent | StepEvent | EpochEvent | EndEvent | ListeningEvent;

/** An output mode. */
export interface ProgressView {
  show(e: RunEvent): void;
  /** A note for people (e.g. "Writing the report..."); JSON and quiet modes drop it. */
  note(line: string): void;
  /** Ends any live display (the bar), e.g. before an error message. */
  close(): void;
}
