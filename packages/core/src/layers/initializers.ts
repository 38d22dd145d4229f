import { resolveName } from '../names.js';
import { CounterRandom, Purpose } from '../random/philox.js';

/*
 * Weight initializers with Keras' definitions (keras/src/initializers). Every value is drawn from the
 * counter-based generator at (seed, init, layer, param; element), so initial weights depend only on the
 * seed and the model, never on what was drawn before.
 */

const TABLE = {
  zeros: 'zeros',
  ones: 'ones',
  glorotUniform: 'glorotUniform',
  glorotNormal: 'glorotNormal',
  heUniform: 'heUniform',
  heNormal: 'heNormal',
  lecunUniform: 'lecunUniform',
  lecunNormal: 'lecunNormal',
} as const;
export type InitializerName = (typeof TABLE)[keyof typeof TABLE];

export function resolveInitializer(name: unknown): InitializerName {
  return resolveName('initializer', name, TABLE);
}

/** Keras' fan computation: the receptive field multiplies both fans of a conv kernel [kh, kw, in, out]. */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length === 1) return { fanIn: shape[0], fanOut: shape[0] };
  if (shape.length === 2) return { fanIn: shape[0], fanOut: shape[1] };
  let receptive = 1;
  for (let i = 0; i < shape.length - 2; i++) receptive *= shape[i];
  return { fanIn: shape[shape.length - 2] * receptive, fanOut: shape[shape.length - 1] * receptive };
}

/** Keras' truncated normal divides the stddev by this, the stddev of a unit normal truncated at 2. */
const TRUNCATED_STDDEV = 0.8796256610342398;

export function initialize(name: InitializerName, shape: readonly number[], out: Float32Array, seed: number, layerIndex: number, paramIndex: number): void {
  if (name === 'zeros' || name === 'ones') {
    out.fill(name === 'ones' ? 1 : 0);
    return;
  }
  const { fanIn, fanOut } = fans(shape);
  const rng = new CounterRandom(seed, Purpose.init, layerIndex, paramIndex);
  const scale = name.startsWith('glorot') ? 2 / (fanIn + fanOut) : name.startsWith('he') ? 2 / fanIn : 1 / fanIn;
  if (name.endsWith('Uniform')) {
    const limit = Math.sqrt(3 * scale);
    for (let i = 0; i < out.length; i++) out[i] = (2 * rng.uniform(i) - 1) * limit;
    return;
  }
  const stddev = Math.sqrt(scale) / TRUNCATED_STDDEV;
  for (let i = 0; i < out.length; i++) out[i] = truncatedNormal(rng, i) * stddev;
}

/**
 * A standard normal truncated to [-2, 2] (Box-Muller, redrawn when outside). Draw k of element i
 * reads stream positions (i * 64 + 2k, +1), so elements never share random numbers.
 */
function truncatedNormal(rng: CounterRandom, i: number): number {
  for (let k = 0; k < 32; k++) {
    const u1 = rng.uniform(i * 64 + 2 * k) || 5.960464477539063e-8;
    const u2 = rng.uniform(i * 64 + 2 * k + 1);
    const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    if (z >= -2 && z <= 2) return z;
  }
  return 0;
}
