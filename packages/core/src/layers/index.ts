import { CnnError } from '../errors.js';
import { Activation, type ActivationConfig } from './activation.js';
import { Conv2D, type Conv2DConfig } from './conv2d.js';
import { Dense, type DenseConfig } from './dense.js';
import { Dropout, type DropoutConfig } from './dropout.js';
import { Flatten } from './flatten.js';
import type { Layer, LayerConfig } from './layer.js';
import { AveragePooling2D, MaxPooling2D, MinPooling2D, type Pooling2DConfig } from './pooling2d.js';

/** TF.js-style layer factories: `layers.conv2d({ filters: 6, kernelSize: 2 })`. */
export const layers = {
  conv2d: (config: Conv2DConfig) => new Conv2D(config),
  maxPooling2d: (config?: Pooling2DConfig) => new MaxPooling2D(config),
  averagePooling2d: (config?: Pooling2DConfig) => new AveragePooling2D(config),
  minPooling2d: (config?: Pooling2DConfig) => new MinPooling2D(config),
  flatten: (config?: LayerConfig) => new Flatten(config),
  dense: (config: DenseConfig) => new Dense(config),
  activation: (config: ActivationConfig) => new Activation(config),
  dropout: (config: DropoutConfig) => new Dropout(config),
};

type LayerClass = new (config: never) => Layer;

const CLASSES: Record<string, LayerClass> = {
  Conv2D,
  MaxPooling2D,
  MaxPool2D: MaxPooling2D,
  AveragePooling2D,
  AvgPool2D: AveragePooling2D,
  MinPooling2D,
  Flatten,
  Dense,
  Activation,
  Dropout,
};

/** Rebuilds a layer from its saved {className, config} (Keras/TF.js 'class_name' accepted too). */
export function layerFromConfig(entry: { className?: string; class_name?: string; config?: Record<string, unknown> }): Layer {
  const name = entry.className ?? entry.class_name;
  const Cls = name === undefined ? undefined : CLASSES[name];
  if (!Cls) {
    throw new CnnError('CNN_ERR_UNKNOWN_LAYER', `Unknown layer class ${JSON.stringify(name)}. Supported: ${Object.keys(CLASSES).join(', ')}.`);
  }
  return new Cls((entry.config ?? {}) as never);
}

export { Activation, AveragePooling2D, Conv2D, Dense, Dropout, Flatten, MaxPooling2D, MinPooling2D };
export type { Layer };
