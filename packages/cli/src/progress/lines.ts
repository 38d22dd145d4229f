import { clock, count, percent } from '../format.js';
import type { EndEvent, EpochEvent, ListeningEvent, StartEvent, StepEvent } from './events.js';

/*
 * The human lines of a run. The epoch line's format is relied on by scripts and tests:
 * `Epoch 1/1  loss 0.1234  accuracy 93.12%  val_loss 0.0567  val_accuracy 98.01%  12,345 img/s  (1.2 s)`.
 */

const maybe = (v: number | null, f: (v: number) => string) => (v === null ? 'n/a' : f(v));
const hostsPart = (hosts: number | undefined) => (hosts === undefined ? '' : `  hosts ${hosts}`);

export function startLine(e: StartEvent): string {
  const where = e.hosts === undefined ? `${e.threads} thread(s)` : `${e.hosts} host(s), ${e.threads} thread(s)`;
  const resumed = e.initialStep > 0 ? `, resuming at step ${e.initialStep}` : '';
  return `Training ${e.model} (${count(e.params)} params) on ${e.dataset}: ${e.trainImages} images, batch ${e.batchSize}, ` +
    `${e.epochs} epoch(s), ${e.optimizer}, seed ${e.seed}, ${where}${resumed}`;
}

/** A step as a plain log line (not a terminal): every few seconds. */
export function stepLine(e: StepEvent): string {
  return `Epoch ${e.epoch}/${e.epochs}  step ${e.batch}/${e.batches}  loss ${e.loss.toFixed(4)}  accuracy ${percent(e.accuracy)}  ` +
    `${count(e.imagesPerSecond)} img/s  ETA ${e.etaSeconds === null ? '--' : clock(e.etaSeconds)}${hostsPart(e.hosts)}`;
}

export function epochLine(e: EpochEvent): string {
  return `Epoch ${e.epoch}/${e.epochs}  loss ${e.loss.toFixed(4)}  accuracy ${percent(e.accuracy)}  ` +
    `val_loss ${maybe(e.valLoss, (v) => v.toFixed(4))}  val_accuracy ${maybe(e.valAccuracy, percent)}  ${count(e.imagesPerSecond)} img/s  (${e.seconds.toFixed(1)} s)`;
}

/** The result line: the one line `--quiet` prints. */
export function endLine(e: EndEvent): string {
  return `Test accuracy: ${maybe(e.testAccuracy, percent)}  (saved to ${e.runDir})`;
}

export function listeningLines(e: ListeningEvent): string {
  return `Coordinator ready. On each other machine, run:\n  ${e.joinCommand}\nWatch the run at ${e.dashboardUrl}`;
}
