import { availableParallelism } from 'node:os';
import { type Command, Option } from 'commander';
import { datasetFrom } from '@cnn/coordinator';
import { percent } from '../format.js';
import { evaluateSplit } from '../report/evaluation.js';
import { classTable, confusionTable } from '../report/tables.js';
import { positiveInt } from '../training-options.js';
import { datasetOf, loadRun } from './saved-run.js';

interface EvaluateOptions {
  dataset?: string;
  threads: number;
  json?: boolean;
}

export function evaluateCommand(program: Command): void {
  program
    .command('evaluate')
    .description("a saved model's loss, accuracy, per-class precision and recall, and confusion matrix on a test set")
    .argument('<dir>', 'a run folder (or any folder written by model.save)')
    .addOption(new Option('--dataset <name|dir>', "mnist, fashion-mnist, or a folder of IDX files (default: the run's data set, else mnist)"))
    .addOption(new Option('--threads <n>', 'threads for the inference pass').argParser(positiveInt('--threads')).default(availableParallelism(), 'all cores'))
    .addOption(new Option('--json', 'print the results as one JSON object'))
    .action(async (dir: string, opts: EvaluateOptions) => {
      const run = await loadRun(dir);
      const data = await datasetFrom(datasetOf(opts.dataset, run));
      const { confusion: c, loss } = await evaluateSplit(run.model, data.test, data.name, opts.threads);
      if (opts.json) {
        console.log(JSON.stringify({ ...c, loss }));
        return;
      }
      console.log(`${data.name} test set: ${c.images} images  loss ${loss === null ? 'n/a' : loss.toFixed(4)}  accuracy ${percent(c.accuracy)}`);
      console.log('');
      for (const line of classTable(c)) console.log(line);
      console.log('');
      console.log('Confusion matrix (rows: true class, columns: predicted class):');
      for (const line of confusionTable(c)) console.log(line);
    });
}
