import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { Sequential } from '@cnn/core';

/** Formats `cnn export` writes; each is a model.save() URL prefix. */
const FORMATS = { tfjs: 'tfjs://' } as const;

export interface ExportOptions {
  format: keyof typeof FORMATS;
  out: string;
}

/** `cnn export DIR --format tfjs --out OUT`: a saved model in another tool's format. */
export function exportCommand(program: Command): void {
  program
    .command('export')
    .description('write a saved model in another format (tfjs: a TF.js layers model for tf.loadLayersModel)')
    .argument('<dir>', 'a run folder (or any folder written by model.save)')
    .addOption(new Option('--format <format>', 'output format').choices(Object.keys(FORMATS)).default('tfjs'))
    .addOption(new Option('--out <dir>', 'folder to write model.json and weights.bin into').makeOptionMandatory())
    .action(async (dir: string, opts: ExportOptions) => {
      const model = await Sequential.load(dir);
      const out = resolve(opts.out);
      await model.save(`${FORMATS[opts.format]}${out}`);
      console.log(`Wrote ${model.name} (${model.countParams().toLocaleString('en-US')} params) as a TF.js layers model to ${out}: model.json, weights.bin`);
      console.log(`Load it with tf.loadLayersModel('file://${out}/model.json') (tfjs-node) or from a URL serving the folder (browser)`);
    });
}
