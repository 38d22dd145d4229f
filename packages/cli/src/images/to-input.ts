import { CnnError } from '@cnn/core';
import type { Rgba } from './decode.js';
import { type Gray, resize } from './resample.js';

/**
 * How the data set framed its images, so a photo or drawing can be framed the same way.
 * MNIST (LeCun et al.): each digit "size normalized to fit in a 20x20 pixel box while preserving
 * its aspect ratio", then "centered in a 28x28 image by computing the center of mass of the
 * pixels". Fashion-MNIST (Xiao et al.): the product's longest edge resized to 28, centred.
 */
export interface Framing {
  /** The ink's longest side, as a fraction of the input's side (20/28 for MNIST). */
  box: number;
  center: 'mass' | 'box';
}

export const FRAMINGS = {
  mnist: { box: 20 / 28, center: 'mass' },
  'fashion-mnist': { box: 1, center: 'box' },
} as const satisfies Record<string, Framing>;

export interface InputOptions {
  height: number;
  width: number;
  /** Make the ink bright on dark (as the data sets are): when the background is light (auto), or always/never. */
  invert: 'auto' | 'yes' | 'no';
  /** Crop to the ink and frame it as the data set does; false resizes the whole image. */
  crop: boolean;
  framing: Framing;
}

/** After contrast stretching, ink below this is paper noise (JPEG ringing, shading) and is dropped. */
const NOISE_FLOOR = 0.1;
/** Pixels at least this strong bound the ink's box. */
const INK_THRESHOLD = 0.25;
/** Ink and background differ by less than this (on 0-1): the image is blank. */
const MIN_CONTRAST = 0.08;

/** Luminance (ITU-R BT.601, as PIL's "L" mode) in [0, 1], over a backdrop where transparent. */
function toGray(img: Rgba): Gray {
  const n = img.width * img.height;
  const d = img.data;
  const lum = new Float32Array(n);
  let transparent = false;
  let opaqueLum = 0;
  let opaque = 0;
  for (let i = 0; i < n; i++) {
    lum[i] = (0.299 * d[4 * i] + 0.587 * d[4 * i + 1] + 0.114 * d[4 * i + 2]) / 255;
    if (d[4 * i + 3] < 250) transparent = true;
    if (d[4 * i + 3] >= 128) {
      opaqueLum += lum[i];
      opaque++;
    }
  }
  if (transparent) {
    // Strokes on a transparent canvas: put light strokes on black and dark strokes on white, so they
    // always stand out from the backdrop.
    const backdrop = opaque > 0 && opaqueLum / opaque > 0.5 ? 0 : 1;
    for (let i = 0; i < n; i++) {
      const a = d[4 * i + 3] / 255;
      lum[i] = lum[i] * a + backdrop * (1 - a);
    }
  }
  return { width: img.width, height: img.height, data: lum };
}

/** Median of the pixels along the border: the background's level. */
function borderLevel(g: Gray): number {
  const band = Math.max(1, Math.round(Math.min(g.width, g.height) * 0.02));
  const values: number[] = [];
  for (let y = 0; y < g.height; y++) {
    for (let x = 0; x < g.width; x++) {
      if (y < band || y >= g.height - band || x < band || x >= g.width - band) values.push(g.data[y * g.width + x]);
    }
  }
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)];
}

/** Bright ink on black in [0, 1]: inverted when asked (or the border is light), contrast stretched. */
function toInk(g: Gray, invert: InputOptions['invert'], file: string): Gray {
  const border = borderLevel(g);
  const flip = invert === 'yes' || (invert === 'auto' && border > 0.5);
  const ink = flip ? g.data.map((v) => 1 - v) : g.data.slice();
  const background = flip ? 1 - border : border;
  let peak = 0;
  for (const v of ink) if (v > peak) peak = v;
  if (peak - background < MIN_CONTRAST) {
    throw new CnnError('CNN_ERR_BLANK_IMAGE', `${file}: looks blank (no stroke stands out from the background)${invert === 'auto' ? '' : '; check --invert'}`);
  }
  const lo = background + NOISE_FLOOR * (peak - background);
  for (let i = 0; i < ink.length; i++) ink[i] = Math.min(1, Math.max(0, (ink[i] - lo) / (peak - lo)));
  return { width: g.width, height: g.height, data: ink };
}

function inkBox(g: Gray): { x0: number; y0: number; x1: number; y1: number } | null {
  let x0 = g.width;
  let y0 = g.height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < g.height; y++) {
    for (let x = 0; x < g.width; x++) {
      if (g.data[y * g.width + x] < INK_THRESHOLD) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  return x1 < 0 ? null : { x0, y0, x1: x1 + 1, y1: y1 + 1 };
}

function crop(g: Gray, b: { x0: number; y0: number; x1: number; y1: number }): Gray {
  const width = b.x1 - b.x0;
  const height = b.y1 - b.y0;
  const data = new Float32Array(width * height);
  for (let y = 0; y < height; y++) data.set(g.data.subarray((b.y0 + y) * g.width + b.x0, (b.y0 + y) * g.width + b.x1), y * width);
  return { width, height, data };
}

/** Centre of mass in pixel-centre coordinates (pixel i spans [i, i + 1]). */
function centreOfMass(g: Gray): [number, number] {
  let m = 0;
  let mx = 0;
  let my = 0;
  for (let y = 0; y < g.height; y++) {
    for (let x = 0; x < g.width; x++) {
      const v = g.data[y * g.width + x];
      m += v;
      mx += v * (x + 0.5);
      my += v * (y + 0.5);
    }
  }
  return m > 0 ? [mx / m, my / m] : [g.width / 2, g.height / 2];
}

/** Pastes `g` into a blank canvas at an integer offset, clipping what falls outside. */
function place(g: Gray, width: number, height: number, ox: number, oy: number): Gray {
  const data = new Float32Array(width * height);
  for (let y = 0; y < g.height; y++) {
    const ty = y + oy;
    if (ty < 0 || ty >= height) continue;
    for (let x = 0; x < g.width; x++) {
      const tx = x + ox;
      if (tx >= 0 && tx < width) data[ty * width + tx] = g.data[y * g.width + x];
    }
  }
  return { width, height, data };
}

/**
 * A PNG or JPEG of any size as the model's input, the way the training images look: grayscale,
 * bright ink on black, cropped to the ink, scaled into the data set's box (area averaging, so strokes
 * stay anti-aliased) and centred by mass (MNIST) or by box (Fashion-MNIST). Values in [0, 1].
 */
export function toModelInput(img: Rgba, o: InputOptions, file: string): Gray {
  const ink = toInk(toGray(img), o.invert, file);
  if (!o.crop) return resize(ink, o.width, o.height);
  const box = inkBox(ink);
  if (!box) throw new CnnError('CNN_ERR_BLANK_IMAGE', `${file}: looks blank (no stroke stands out from the background)`);
  const digit = crop(ink, box);
  const side = o.framing.box * Math.min(o.width, o.height);
  const scale = side / Math.max(digit.width, digit.height);
  const scaled = resize(digit, Math.max(1, Math.round(digit.width * scale)), Math.max(1, Math.round(digit.height * scale)));
  let ox: number;
  let oy: number;
  if (o.framing.center === 'mass') {
    const [cx, cy] = centreOfMass(scaled);
    ox = Math.round(o.width / 2 - cx);
    oy = Math.round(o.height / 2 - cy);
  } else {
    ox = Math.floor((o.width - scaled.width) / 2);
    oy = Math.floor((o.height - scaled.height) / 2);
  }
  return place(scaled, o.width, o.height, ox, oy);
}
