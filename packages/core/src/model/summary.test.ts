/* summary() golden tests: the Keras three-column table, captured through printFn. */
import { describe, expect, it } from 'vitest';
import { layers } from '../layers/index.js';
import { convnet, lenet5, seed } from '../models/builtin.js';
import { Sequential } from './sequential.js';

function lines(model: Sequential): string {
  const out: string[] = [];
  model.summary(undefined, undefined, (line) => out.push(line));
  return out.join('\n');
}

/** The tutorial model, written as a user would. */
function tutorial(): Sequential {
  const model = new Sequential();
  model.add(layers.conv2d({ filters: 6, kernelSize: 2, inputShape: [28, 28, 1] }));
  model.add(layers.activation({ activation: 'relu' }));
  model.add(layers.maxPooling2d({ poolSize: 2 }));
  model.add(layers.flatten());
  model.add(layers.dense({ units: 10 }));
  model.add(layers.activation({ activation: 'softmax' }));
  return model;
}

const TUTORIAL = `Model: "sequential"
_________________________________________________________________
 Layer (type)                Output Shape              Param #
=================================================================
 conv2d (Conv2D)             (None, 27, 27, 6)         30
 activation (Activation)     (None, 27, 27, 6)         0
 max_pooling2d (MaxPooling2D (None, 13, 13, 6)         0
 flatten (Flatten)           (None, 1014)              0
 dense (Dense)               (None, 10)                10150
 activation_1 (Activation)   (None, 10)                0
=================================================================
Total params: 10,180
Trainable params: 10,180
Non-trainable params: 0
_________________________________________________________________`;

const LENET5 = `Model: "lenet5"
_________________________________________________________________
 Layer (type)                Output Shape              Param #
=================================================================
 conv2d (Conv2D)             (None, 28, 28, 6)         156
 max_pooling2d (MaxPooling2D (None, 14, 14, 6)         0
 conv2d_1 (Conv2D)           (None, 10, 10, 16)        2416
 max_pooling2d_1 (MaxPooling (None, 5, 5, 16)          0
 flatten (Flatten)           (None, 400)               0
 dense (Dense)               (None, 120)               48120
 dense_1 (Dense)             (None, 84)                10164
 dense_2 (Dense)             (None, 10)                850
=================================================================
Total params: 61,706
Trainable params: 61,706
Non-trainable params: 0
_________________________________________________________________`;

describe('summary', () => {
  it("the tutorial model's table, exactly", () => {
    expect(lines(tutorial())).toBe(TUTORIAL);
  });

  it('the built-in seed model is the tutorial model', () => {
    expect(lines(seed())).toBe(TUTORIAL.replace('Model: "sequential"', 'Model: "seed"'));
  });

  it('lenet5: 61,706 parameters', () => {
    expect(lines(lenet5())).toBe(LENET5);
    expect(lenet5().countParams()).toBe(61706);
  });

  it('convnet: 34,826 parameters', () => {
    const table = lines(convnet());
    expect(convnet().countParams()).toBe(34826);
    expect(table).toContain(' conv2d (Conv2D)             (None, 26, 26, 32)        320\n');
    expect(table).toContain(' conv2d_1 (Conv2D)           (None, 11, 11, 64)        18496\n');
    expect(table).toContain(' dropout (Dropout)           (None, 1600)              0\n');
    expect(table).toContain(' dense (Dense)               (None, 10)                16010\n');
    expect(table).toContain('\nTotal params: 34,826\nTrainable params: 34,826\nNon-trainable params: 0\n');
  });

  it('prints to the console by default, one line per call', () => {
    const seen: string[] = [];
    const original = console.log;
    console.log = (line: string) => void seen.push(line);
    try {
      tutorial().summary();
    } finally {
      console.log = original;
    }
    expect(seen.join('\n')).toBe(TUTORIAL);
  });
});
