import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Sequential, Split } from '@cnn/core';
import { confusionSvg } from './confusion.js';
import { curveChart } from './curves.js';
import { type Evaluation, evaluateSplit } from './evaluation.js';
import { type RunConfig, type RunMetrics, readConfig, readMetrics } from './metrics.js';
import { svgToPng } from './png.js';

/** The report's files in a run folder, in the order they are written. */
export const REPORT_FILES = ['loss.svg', 'loss.png', 'accuracy.svg', 'accuracy.png', 'confusion.svg', 'confusion.png', 'confusion.json'] as const;

export interface ReportInput {
  /** The run folder (config.json, metrics.jsonl, the saved model). */
  dir: string;
  model: Sequential;
  /** The set the confusion matrix is computed on (the run's test set). */
  test: Split;
  /** Its name, for titles and class names. */
  dataset: string;
  /** Threads for the inference pass (1: this thread). */
  threads: number;
}

export interface Report {
  files: string[];
  config: RunConfig;
  metrics: RunMetrics;
  evaluation: Evaluation;
}

function writeChart(dir: string, name: string, svg: string, files: string[]): void {
  writeFileSync(join(dir, `${name}.svg`), svg);
  writeFileSync(join(dir, `${name}.png`), svgToPng(svg));
  files.push(`${name}.svg`, `${name}.png`);
}

/**
 * Writes the run's plots (loss and accuracy per step and per epoch) and the test set's confusion
 * matrix (SVG, PNG and JSON) into its folder. `cnn train` and `cnn-coordinator start` call it after
 * training; `cnn report` calls it on a finished folder.
 */
export async function writeRunReport(i: ReportInput): Promise<Report> {
  const config = readConfig(i.dir);
  const metrics = readMetrics(i.dir);
  const runName = `${config.model ?? i.model.name} on ${i.dataset}`;
  const files: string[] = [];
  writeChart(i.dir, 'loss', curveChart(metrics, 'loss', runName), files);
  writeChart(i.dir, 'accuracy', curveChart(metrics, 'accuracy', runName), files);
  const evaluation = await evaluateSplit(i.model, i.test, i.dataset, i.threads);
  const c = evaluation.confusion;
  writeChart(i.dir, 'confusion', confusionSvg(c, `Confusion matrix: ${runName}, test set`), files);
  writeFileSync(join(i.dir, 'confusion.json'), compactJson({ ...c, loss: evaluation.loss }));
  files.push('confusion.json');
  return { files, config, metrics, evaluation };
}

/** Indented JSON with arrays of numbers or short strings on one line (a matrix reads as rows). */
function compactJson(value: unknown): string {
  const scalar = String.raw`(?:"[^"\n]*"|-?[\d.e+-]+|null)`;
  const flatArray = new RegExp(String.raw`\[\s+(${scalar}(?:,\s+${scalar})*)\s+\]`, 'g');
  // Re-serialize each match (a valid JSON array) rather than edit its text: strings stay intact.
  const oneLine = (match: string) => `[${(JSON.parse(match) as unknown[]).map((v) => JSON.stringify(v)).join(', ')}]`;
  return JSON.stringify(value, null, 2).replace(flatArray, oneLine) + '\n';
}
