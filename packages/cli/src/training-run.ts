import type { Callbacks, Logs } from '@cnn/core';
import type { CoordinatorRun } from '@cnn/coordinator';

const percent = (v: number) => `${(v * 100).toFixed(2)}%`;

/**
 * The human side of a run (`cnn train`, `cnn-coordinator start`): a line per epoch on stdout, and
 * Ctrl-C stopping after the current step with the state saved.
 */
export function epochPrinter(epochs: number, print: (line: string) => void): Callbacks {
  let epochStart = performance.now();
  let trainedUntil = epochStart;
  let epochImages = 0;
  return {
    onEpochBegin: () => {
      epochStart = performance.now();
      trainedUntil = epochStart;
      epochImages = 0;
    },
    onBatchEnd: (_batch, logs = {}) => {
      epochImages += logs.size;
      trainedUntil = performance.now();
    },
    onEpochEnd: (epoch, logs: Logs = {}) => {
      // Throughput counts training only, not the validation pass that ends the epoch.
      const seconds = (trainedUntil - epochStart) / 1000;
      const rate = epochImages / seconds;
      print(`Epoch ${epoch + 1}/${epochs}  loss ${logs.loss.toFixed(4)}  accuracy ${percent(logs.acc)}  ` +
        `val_loss ${logs.val_loss.toFixed(4)}  val_accuracy ${percent(logs.val_acc)}  ${Math.round(rate).toLocaleString('en-US')} img/s  (${seconds.toFixed(1)} s)`);
    },
  };
}

/** Runs a prepared run to its end; Ctrl-C once stops cleanly, twice aborts. Resolves to the exit code. */
export async function trainToEnd(run: CoordinatorRun): Promise<number> {
  let interrupts = 0;
  const onSigint = () => {
    if (++interrupts > 1) process.exit(130);
    run.interrupt();
    console.error('\nStopping after this step (Ctrl-C again to abort without saving)...');
  };
  process.on('SIGINT', onSigint);
  let finished = false;
  try {
    const outcome = await run.train();
    finished = !outcome.interrupted;
    if (outcome.interrupted) {
      console.error(`Interrupted at step ${outcome.model.iterations}; the model and optimizer state are saved in ${outcome.runDir}`);
    }
    const acc = outcome.lastLogs.val_acc;
    console.log(`Test accuracy: ${acc === undefined ? 'n/a' : percent(acc)}  (saved to ${outcome.runDir})`);
    return outcome.interrupted ? 130 : 0;
  } finally {
    process.off('SIGINT', onSigint);
    await run.close(finished);
  }
}
