/* Layer configs: Keras/TF.js spellings, round trips, and options that are not implemented. */
import { describe, expect, it } from 'vitest';
import { caught } from '../testing/caught.js';
import { lenet5 } from '../models/builtin.js';
import { Sequential } from '../model/sequential.js';
import { layerFromConfig, layers } from './index.js';

describe('layer configs', () => {
  it('a Keras topology (class_name, snake_case keys, nulls) builds the same model', () => {
    const keras = {
      class_name: 'Sequential',
      config: {
        name: 'k',
        layers: [
          { class_name: 'Conv2D', config: { name: 'c', filters: 6, kernel_size: [5, 5], strides: [1, 1], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], activation: 'relu', use_bias: true, kernel_initializer: 'glorot_uniform', bias_initializer: 'zeros', batch_input_shape: [null, 28, 28, 1], trainable: true, dtype: 'float32' } },
          { class_name: 'MaxPooling2D', config: { name: 'p', pool_size: [2, 2], strides: [2, 2], padding: 'valid', data_format: 'channels_last' } },
          { class_name: 'Flatten', config: { name: 'f', data_format: 'channels_last' } },
          { class_name: 'Dropout', config: { name: 'd', rate: 0.5, noise_shape: null, seed: null } },
          { class_name: 'Dense', config: { name: 'o', units: 10, activation: 'softmax', use_bias: true } },
        ],
      },
    };
    const model = Sequential.fromConfig(keras);
    expect(model.outputShape).toEqual([10]);
    expect(model.countParams()).toBe(156 + 14 * 14 * 6 * 10 + 10);
    expect(model.layers.map((l) => l.name)).toEqual(['c', 'p', 'f', 'd', 'o']);
  });

  it("every layer's config round-trips through layerFromConfig", () => {
    const model = lenet5();
    for (const layer of model.layers) {
      const again = layerFromConfig({ className: layer.className, config: layer.getConfig() });
      expect(again.getConfig()).toEqual(layer.getConfig());
    }
    expect(Sequential.fromConfig(model.toJSON()).toJSON()).toEqual(model.toJSON());
    expect(caught(() => layerFromConfig({ className: 'LSTM' })).code).toBe('CNN_ERR_UNKNOWN_LAYER');
  });

  it('channels-first data, dilation and noise shapes are rejected instead of silently ignored', () => {
    for (const make of [
      () => layers.conv2d({ filters: 1, kernelSize: 1, dataFormat: 'channels_first' as never }),
      () => layers.maxPooling2d({ dataFormat: 'channelsFirst' as never }),
      () => layers.averagePooling2d({ data_format: 'channels_first' } as never),
      () => layers.flatten({ dataFormat: 'channels_first' } as never),
      () => layers.conv2d({ filters: 1, kernelSize: 1, dilationRate: 2 }),
      () => layers.dropout({ rate: 0.5, noiseShape: [1, 1, 4] } as never),
    ]) {
      expect(caught(make).code).toBe('CNN_ERR_BAD_CONFIG');
    }
    expect(() => layers.maxPooling2d({ dataFormat: 'channels_first' as never })).toThrow("maxPooling2d: only dataFormat 'channelsLast' (NHWC) is supported, got \"channels_first\"");
  });
});
