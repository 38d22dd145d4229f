import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CnnError, Sequential } from '@cnn/core';
import { readConfig, type RunConfig } from '../report/metrics.js';

/** A saved model and, when the folder is a run folder, its config. */
export interface SavedRun {
  dir: string;
  model: Sequential;
  config: RunConfig;
}

/** Loads the model of a run folder (or any folder written by model.save), compiled for evaluation. */
export async function loadRun(dir: string): Promise<SavedRun> {
  if (!existsSync(join(dir, 'model.json'))) {
    throw new CnnError('CNN_ERR_FILE_NOT_FOUND', `${dir}: no model.json; give a run folder written by cnn train (or a folder written by model.save)`);
  }
  const model = await Sequential.load(dir);
  if (!model.isCompiled) model.compile({ loss: 'sparse_categorical_crossentropy', optimizer: 'adam', metrics: ['accuracy'] });
  return { dir, model, config: readConfig(dir) };
}

/** The data set to evaluate on: the flag, else the run's own (config.json), else MNIST. */
export function datasetOf(flag: string | undefined, run: SavedRun): string {
  return flag ?? run.config.dataset ?? 'mnist';
}
