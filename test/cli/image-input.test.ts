import { describe, expect, it } from 'vitest';
import { resize } from '../../packages/cli/src/images/resample.js';
import { FRAMINGS, toModelInput } from '../../packages/cli/src/images/to-input.js';

/** A white RGBA image of w x h with a dark rectangle [x0, x1) x [y0, y1). */
function drawing(w: number, h: number, rect: [number, number, number, number], ink = 20, paper = 235): { width: number; height: number; data: Uint8Array } {
  const data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inside = x >= rect[0] && x < rect[1] && y >= rect[2] && y < rect[3];
      data.fill(inside ? ink : paper, 4 * (y * w + x), 4 * (y * w + x) + 3);
      data[4 * (y * w + x) + 3] = 255;
    }
  }
  return { width: w, height: h, data };
}

function stats(g: { width: number; height: number; data: Float32Array }) {
  let mass = 0;
  let cx = 0;
  let cy = 0;
  let x0 = Infinity;
  let x1 = -1;
  let y0 = Infinity;
  let y1 = -1;
  for (let y = 0; y < g.height; y++) {
    for (let x = 0; x < g.width; x++) {
      const v = g.data[y * g.width + x];
      mass += v;
      cx += v * (x + 0.5);
      cy += v * (y + 0.5);
      if (v > 0.5) [x0, x1, y0, y1] = [Math.min(x0, x), Math.max(x1, x + 1), Math.min(y0, y), Math.max(y1, y + 1)];
    }
  }
  return { cx: cx / mass, cy: cy / mass, w: x1 - x0, h: y1 - y0 };
}

const MNIST = { height: 28, width: 28, invert: 'auto', crop: true, framing: FRAMINGS.mnist } as const;

describe('images as the model input', () => {
  it('area resizing keeps the mean brightness; bilinear enlarging keeps the corners', () => {
    const src = { width: 7, height: 5, data: Float32Array.from({ length: 35 }, (_, i) => (i * 37) % 11 / 10) };
    const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
    // 7 -> 3 and 5 -> 2: each output pixel averages fractional areas.
    expect(mean(resize(src, 3, 2).data)).toBeCloseTo(mean(src.data), 6);
    const big = resize(src, 70, 50);
    expect(big.data[0]).toBeCloseTo(src.data[0], 6);
    expect(big.data[70 * 50 - 1]).toBeCloseTo(src.data[34], 6);
  });

  it('turns an off-centre dark stroke on light paper into a white digit in a 20x20 box centred by mass', () => {
    // A 40 x 120 bar, off to the left and top of a 300 x 200 photo.
    const g = toModelInput(drawing(300, 200, [30, 70, 20, 140]), MNIST, 'bar.png');
    const s = stats(g);
    // The longer side fills 20 pixels; the aspect ratio is kept (40:120 -> about 7:20).
    expect(s.h).toBe(20);
    expect(s.w).toBeGreaterThanOrEqual(6);
    expect(s.w).toBeLessThanOrEqual(8);
    expect(Math.abs(s.cx - 14)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(s.cy - 14)).toBeLessThanOrEqual(0.5);
    // Paper is 0, ink 1 (after inverting and stretching the contrast).
    expect(g.data[0]).toBe(0);
    expect(Math.max(...g.data)).toBe(1);
  });

  it('leaves light-on-dark images uninverted; forcing --invert yes on them finds no ink and says so', () => {
    const dark = drawing(100, 100, [40, 60, 20, 80], 240, 10);
    const g = toModelInput(dark, MNIST, 'dark.png');
    expect(g.data[0]).toBe(0);
    expect(stats(g).h).toBe(20);
    // Inverted, the background is the brightest part: nothing stands out above it.
    expect(() => toModelInput(dark, { ...MNIST, invert: 'yes' }, 'dark.png')).toThrow(/dark\.png: looks blank .*; check --invert/);
  });

  it('frames Fashion-MNIST items to the full 28 pixels, centred by their box', () => {
    const s = stats(toModelInput(drawing(200, 100, [20, 180, 30, 70]), { ...MNIST, framing: FRAMINGS['fashion-mnist'] }, 'item.png'));
    expect(s.w).toBe(28);
    expect(s.h).toBeGreaterThanOrEqual(6);
    expect(Math.abs(s.cy - 14)).toBeLessThanOrEqual(0.5);
  });

  it('says an image is blank rather than guessing', () => {
    expect(() => toModelInput(drawing(50, 50, [0, 0, 0, 0]), MNIST, 'empty.png')).toThrow(/empty\.png: looks blank/);
  });
});
