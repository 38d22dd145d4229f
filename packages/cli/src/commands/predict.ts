import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { CnnError, Tensor } from '@cnn/core';
import { PNG } from 'pngjs';
import { percent } from '../format.js';
import { readImage } from '../images/decode.js';
import type { Gray } from '../images/resample.js';
import { FRAMINGS, type InputOptions, toModelInput } from '../images/to-input.js';
import { classNames } from '../report/classes.js';
import { type SavedRun, loadRun } from './saved-run.js';

interface PredictOptions {
  top: number;
  invert: InputOptions['invert'];
  crop: boolean;
  saveInputs?: string;
  json?: boolean;
}

export const PREDICT_DEFAULTS = { top: 3, invert: 'auto' } as const;

function topCount(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1) throw new InvalidArgumentError('--top must be a positive integer.');
  return n;
}

export function predictCommand(program: Command): void {
  program
    .command('predict')
    .description('classify PNG or JPEG images with a saved model')
    .argument('<dir>', 'a run folder (or any folder written by model.save)')
    .argument('<images...>', 'PNG or JPEG files of any size')
    .addOption(new Option('--top <k>', 'classes to show per image, most probable first').argParser(topCount).default(PREDICT_DEFAULTS.top))
    .addOption(new Option('--invert <when>', 'make dark-on-light images light-on-dark as the training images are').choices(['auto', 'yes', 'no']).default(PREDICT_DEFAULTS.invert))
    .addOption(new Option('--no-crop', "resize the whole image instead of cropping to the strokes and centring them as the data set's images are"))
    .addOption(new Option('--save-inputs <dir>', 'also write what the model sees (each image as its input, a small PNG) into this folder'))
    .addOption(new Option('--json', 'print one JSON object per image'))
    .action(async (dir: string, images: string[], opts: PredictOptions) => {
      process.exitCode = await predict(dir, images, opts);
    });
}

/** The model's input height and width: [H, W, 1], [H, W] or a square [H * W]. */
function inputSize(run: SavedRun): { height: number; width: number } {
  const shape = run.model.inputShape;
  if ((shape.length === 3 && shape[2] === 1) || shape.length === 2) return { height: shape[0], width: shape[1] };
  const side = Math.round(Math.sqrt(shape[0]));
  if (shape.length === 1 && side * side === shape[0]) return { height: side, width: side };
  throw new CnnError('CNN_ERR_BAD_INPUT', `${run.dir}: the model takes inputs of shape [${shape.join(', ')}]; cnn predict feeds grayscale images ([height, width, 1], [height, width] or a square [n])`);
}

function softmax(row: Float32Array): Float32Array {
  const max = Math.max(...row);
  const e = row.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / sum);
}

function savePng(g: Gray, file: string): void {
  const png = new PNG({ width: g.width, height: g.height, colorType: 0, inputColorType: 0, inputHasAlpha: false });
  png.data = Buffer.from(Array.from(g.data, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255)));
  writeFileSync(file, PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false }));
}

async function predict(dir: string, images: string[], opts: PredictOptions): Promise<number> {
  const run = await loadRun(dir);
  const { height, width } = inputSize(run);
  const dataset = run.config.dataset === 'fashion-mnist' || run.config.dataset === 'fashion_mnist' ? 'fashion-mnist' : 'mnist';
  const input: InputOptions = { height, width, invert: opts.invert, crop: opts.crop, framing: FRAMINGS[dataset] };
  const layers = run.model.layers;
  const probabilities = layers[layers.length - 1].finalActivation === 'softmax';
  const classes = run.model.outputShape.reduce((a, d) => a * d, 1);
  const names = classNames(run.config.dataset, classes);
  if (opts.saveInputs) mkdirSync(opts.saveInputs, { recursive: true });
  let failed = 0;
  for (const file of images) {
    let pixels: Gray;
    try {
      pixels = toModelInput(readImage(file), input, file);
    } catch (e) {
      if (!(e instanceof CnnError)) throw e;
      failed++;
      console.error(`error: ${e.message}`);
      if (opts.json) console.log(JSON.stringify({ file, error: e.message }));
      continue;
    }
    if (opts.saveInputs) savePng(pixels, join(opts.saveInputs, `${basename(file, extname(file))}.png`));
    const out = run.model.predict(new Tensor(pixels.data, [1, ...run.model.inputShape])).dataSync() as Float32Array;
    const p = probabilities ? out : softmax(out);
    const ranked = Array.from(p, (probability, c) => ({ class: c, name: names[c], probability }))
      .sort((a, b) => b.probability - a.probability)
      .slice(0, opts.top);
    const best = ranked[0];
    if (opts.json) {
      console.log(JSON.stringify({ file, class: best.class, name: best.name, probability: best.probability, top: ranked }));
    } else {
      console.log(`${file}: ${best.name}  (top ${ranked.length}: ${ranked.map((r) => `${r.name} ${percent(r.probability)}`).join(', ')})`);
    }
  }
  return failed > 0 ? 1 : 0;
}
