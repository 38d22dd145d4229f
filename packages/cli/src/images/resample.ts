/** A single-channel image of floats. */
export interface Gray {
  width: number;
  height: number;
  data: Float32Array;
}

/**
 * Weights of each destination sample over the source samples along one axis. Shrinking averages
 * the area each destination pixel covers (no aliasing: thin strokes fade rather than vanish);
 * enlarging interpolates linearly between the two nearest source centres.
 */
function axisWeights(src: number, dst: number): { from: number; weights: number[] }[] {
  const scale = dst / src;
  const out: { from: number; weights: number[] }[] = [];
  for (let i = 0; i < dst; i++) {
    if (scale <= 1) {
      const a = i / scale;
      const b = (i + 1) / scale;
      const from = Math.floor(a);
      const weights: number[] = [];
      for (let s = from; s < b && s < src; s++) weights.push((Math.min(b, s + 1) - Math.max(a, s)) * scale);
      out.push({ from, weights });
    } else {
      const x = Math.min(src - 1, Math.max(0, (i + 0.5) / scale - 0.5));
      const from = Math.min(src - 2, Math.floor(x));
      if (src === 1) {
        out.push({ from: 0, weights: [1] });
        continue;
      }
      const t = x - from;
      out.push({ from, weights: [1 - t, t] });
    }
  }
  return out;
}

/** Resizes to width x height: area averaging when shrinking, bilinear when enlarging (per axis). */
export function resize(img: Gray, width: number, height: number): Gray {
  const wx = axisWeights(img.width, width);
  const wy = axisWeights(img.height, height);
  // Rows first (width changes), then columns.
  const mid = new Float32Array(width * img.height);
  for (let y = 0; y < img.height; y++) {
    const row = y * img.width;
    for (let x = 0; x < width; x++) {
      const { from, weights } = wx[x];
      let v = 0;
      for (let k = 0; k < weights.length; k++) v += weights[k] * img.data[row + from + k];
      mid[y * width + x] = v;
    }
  }
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const { from, weights } = wy[y];
    for (let x = 0; x < width; x++) {
      let v = 0;
      for (let k = 0; k < weights.length; k++) v += weights[k] * mid[(from + k) * width + x];
      out[y * width + x] = v;
    }
  }
  return { width, height, data: out };
}
