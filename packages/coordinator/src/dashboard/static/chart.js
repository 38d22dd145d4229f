// @ts-check
// Line charts on a canvas, small enough to serve from the coordinator (no library, no network).

/**
 * @typedef {[number, number | null]} XY  a point; y null breaks the line
 * @typedef {{ points: XY[], color: string, width?: number, dots?: boolean }} Line
 * @typedef {{ lines: Line[], yMin?: number, yMax?: number, yFormat?: (v: number) => string, empty?: string }} ChartSpec
 */

const PAD = { left: 52, right: 14, top: 10, bottom: 26 };
const GRID = '#e6e9ed';
const AXIS_TEXT = '#656d76';
const FONT = '11px system-ui, sans-serif';

/**
 * Draws `spec` on `canvas` at the device's pixel ratio, sized by its CSS box.
 * @param {HTMLCanvasElement} canvas
 * @param {ChartSpec} spec
 */
export function drawChart(canvas, spec) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  ctx.font = FONT;

  const b = bounds(spec.lines);
  if (!b) {
    ctx.fillStyle = AXIS_TEXT;
    ctx.textAlign = 'center';
    ctx.fillText(spec.empty ?? 'no data yet', width / 2, height / 2);
    return;
  }
  const yLow = spec.yMin ?? b.y0;
  const yHigh = Math.max(spec.yMax ?? b.y1, yLow + 1e-9);
  const yTicks = niceTicks(yLow, yHigh, 5);
  const y0 = spec.yMin ?? Math.min(yLow, yTicks[0]);
  const y1 = spec.yMax ?? Math.max(yHigh, yTicks[yTicks.length - 1]);
  const x0 = b.x0;
  const x1 = b.x1 > b.x0 ? b.x1 : b.x0 + 1;
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  /** @param {number} x */
  const px = (x) => PAD.left + ((x - x0) / (x1 - x0)) * plotW;
  /** @param {number} y */
  const py = (y) => PAD.top + (1 - (y - y0) / (y1 - y0)) * plotH;

  const format = spec.yFormat ?? formatNumber;
  ctx.lineWidth = 1;
  ctx.strokeStyle = GRID;
  ctx.fillStyle = AXIS_TEXT;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const t of yTicks) {
    if (t < y0 || t > y1) continue;
    const y = Math.round(py(t)) + 0.5;
    line(ctx, PAD.left, y, width - PAD.right, y);
    ctx.fillText(format(t), PAD.left - 6, y);
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const t of niceTicks(x0, x1, 6).filter((t) => Number.isInteger(t))) {
    if (t < x0 || t > x1) continue;
    const x = Math.round(px(t)) + 0.5;
    line(ctx, x, PAD.top, x, PAD.top + plotH);
    ctx.fillText(String(t), x, PAD.top + plotH + 6);
  }
  ctx.textAlign = 'right';
  ctx.fillText('step', PAD.left - 6, PAD.top + plotH + 6);

  ctx.save();
  ctx.beginPath();
  // A little beyond the plot, so the dots at its edges show whole.
  ctx.rect(PAD.left - 4, PAD.top - 4, plotW + 8, plotH + 8);
  ctx.clip();
  ctx.lineJoin = 'round';
  for (const l of spec.lines) {
    ctx.strokeStyle = l.color;
    ctx.fillStyle = l.color;
    ctx.lineWidth = l.width ?? 1.5;
    ctx.beginPath();
    let open = false;
    for (const [x, y] of l.points) {
      if (y === null || !Number.isFinite(y)) {
        open = false;
        continue;
      }
      if (open) ctx.lineTo(px(x), py(y));
      else ctx.moveTo(px(x), py(y));
      open = true;
    }
    ctx.stroke();
    if (l.dots) {
      for (const [x, y] of l.points) {
        if (y === null || !Number.isFinite(y)) continue;
        ctx.beginPath();
        ctx.arc(px(x), py(y), 3.5, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
  }
  ctx.restore();
}

/**
 * @param {CanvasRenderingContext2D} ctx
 * @param {number} xa @param {number} ya @param {number} xb @param {number} yb
 */
function line(ctx, xa, ya, xb, yb) {
  ctx.beginPath();
  ctx.moveTo(xa, ya);
  ctx.lineTo(xb, yb);
  ctx.stroke();
}

/**
 * The extent of the finite points of all lines, or null when there are none.
 * @param {Line[]} lines
 */
function bounds(lines) {
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  for (const l of lines) {
    for (const [x, y] of l.points) {
      if (y === null || !Number.isFinite(y)) continue;
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
    }
  }
  return x0 <= x1 ? { x0, x1, y0, y1 } : null;
}

/**
 * About `count` round tick values covering [lo, hi]: the step is the raw one rounded to 1, 2 or 5
 * times a power of ten (Heckbert's nice numbers).
 * @param {number} lo @param {number} hi @param {number} count
 * @returns {number[]}
 */
export function niceTicks(lo, hi, count) {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / Math.max(1, count - 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const f = raw / power;
  const step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * power;
  const ticks = [];
  for (let t = Math.floor(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  if (ticks[ticks.length - 1] < hi) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

/** @param {number} v */
function formatNumber(v) {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1000 || a < 0.01 ? v.toExponential(1) : String(Number(v.toPrecision(3)));
}
