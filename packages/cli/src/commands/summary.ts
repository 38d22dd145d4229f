import { type Command, Option } from 'commander';
import { modelFrom } from '@cnn/coordinator';

export function summaryCommand(program: Command): void {
  program
    .command('summary')
    .description("print a model's layers, output shapes and parameter counts")
    .addOption(new Option('--model <name|file>', 'seed, lenet5, convnet, a model.json file or a run folder').default('lenet5'))
    .action((opts: { model: string }) => {
      modelFrom(opts.model, 1).summary();
    });
}
