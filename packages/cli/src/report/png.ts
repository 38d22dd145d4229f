import { Resvg } from '@resvg/resvg-js';

/** Pixels per SVG unit: crisp on high-density screens and in documents. */
export const PNG_SCALE = 2;

/**
 * Rasterizes one of our SVG documents with resvg (a Rust renderer shipped as a prebuilt addon in
 * the npm package: nothing is fetched at run time). Text uses the system's fonts (DejaVu Sans on
 * Debian); without any font installed the PNG is drawn without its text.
 */
export function svgToPng(svg: string): Buffer {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: PNG_SCALE },
    background: '#ffffff',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return resvg.render().asPng();
}
