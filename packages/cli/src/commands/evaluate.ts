import type { Command } from 'commander';
import { Option } from 'commander';
import { Sequential } from '@cnn/core';
import { datasetFrom } from '@cnn/coordinator';

export function evaluateCommand(program: Command): void {
  program
    .command('evaluate')
    .description("a saved model's loss and accuracy on a test set")
    .argument('<dir>', 'a run folder (or any folder written by model.save)')
    .addOption(new Option('--dataset <name|dir>', 'mnist, fashion-mnist, or a folder of IDX files').default('mnist'))
    .action(async (dir: string, opts: { dataset: string }) => {
      const model = await Sequential.load(dir);
      if (!model.isCompiled) model.compile({ loss: 'sparse_categorical_crossentropy', optimizer: 'adam', metrics: ['accuracy'] });
      const data = await datasetFrom(opts.dataset);
      const stats = model.evaluateStats(data.test.x, data.test.y);
      console.log(`${data.name} test set: ${stats.count} images  loss ${(stats.lossSum / stats.count).toFixed(4)}  accuracy ${((stats.correct / stats.count) * 100).toFixed(2)}%`);
    });
}
