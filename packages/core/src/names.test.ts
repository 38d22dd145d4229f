import { describe, expect, it } from 'vitest';
import { CnnError } from './errors.js';
import { camelCase, normalizeConfig, resolveName, snakeCase } from './names.js';

describe('names', () => {
  it('converts between Keras snake_case and TF.js camelCase', () => {
    expect(camelCase('sparse_categorical_crossentropy')).toBe('sparseCategoricalCrossentropy');
    expect(camelCase('glorot_uniform')).toBe('glorotUniform');
    expect(camelCase('beta_1')).toBe('beta1');
    expect(camelCase('kernelSize')).toBe('kernelSize');
    expect(snakeCase('maxPooling2d')).toBe('max_pooling2d');
    expect(snakeCase('glorotUniform')).toBe('glorot_uniform');
  });

  it('resolveName takes either spelling and lists the valid names (in snake_case) otherwise', () => {
    const table = { glorotUniform: 'glorotUniform', zeros: 'zeros' } as const;
    expect(resolveName('initializer', 'glorot_uniform', table)).toBe('glorotUniform');
    expect(resolveName('initializer', 'glorotUniform', table)).toBe('glorotUniform');
    let err: unknown;
    try {
      resolveName('initializer', 'ones', table);
    } catch (e) {
      err = e;
    }
    expect((err as CnnError).code).toBe('CNN_ERR_UNKNOWN_NAME');
    expect((err as CnnError).message).toBe("Unknown initializer \"ones\". Valid initializers: 'glorot_uniform', 'zeros' (camelCase or snake_case).");
    expect(() => resolveName('initializer', 3, table)).toThrow(/Unknown initializer 3/);
  });

  it('normalizeConfig camelCases keys, drops undefined and rejects unknown keys', () => {
    expect(normalizeConfig('dense', { units: 3, use_bias: false, activation: undefined }, ['units', 'useBias', 'activation'])).toEqual({ units: 3, useBias: false });
    expect(() => normalizeConfig('dense', { unit: 3 }, ['units'])).toThrow("dense: unknown option 'unit'. Valid options: units.");
  });
});
