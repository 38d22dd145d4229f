import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CnnError } from '@cnn/core';

/** A step record of metrics.jsonl: the batch's own loss and accuracy (epoch and batch 0-based). */
export interface StepRecord {
  step: number;
  epoch: number;
  batch: number;
  loss: number;
  acc: number;
  /** Milliseconds since 1970 (from the record's ISO time). */
  time: number;
}

/** An epoch record: means over the epoch, and the validation pass (epoch 1-based). */
export interface EpochRecord {
  epoch: number;
  loss: number;
  acc: number;
  val_loss?: number;
  val_acc?: number;
}

export interface RunMetrics {
  steps: StepRecord[];
  epochs: EpochRecord[];
  /** Lines that were not valid records (a run killed mid-write leaves a cut last line). */
  skipped: number;
}

/** config.json of a run folder, as far as the report uses it. */
export interface RunConfig {
  model?: string;
  dataset?: string;
  epochs?: number;
  batchSize?: number;
  optimizer?: string;
  seed?: number;
  params?: number;
}

export function readConfig(dir: string): RunConfig {
  const file = join(dir, 'config.json');
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as RunConfig;
  } catch {
    return {};
  }
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * Reads metrics.jsonl. A resumed run appends to the file and may repeat the steps after its last
 * checkpoint: the latest record of each step and each epoch wins, as it describes the weights kept.
 */
export function readMetrics(dir: string): RunMetrics {
  const file = join(dir, 'metrics.jsonl');
  if (!existsSync(file)) {
    throw new CnnError('CNN_ERR_FILE_NOT_FOUND', `${dir}: no metrics.jsonl; expected a run folder written by cnn train or cnn-coordinator start`);
  }
  const steps = new Map<number, StepRecord>();
  const epochs = new Map<number, EpochRecord>();
  let skipped = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line);
    } catch {
      skipped++;
      continue;
    }
    if (r.event === 'step' && finite(r.step) && finite(r.loss) && finite(r.acc)) {
      steps.set(r.step, {
        step: r.step, epoch: finite(r.epoch) ? r.epoch : 0, batch: finite(r.batch) ? r.batch : 0,
        loss: r.loss, acc: r.acc, time: Date.parse(String(r.time)),
      });
    } else if (r.event === 'epoch' && finite(r.epoch) && finite(r.loss) && finite(r.acc)) {
      epochs.set(r.epoch, {
        epoch: r.epoch, loss: r.loss, acc: r.acc,
        ...(finite(r.val_loss) ? { val_loss: r.val_loss } : {}),
        ...(finite(r.val_acc) ? { val_acc: r.val_acc } : {}),
      });
    } else {
      skipped++;
    }
  }
  return {
    steps: [...steps.values()].sort((a, b) => a.step - b.step),
    epochs: [...epochs.values()].sort((a, b) => a.epoch - b.epoch),
    skipped,
  };
}

/** The step at which each epoch (1-based) ended: its last recorded step. */
export function epochEndSteps(m: RunMetrics): Map<number, number> {
  const end = new Map<number, number>();
  for (const s of m.steps) end.set(s.epoch + 1, Math.max(end.get(s.epoch + 1) ?? 0, s.step));
  return end;
}

/**
 * Training images per second in each epoch (1-based), from the steps' timestamps: the span from an
 * epoch's first to its last step holds (steps - 1) batches, and excludes the validation pass.
 */
export function epochThroughput(m: RunMetrics, batchSize: number): Map<number, number> {
  const byEpoch = new Map<number, StepRecord[]>();
  for (const s of m.steps) {
    const list = byEpoch.get(s.epoch + 1) ?? [];
    list.push(s);
    byEpoch.set(s.epoch + 1, list);
  }
  const rate = new Map<number, number>();
  for (const [epoch, list] of byEpoch) {
    const seconds = (list[list.length - 1].time - list[0].time) / 1000;
    if (list.length > 1 && seconds > 0) rate.set(epoch, ((list.length - 1) * batchSize) / seconds);
  }
  return rate;
}
