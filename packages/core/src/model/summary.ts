import type { Network } from './network.js';

/** Keras' default line length and column stops for Sequential summaries. */
const LINE_LENGTH = 65;
const POSITIONS = [0.45, 0.85, 1];

function formatShape(shape: readonly number[]): string {
  return `(None, ${shape.join(', ')})`;
}

/** Keras' print_row: each field cut at its stop, with at least one space before the next field. */
function row(fields: string[], stops: number[]): string {
  let line = '';
  fields.forEach((field, i) => {
    if (i > 0) line = line.slice(0, -1) + ' ';
    line = (line + (i === 0 ? ' ' : '') + field).slice(0, stops[i]);
    line = line.padEnd(stops[i]);
  });
  return line.trimEnd();
}

/**
 * The Keras table: 'Layer (type)', 'Output Shape', 'Param #', one row per layer, then the totals.
 * `lineLength` and `positions` (fractions or absolute stops) as in TF.js' model.summary.
 */
export function summaryLines(name: string, network: Network, lineLength = LINE_LENGTH, positions: number[] = POSITIONS): string[] {
  const stops = positions.map((p) => (p <= 1 ? Math.floor(lineLength * p) : p));
  const lines = [`Model: "${name}"`, '_'.repeat(lineLength), row(['Layer (type)', 'Output Shape', 'Param #'], stops), '='.repeat(lineLength)];
  network.layers.forEach((layer, i) => {
    const count = network.layerParams[i].reduce((a, p) => a + p.length, 0);
    lines.push(row([`${layer.name} (${layer.className})`, formatShape(layer.outputShape), String(count)], stops));
  });
  const total = network.paramCount.toLocaleString('en-US');
  lines.push('='.repeat(lineLength), `Total params: ${total}`, `Trainable params: ${total}`, 'Non-trainable params: 0', '_'.repeat(lineLength));
  return lines;
}
