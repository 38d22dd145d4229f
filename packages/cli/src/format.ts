/** Number and table formatting shared by every command's human output. */

/** 0.9312 -> "93.12%". */
export const percent = (v: number): string => `${(v * 100).toFixed(2)}%`;

/** 12345.6 -> "12,346". */
export const count = (v: number): string => Math.round(v).toLocaleString('en-US');

/** Seconds as "42 s", "3:05" or "1:02:07" (an ETA or a duration). */
export function clock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/**
 * Rows as aligned columns separated by two spaces; the first row is the header. The first column
 * (the rows' labels) is left-aligned, and so is any other whose cells are not all numbers.
 */
export function table(rows: readonly (readonly string[])[]): string[] {
  const width = rows.reduce((a, r) => Math.max(a, r.length), 0);
  const widths = Array.from({ length: width }, (_, c) => rows.reduce((a, r) => Math.max(a, (r[c] ?? '').length), 0));
  const numeric = widths.map((_, c) => c > 0 && rows.slice(1).every((r) => /^[-+\d.,%]*$/.test(r[c] ?? '')));
  return rows.map((r) =>
    widths.map((w, c) => (numeric[c] ? (r[c] ?? '').padStart(w) : (r[c] ?? '').padEnd(w))).join('  ').trimEnd());
}
