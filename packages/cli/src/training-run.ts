import type { Callbacks } from '@cnn/core';
import type { CoordinatorRun } from '@cnn/coordinator';
import type { ProgressView, StartEvent } from './progress/events.js';
import { printError } from './progress/live-line.js';
import { progressCallbacks } from './progress/tracker.js';
import { writeRunReport } from './report/run-report.js';

/**
 * Callbacks to hand to CoordinatorRun.create before the run exists; `attach` points them at the
 * real ones once it does (the progress needs the run's resolved settings and its model).
 */
export function lateCallbacks(): { callbacks: Callbacks; attach(target: Callbacks): void } {
  let target: Callbacks = {};
  return {
    callbacks: {
      onTrainBegin: (logs) => target.onTrainBegin?.(logs),
      onEpochBegin: (epoch, logs) => target.onEpochBegin?.(epoch, logs),
      onBatchEnd: (batch, logs) => target.onBatchEnd?.(batch, logs),
      onEpochEnd: (epoch, logs) => target.onEpochEnd?.(epoch, logs),
    },
    attach: (t) => void (target = t),
  };
}

export interface RunProgressOptions {
  /** A coordinator: report live hosts and their threads. */
  cluster: boolean;
  /** This machine's threads (`cnn train`). */
  threads: number;
}

/**
 * The human side of a run (`cnn train`, `cnn-coordinator start`): the start event when the first
 * step is about to run (after a coordinator's hosts joined), then steps and epochs.
 */
export function runProgress(run: CoordinatorRun, view: ProgressView, o: RunProgressOptions): Callbacks {
  const s = run.settings;
  const stepsPerEpoch = Math.ceil(run.data.train.x.shape[0] / s.batchSize);
  const tracker = progressCallbacks(view, {
    epochs: s.epochs,
    stepsPerEpoch,
    maxSteps: s.maxSteps,
    iterations: () => run.model.iterations,
    hosts: o.cluster ? () => run.membership.live().length : undefined,
  });
  return {
    ...tracker,
    onTrainBegin: () => view.show(startEvent(run, stepsPerEpoch, o)),
  };
}

function startEvent(run: CoordinatorRun, stepsPerEpoch: number, o: RunProgressOptions): StartEvent {
  const s = run.settings;
  const initialStep = run.model.iterations;
  const planned = s.epochs * stepsPerEpoch;
  const last = s.maxSteps === undefined ? planned : Math.min(planned, s.maxSteps);
  return {
    event: 'start',
    model: run.model.name,
    params: run.model.countParams(),
    dataset: run.data.name,
    trainImages: run.data.train.x.shape[0],
    testImages: run.data.test.x.shape[0],
    epochs: s.epochs,
    batchSize: s.batchSize,
    stepsPerEpoch,
    steps: Math.max(0, last - initialStep),
    initialStep,
    optimizer: s.optimizer,
    seed: s.seed,
    threads: o.cluster ? run.membership.threads : o.threads,
    ...(o.cluster ? { hosts: run.membership.live().length } : {}),
  };
}

export interface EndOptions {
  /** Write the plots and confusion matrix into the run folder. */
  report: boolean;
  /** Threads for the report's inference pass over the test set. */
  threads: number;
}

/**
 * Runs a prepared run to its end and writes its report; Ctrl-C once stops cleanly (the state is
 * saved), twice aborts. Resolves to the exit code.
 */
export async function trainToEnd(run: CoordinatorRun, view: ProgressView, o: EndOptions): Promise<number> {
  let interrupts = 0;
  const onSigint = () => {
    if (run.status.state === 'starting') {
      // Still waiting for hosts: no step ran, nothing to save.
      view.close();
      printError('\nStopped before the first step; nothing to save.');
      process.exit(130);
    }
    if (++interrupts > 1) {
      view.close();
      process.exit(130);
    }
    run.interrupt();
    printError('\nStopping after this step (Ctrl-C again to abort without saving)...');
  };
  process.on('SIGINT', onSigint);
  let finished = false;
  let outcome;
  try {
    outcome = await run.train();
    finished = !outcome.interrupted;
  } finally {
    process.off('SIGINT', onSigint);
    view.close();
    // Hosts are released before the report: they need not wait for the test-set pass.
    await run.close(finished);
  }
  if (outcome.interrupted) {
    console.error(`Interrupted at step ${outcome.model.iterations}; the model and optimizer state are saved in ${outcome.runDir}`);
  }
  let report: string[] = [];
  // The last epoch's validation, or (more current after an interrupt) the report's pass over the test set.
  let acc = outcome.lastLogs.val_acc;
  if (o.report) {
    view.note(`Writing plots and the confusion matrix of the test set to ${outcome.runDir} ...`);
    const r = await writeRunReport({ dir: outcome.runDir, model: outcome.model, test: run.data.test, dataset: run.data.name, threads: o.threads });
    report = r.files;
    acc = r.evaluation.confusion.accuracy;
  }
  view.show({
    event: 'end',
    runDir: outcome.runDir,
    steps: outcome.model.iterations,
    interrupted: outcome.interrupted,
    testAccuracy: acc === undefined ? null : acc,
    report,
  });
  return outcome.interrupted ? 130 : 0;
}
