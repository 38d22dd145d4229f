import { availableParallelism } from 'node:os';
import { type Command, Option } from 'commander';
import { datasetFrom } from '@cnn/coordinator';
import { count, percent, table } from '../format.js';
import { epochThroughput, type RunConfig, type RunMetrics } from '../report/metrics.js';
import { type Report, writeRunReport } from '../report/run-report.js';
import { classTable } from '../report/tables.js';
import { positiveInt } from '../training-options.js';
import { datasetOf, loadRun } from './saved-run.js';

interface ReportOptions {
  dataset?: string;
  threads: number;
  json?: boolean;
}

export function reportCommand(program: Command): void {
  program
    .command('report')
    .description("rewrite a run folder's plots and confusion matrix from metrics.jsonl and the saved model, and print a summary")
    .argument('<dir>', 'a run folder written by cnn train or cnn-coordinator start')
    .addOption(new Option('--dataset <name|dir>', "test set of the confusion matrix: mnist, fashion-mnist, or a folder of IDX files (default: the run's data set)"))
    .addOption(new Option('--threads <n>', 'threads for the inference pass').argParser(positiveInt('--threads')).default(availableParallelism(), 'all cores'))
    .addOption(new Option('--json', 'print the summary as one JSON object'))
    .action(async (dir: string, opts: ReportOptions) => {
      const run = await loadRun(dir);
      const data = await datasetFrom(datasetOf(opts.dataset, run));
      const r = await writeRunReport({ dir, model: run.model, test: data.test, dataset: data.name, threads: opts.threads });
      const summary = summarize(r, run.config);
      if (opts.json) {
        const c = r.evaluation.confusion;
        console.log(JSON.stringify({ dir, ...summary, test: { dataset: c.dataset, images: c.images, loss: r.evaluation.loss, accuracy: c.accuracy, perClass: c.perClass }, files: r.files }));
        return;
      }
      for (const line of summaryLines(dir, r, run.config, summary)) console.log(line);
    });
}

interface EpochRow {
  epoch: number;
  steps: number;
  loss: number | null;
  accuracy: number | null;
  valLoss: number | null;
  valAccuracy: number | null;
  imagesPerSecond: number | null;
  finished: boolean;
}

interface Summary {
  epochs: EpochRow[];
  steps: number;
  imagesPerSecond: number | null;
}

/** One row per epoch of metrics.jsonl (an epoch with steps but no end record is unfinished). */
function summarize(r: Report, config: RunConfig): Summary {
  const m: RunMetrics = r.metrics;
  const batch = config.batchSize ?? 32;
  const rates = epochThroughput(m, batch);
  const stepsIn = new Map<number, number>();
  for (const s of m.steps) stepsIn.set(s.epoch + 1, (stepsIn.get(s.epoch + 1) ?? 0) + 1);
  const numbers = [...new Set([...m.epochs.map((e) => e.epoch), ...stepsIn.keys()])].sort((a, b) => a - b);
  const epochs = numbers.map((n) => {
    const e = m.epochs.find((x) => x.epoch === n);
    const steps = m.steps.filter((s) => s.epoch + 1 === n);
    const mean = (key: 'loss' | 'acc') => (steps.length ? steps.reduce((a, s) => a + s[key], 0) / steps.length : null);
    return {
      epoch: n,
      steps: stepsIn.get(n) ?? 0,
      loss: e ? e.loss : mean('loss'),
      accuracy: e ? e.acc : mean('acc'),
      valLoss: e?.val_loss ?? null,
      valAccuracy: e?.val_acc ?? null,
      imagesPerSecond: rates.get(n) ?? null,
      finished: e !== undefined,
    };
  });
  // Overall throughput: all timed images over all timed spans (weights each epoch by its length).
  let images = 0;
  let seconds = 0;
  for (const e of epochs) {
    if (e.imagesPerSecond === null || e.steps < 2) continue;
    images += (e.steps - 1) * batch;
    seconds += ((e.steps - 1) * batch) / e.imagesPerSecond;
  }
  return { epochs, steps: m.steps.length ? m.steps[m.steps.length - 1].step : 0, imagesPerSecond: seconds > 0 ? images / seconds : null };
}

function summaryLines(dir: string, r: Report, config: RunConfig, s: Summary): string[] {
  const f4 = (v: number | null) => (v === null ? '-' : v.toFixed(4));
  const pc = (v: number | null) => (v === null ? '-' : percent(v));
  const c = r.evaluation.confusion;
  const params = config.params === undefined ? '' : ` (${count(config.params)} params)`;
  const lines = [
    `Run ${dir}: ${config.model ?? 'model'}${params} on ${config.dataset ?? c.dataset}, batch ${config.batchSize ?? '?'}, ${config.optimizer ?? '?'}, seed ${config.seed ?? '?'}`,
    '',
    ...table([
      ['epoch', 'steps', 'loss', 'accuracy', 'val_loss', 'val_accuracy', 'img/s'],
      ...s.epochs.map((e) => [
        e.finished ? String(e.epoch) : `${e.epoch} (unfinished)`, count(e.steps), f4(e.loss), pc(e.accuracy), f4(e.valLoss), pc(e.valAccuracy),
        e.imagesPerSecond === null ? '-' : count(e.imagesPerSecond),
      ]),
    ]),
    '',
    `${s.epochs.filter((e) => e.finished).length} epoch(s), ${count(s.steps)} steps, ${s.imagesPerSecond === null ? '-' : count(s.imagesPerSecond)} img/s`,
    '',
    `${c.dataset} test set: ${c.images} images  loss ${f4(r.evaluation.loss)}  accuracy ${percent(c.accuracy)}`,
    ...classTable(c),
    '',
    `Wrote ${r.files.join(', ')} to ${dir}`,
  ];
  if (r.metrics.skipped > 0) lines.push(`(skipped ${r.metrics.skipped} unreadable line(s) of metrics.jsonl)`);
  return lines;
}
