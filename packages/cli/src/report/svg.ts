/** Small helpers for hand-written SVG. */

export const FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";

export function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Coordinates with at most 2 decimals: smaller files, no visible difference. */
export const n2 = (v: number): string => String(Math.round(v * 100) / 100);

export function text(x: number, y: number, s: string, attrs: Record<string, string | number> = {}): string {
  const a = Object.entries(attrs).map(([k, v]) => ` ${k}="${esc(String(v))}"`).join('');
  return `<text x="${n2(x)}" y="${n2(y)}"${a}>${esc(s)}</text>`;
}

/** A standalone SVG document on white paper; `title` is what screen readers and tooltips show. */
export function svgDocument(width: number, height: number, body: string[], title: string): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}" font-size="12">`,
    `<title>${esc(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

/**
 * About `target` round tick values from at or below `min` to at or above `max`: steps of 1, 2 or 5
 * times a power of ten (the ticks people read without effort).
 */
export function niceTicks(min: number, max: number, target = 6): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.floor(min / step + 1e-9);
  const last = Math.ceil(max / step - 1e-9);
  const ticks: number[] = [];
  // Multiplying integers by the step (rather than adding steps) keeps 0.1 * 3 from drifting.
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}
