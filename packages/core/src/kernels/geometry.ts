import { CnnError } from '../errors.js';

export type Padding = 'valid' | 'same';

/** Where a sliding window (convolution or pooling) lands over an NHWC input. */
export interface WindowGeometry {
  readonly inH: number;
  readonly inW: number;
  readonly inC: number;
  readonly kH: number;
  readonly kW: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly outH: number;
  readonly outW: number;
  /** Rows/columns of implicit zero (or ignored) padding before the input. */
  readonly padTop: number;
  readonly padLeft: number;
}

/**
 * Output size and padding split of TensorFlow/Keras (tf.nn conv2d "SAME"/"VALID"):
 *   valid: out = ceil((in - k + 1) / s), no padding;
 *   same:  out = ceil(in / s), total padding max((out - 1) * s + k - in, 0), the smaller half before.
 */
export function outputAndPadding(inSize: number, k: number, stride: number, padding: Padding): { out: number; padBefore: number } {
  if (padding === 'valid') {
    if (inSize < k) {
      throw new CnnError('CNN_ERR_BAD_SHAPE', `input size ${inSize} is smaller than the window ${k} with padding 'valid'; use padding 'same' or a smaller kernel`);
    }
    return { out: Math.ceil((inSize - k + 1) / stride), padBefore: 0 };
  }
  const out = Math.ceil(inSize / stride);
  const total = Math.max((out - 1) * stride + k - inSize, 0);
  return { out, padBefore: Math.floor(total / 2) };
}

export function windowGeometry(
  inShape: readonly number[],
  kernel: readonly [number, number],
  strides: readonly [number, number],
  padding: Padding,
): WindowGeometry {
  const [inH, inW, inC] = inShape;
  const h = outputAndPadding(inH, kernel[0], strides[0], padding);
  const w = outputAndPadding(inW, kernel[1], strides[1], padding);
  return {
    inH, inW, inC,
    kH: kernel[0], kW: kernel[1],
    strideH: strides[0], strideW: strides[1],
    outH: h.out, outW: w.out,
    padTop: h.padBefore, padLeft: w.padBefore,
  };
}
