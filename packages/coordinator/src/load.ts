import { existsSync, readFileSync, statSync } from 'node:fs';
import { CnnError, type Dataset, Sequential, builtinModel, datasets, models } from '@cnn/core';

/** A built-in model by name, or the topology in a model.json file (fresh weights from the seed). */
export function modelFrom(spec: string, seed: number): Sequential {
  if (spec in models) return builtinModel(spec, { seed });
  if (!existsSync(spec)) {
    throw new CnnError('CNN_ERR_UNKNOWN_NAME', `--model ${spec}: not a built-in model (${Object.keys(models).join(', ')}) nor an existing model.json file`);
  }
  const file = statSync(spec).isDirectory() ? `${spec}/model.json` : spec;
  let json: { modelTopology?: unknown };
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CnnError('CNN_ERR_BAD_MODEL_FILE', `--model ${file}: not valid JSON (${(e as Error).message})`);
  }
  return Sequential.fromConfig(json.modelTopology ?? json, seed);
}

export async function datasetFrom(spec: string): Promise<Dataset> {
  if (spec === 'mnist') return datasets.mnist();
  if (spec === 'fashion-mnist' || spec === 'fashion_mnist') return datasets.fashionMnist();
  if (existsSync(spec)) return datasets.fromDirectory(spec);
  throw new CnnError('CNN_ERR_UNKNOWN_NAME', `--dataset ${spec}: expected mnist, fashion-mnist, or a folder with the four IDX files`);
}
