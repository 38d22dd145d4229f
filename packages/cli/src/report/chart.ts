import { FONT, esc, n2, niceTicks, svgDocument, text } from './svg.js';

export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
  color: string;
  width?: number;
  opacity?: number;
  /** Dots at the points (a series of few points, such as one per epoch). */
  markers?: boolean;
  /** Left out of the legend (e.g. the raw values under a smoothed curve). */
  hideInLegend?: boolean;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  /** Tick labels of the y axis. */
  yFormat?: (v: number) => string;
  /** Bounds the y axis must include (e.g. 0 for a loss). */
  yInclude?: readonly number[];
  /** Vertical guides, e.g. where each epoch ended. */
  marks?: readonly { x: number; label: string }[];
}

export const CHART_SIZE = { width: 720, height: 440 } as const;
const MARGIN = { left: 70, right: 24, top: 80, bottom: 56 };

/** A line chart as an SVG document. */
export function lineChart(spec: ChartSpec): string {
  const { width, height } = CHART_SIZE;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const all = spec.series.flatMap((s) => s.points);
  const body: string[] = [text(width / 2, 26, spec.title, { 'text-anchor': 'middle', 'font-size': 16, 'font-weight': 'bold' })];
  if (all.length === 0) {
    body.push(text(width / 2, height / 2, 'no data recorded', { 'text-anchor': 'middle', fill: '#666666' }));
    return svgDocument(width, height, body, spec.title);
  }
  let [x0, x1] = extent([...all.map((p) => p[0]), ...(spec.marks ?? []).map((m) => m.x)]);
  let [y0, y1] = extent([...all.map((p) => p[1]), ...(spec.yInclude ?? [])]);
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  if (y1 === y0) [y0, y1] = [y0 - Math.max(1e-3, Math.abs(y0) * 0.1), y1 + Math.max(1e-3, Math.abs(y1) * 0.1)];
  const yTicks = niceTicks(y0, y1);
  y0 = Math.min(y0, yTicks[0]);
  y1 = Math.max(y1, yTicks[yTicks.length - 1]);
  // The x axis spans the data exactly (steps); its ticks are the round values inside it.
  const xTicks = niceTicks(x0, x1).filter((t) => t >= x0 && t <= x1);
  const sx = (x: number) => MARGIN.left + ((x - x0) / (x1 - x0)) * plotW;
  const sy = (y: number) => MARGIN.top + plotH - ((y - y0) / (y1 - y0)) * plotH;
  const fmtY = spec.yFormat ?? ((v: number) => String(Number(v.toPrecision(4))));

  body.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="#fafafa" stroke="#cccccc"/>`);
  for (const t of yTicks) {
    body.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${n2(sy(t))}" y2="${n2(sy(t))}" stroke="#e3e3e3"/>`);
    body.push(text(MARGIN.left - 8, sy(t) + 4, fmtY(t), { 'text-anchor': 'end', fill: '#444444' }));
  }
  for (const t of xTicks) {
    body.push(`<line x1="${n2(sx(t))}" x2="${n2(sx(t))}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#eeeeee"/>`);
    body.push(text(sx(t), MARGIN.top + plotH + 18, String(Number(t.toPrecision(6))), { 'text-anchor': 'middle', fill: '#444444' }));
  }
  for (const m of spec.marks ?? []) {
    body.push(`<line x1="${n2(sx(m.x))}" x2="${n2(sx(m.x))}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#999999" stroke-dasharray="4 4"/>`);
    // Above the plot, where no curve runs.
    const nearRight = sx(m.x) > width - MARGIN.right - 40;
    body.push(text(sx(m.x), MARGIN.top - 6, m.label, { 'text-anchor': nearRight ? 'end' : 'middle', fill: '#777777', 'font-size': 11 }));
  }
  body.push(text(MARGIN.left + plotW / 2, height - 14, spec.xLabel, { 'text-anchor': 'middle' }));
  body.push(`<text transform="translate(18 ${n2(MARGIN.top + plotH / 2)}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`);

  for (const s of spec.series) {
    if (s.points.length === 0) continue;
    const style = `fill="none" stroke="${s.color}" stroke-width="${s.width ?? 2}" stroke-linejoin="round" stroke-linecap="round"${s.opacity === undefined ? '' : ` stroke-opacity="${s.opacity}"`}`;
    if (s.points.length > 1) body.push(`<polyline ${style} points="${s.points.map(([x, y]) => `${n2(sx(x))},${n2(sy(y))}`).join(' ')}"/>`);
    if (s.markers || s.points.length === 1) {
      for (const [x, y] of s.points) body.push(`<circle cx="${n2(sx(x))}" cy="${n2(sy(y))}" r="4" fill="${s.color}" stroke="#ffffff" stroke-width="1.5"/>`);
    }
  }
  body.push(...legend(spec.series.filter((s) => !s.hideInLegend && s.points.length > 0), MARGIN.left + plotW / 2, 48));
  return svgDocument(width, height, body, spec.title);
}

/** A row of entries centred at (centre, y), between the title and the plot. */
function legend(series: readonly Series[], centre: number, y: number): string[] {
  // DejaVu Sans at 12 px averages under 7 px per character; 34 px for the swatch and the gap.
  const widths = series.map((s) => 34 + 7 * s.name.length + 16);
  let x = centre - widths.reduce((a, w) => a + w, 0) / 2;
  const out: string[] = [];
  series.forEach((s, i) => {
    out.push(`<line x1="${n2(x)}" x2="${n2(x + 22)}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="${Math.max(2, s.width ?? 2)}"/>`);
    if (s.markers) out.push(`<circle cx="${n2(x + 11)}" cy="${y}" r="4" fill="${s.color}" stroke="#ffffff" stroke-width="1.5"/>`);
    out.push(`<text x="${n2(x + 28)}" y="${y + 4}" font-family="${FONT}">${esc(s.name)}</text>`);
    x += widths[i];
  });
  return out;
}

function extent(values: readonly number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo === Infinity ? [0, 1] : [lo, hi];
}
