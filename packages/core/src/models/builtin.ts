import { CnnError } from '../errors.js';
import { layers } from '../layers/index.js';
import { Sequential } from '../model/sequential.js';

/*
 * The built-in models, the same as ../shared/bench/torch_mnist.py builds for PyTorch, so the two can
 * be compared layer for layer.
 */

/** The Keras tutorial model: 27x27x6 -> 13x13x6 -> 1014 -> 10 (10,180 params). */
export function seed(options: { seed?: number } = {}): Sequential {
  return new Sequential({
    name: 'seed',
    seed: options.seed,
    layers: [
      layers.conv2d({ filters: 6, kernelSize: 2, inputShape: [28, 28, 1] }),
      layers.activation({ activation: 'relu' }),
      layers.maxPooling2d({ poolSize: 2 }),
      layers.flatten(),
      layers.dense({ units: 10 }),
      layers.activation({ activation: 'softmax' }),
    ],
  });
}

/** LeNet-5 with ReLU and max pooling (61,706 params). */
export function lenet5(options: { seed?: number } = {}): Sequential {
  return new Sequential({
    name: 'lenet5',
    seed: options.seed,
    layers: [
      layers.conv2d({ filters: 6, kernelSize: 5, padding: 'same', activation: 'relu', inputShape: [28, 28, 1] }),
      layers.maxPooling2d({ poolSize: 2 }),
      layers.conv2d({ filters: 16, kernelSize: 5, padding: 'valid', activation: 'relu' }),
      layers.maxPooling2d({ poolSize: 2 }),
      layers.flatten(),
      layers.dense({ units: 120, activation: 'relu' }),
      layers.dense({ units: 84, activation: 'relu' }),
      layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
}

/** Keras' "simple MNIST convnet" example (34,826 params). */
export function convnet(options: { seed?: number } = {}): Sequential {
  return new Sequential({
    name: 'convnet',
    seed: options.seed,
    layers: [
      layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1] }),
      layers.maxPooling2d({ poolSize: 2 }),
      layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }),
      layers.maxPooling2d({ poolSize: 2 }),
      layers.flatten(),
      layers.dropout({ rate: 0.5 }),
      layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
}

export const models = { seed, lenet5, convnet } as const;
export type BuiltinModelName = keyof typeof models;

export function builtinModel(name: string, options: { seed?: number } = {}): Sequential {
  const factory = (models as Record<string, (o: { seed?: number }) => Sequential>)[name];
  if (!factory) throw new CnnError('CNN_ERR_UNKNOWN_NAME', `Unknown model '${name}'. Built-in models: ${Object.keys(models).join(', ')}, or a model.json file`);
  return factory(options);
}
