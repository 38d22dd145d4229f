import { CnnError } from '../errors.js';
import { resolveLoss } from '../losses/index.js';
import { resolveOptimizer } from '../optimizers/index.js';
import { Sequential } from './sequential.js';

/*
 * A saved model is a folder: model.json (topology, training config, weight manifest, checksums) and
 * weights.bin (the flat parameter buffer, little-endian float32 in Keras order, so its layout is
 * TF.js' too), plus optimizer.bin with the optimizer slots when the model was compiled.
 */

export const MODEL_FORMAT = 'cnn-layers-model';
export const MODEL_FORMAT_VERSION = 1;

export interface SavedModel {
  format: typeof MODEL_FORMAT;
  formatVersion: number;
  modelTopology: ReturnType<Sequential['toJSON']>;
  seed: number;
  weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: 'float32' }[] }[];
  weightsSha256: string;
  trainingConfig?: {
    loss: unknown;
    metrics: string[];
    optimizerConfig: { className: string; config: Record<string, unknown> };
  };
  optimizerState?: { iterations: number; slots: string[]; path: string; sha256: string };
}

export interface SaveOptions {
  /** Also write the optimizer's state, so training can resume exactly (default true when compiled). */
  includeOptimizer?: boolean;
}

async function node() {
  const [fs, path, crypto] = await Promise.all([import('node:fs/promises'), import('node:path'), import('node:crypto')]);
  return { fs, path, crypto };
}

function bytesOf(buffers: readonly Float32Array[]): Uint8Array {
  const total = buffers.reduce((a, b) => a + b.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const b of buffers) {
    out.set(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), offset);
    offset += b.byteLength;
  }
  return out;
}

/** Writes a file so that a crash leaves either the old or the new version, never a torn one. */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const { fs } = await node();
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  const handle = await fs.open(tmp, 'w');
  try {
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (e) {
    // A failed write (disk full) must not leave its partial temp file taking the space.
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

export async function saveModel(model: Sequential, dir: string, options: SaveOptions = {}): Promise<void> {
  const { fs, path, crypto } = await node();
  await fs.mkdir(dir, { recursive: true });
  const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');
  const weights = bytesOf([model.params]);
  const json: SavedModel = {
    format: MODEL_FORMAT,
    formatVersion: MODEL_FORMAT_VERSION,
    modelTopology: model.toJSON(),
    seed: model.seed,
    weightsManifest: [{ paths: ['weights.bin'], weights: model.network.params.map((p) => ({ name: p.fullName, shape: [...p.shape], dtype: 'float32' as const })) }],
    weightsSha256: sha(weights),
  };
  if (model.isCompiled) {
    json.trainingConfig = {
      loss: model.loss.getConfig(),
      metrics: model.metricNames,
      optimizerConfig: { className: model.optimizer.className, config: model.optimizer.getConfig() },
    };
    if (options.includeOptimizer ?? true) {
      const state = bytesOf(model.optimizerSlots);
      await writeFileAtomic(path.join(dir, 'optimizer.bin'), state);
      json.optimizerState = { iterations: model.iterations, slots: [...model.optimizer.slotNames], path: 'optimizer.bin', sha256: sha(state) };
    }
  }
  await writeFileAtomic(path.join(dir, 'weights.bin'), weights);
  // model.json last: a folder whose model.json names checksums is complete.
  await writeFileAtomic(path.join(dir, 'model.json'), JSON.stringify(json, null, 2) + '\n');
}

async function readBinary(file: string, expectedBytes: number, sha256: string | undefined, what: string): Promise<Float32Array> {
  const { fs, crypto } = await node();
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (e) {
    throw new CnnError('CNN_ERR_BAD_MODEL_FILE', `${file}: cannot read ${what} (${(e as Error).message})`);
  }
  if (bytes.length !== expectedBytes) {
    throw new CnnError('CNN_ERR_BAD_MODEL_FILE', `${file}: ${what} should be ${expectedBytes} bytes for this model, found ${bytes.length}; the file is truncated or belongs to another model`);
  }
  if (sha256 !== undefined && crypto.createHash('sha256').update(bytes).digest('hex') !== sha256) {
    throw new CnnError('CNN_ERR_BAD_MODEL_FILE', `${file}: ${what} does not match the checksum in model.json; the file is corrupt`);
  }
  const out = new Float32Array(expectedBytes / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

export async function loadModel(dir: string): Promise<Sequential> {
  const { fs, path } = await node();
  const jsonPath = path.join(dir, 'model.json');
  let json: SavedModel;
  try {
    json = JSON.parse(await fs.readFile(jsonPath, 'utf8')) as SavedModel;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'CNN_ERR_FILE_NOT_FOUND' : 'CNN_ERR_BAD_MODEL_FILE';
    throw new CnnError(code, `${jsonPath}: cannot load the model (${(e as Error).message}); expected a folder written by model.save()`);
  }
  if ((json.format as string) === 'layers-model') {
    throw new CnnError('CNN_ERR_BAD_MODEL_FILE', `${jsonPath}: this is a TF.js layers model; load it with Sequential.load('tfjs://${dir}')`);
  }
  if (json.format !== MODEL_FORMAT || typeof json.formatVersion !== 'number' || json.formatVersion > MODEL_FORMAT_VERSION) {
    throw new CnnError('CNN_ERR_BAD_MODEL_FILE', `${jsonPath}: not a ${MODEL_FORMAT} v${MODEL_FORMAT_VERSION} file (format ${JSON.stringify(json.format)}, version ${JSON.stringify(json.formatVersion)})`);
  }
  let model: Sequential;
  try {
    model = Sequential.fromConfig(json.modelTopology, json.seed);
  } catch (e) {
    if (e instanceof CnnError) throw new CnnError(e.code, `${jsonPath}: ${e.message}`);
    throw e;
  }
  const params = await readBinary(path.join(dir, 'weights.bin'), model.network.paramCount * 4, json.weightsSha256, 'the weights file');
  model.params.set(params);
  if (json.trainingConfig) {
    const t = json.trainingConfig;
    model.compile({ loss: resolveLoss(t.loss), optimizer: resolveOptimizer(t.optimizerConfig), metrics: t.metrics.map((m) => (m === 'acc' ? 'accuracy' : m)) });
    const s = json.optimizerState;
    if (s) {
      const slots = model.optimizerSlots;
      if (s.slots.length !== slots.length) {
        throw new CnnError('CNN_ERR_BAD_MODEL_FILE', `${jsonPath}: optimizer state has ${s.slots.length} slots, ${model.optimizer.className} needs ${slots.length}`);
      }
      const state = await readBinary(path.join(dir, s.path), slots.length * model.network.paramCount * 4, s.sha256, 'the optimizer state');
      slots.forEach((slot, k) => slot.set(state.subarray(k * slot.length, (k + 1) * slot.length)));
      model.iterations = s.iterations;
    }
  }
  return model;
}
