import { CnnError } from './errors.js';

/** 'sparse_categorical_crossentropy' -> 'sparseCategoricalCrossentropy'; camelCase passes through. */
export function camelCase(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** 'maxPooling2d' -> 'max_pooling2d', the Keras spelling used in summaries and saved configs. */
export function snakeCase(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

/**
 * Resolves a user-given name (camelCase, snake_case, or an alias) to its canonical key, or fails with
 * the list of valid names.
 */
export function resolveName<K extends string>(what: string, given: unknown, table: Readonly<Record<string, K>>): K {
  if (typeof given === 'string') {
    const key = table[camelCase(given)] ?? table[given];
    if (key !== undefined) return key;
  }
  const valid = [...new Set(Object.values(table))].map((k) => `'${snakeCase(k)}'`).join(', ');
  const plural = what.endsWith('s') ? `${what}es` : `${what}s`; // 'losses', not 'losss'
  throw new CnnError('CNN_ERR_UNKNOWN_NAME', `Unknown ${what} ${JSON.stringify(given)}. Valid ${plural}: ${valid} (camelCase or snake_case).`);
}

/**
 * Converts a config object's snake_case keys to camelCase and rejects keys the receiver does not
 * know, so a typo ('kernal_size') fails loudly instead of being ignored.
 */
export function normalizeConfig<T extends object>(what: string, config: object | undefined, allowed: readonly string[]): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config ?? {})) {
    const key = camelCase(k);
    if (!allowed.includes(key)) {
      throw new CnnError('CNN_ERR_BAD_CONFIG', `${what}: unknown option '${k}'. Valid options: ${allowed.join(', ')}.`);
    }
    if (v !== undefined) out[key] = v;
  }
  return out as T;
}
