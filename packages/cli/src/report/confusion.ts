import { count, percent } from '../format.js';
import { n2, svgDocument, text } from './svg.js';

/** Rows are true classes, columns predicted classes: matrix[t][p] images. */
export type Matrix = number[][];

export interface ClassStats {
  index: number;
  name: string;
  /** Of the images predicted as this class, the share that are (null if none was predicted). */
  precision: number | null;
  /** Of the images of this class, the share predicted so (null if the set has none). */
  recall: number | null;
  f1: number | null;
  support: number;
}

export interface Confusion {
  dataset: string;
  images: number;
  accuracy: number;
  classes: string[];
  matrix: Matrix;
  perClass: ClassStats[];
}

/** The predicted class of each row of `outputs` (the first of equal maxima, as argmax). */
export function argmaxRows(outputs: Float32Array, classes: number): Int32Array {
  const rows = outputs.length / classes;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let j = 1; j < classes; j++) if (outputs[r * classes + j] > outputs[r * classes + best]) best = j;
    out[r] = best;
  }
  return out;
}

export function confusion(dataset: string, labels: ArrayLike<number>, predicted: ArrayLike<number>, names: readonly string[]): Confusion {
  const k = names.length;
  const matrix: Matrix = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i];
    const p = predicted[i];
    if (t < 0 || t >= k || p < 0 || p >= k) continue;
    matrix[t][p] += 1;
    if (t === p) correct++;
  }
  const perClass = names.map((name, c) => {
    const support = matrix[c].reduce((a, v) => a + v, 0);
    const predictedAs = matrix.reduce((a, row) => a + row[c], 0);
    const precision = predictedAs > 0 ? matrix[c][c] / predictedAs : null;
    const recall = support > 0 ? matrix[c][c] / support : null;
    const f1 = precision !== null && recall !== null && precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : null;
    return { index: c, name, precision, recall, f1, support };
  });
  return { dataset, images: labels.length, accuracy: labels.length ? correct / labels.length : 0, classes: [...names], matrix, perClass };
}

const CELL = 46;
const TOP = 104;

/** Fill of a cell holding `share` of its row: white to dark blue. */
function shade(share: number): string {
  const mix = (a: number, b: number) => Math.round(a + (b - a) * Math.sqrt(share));
  return `rgb(${mix(247, 8)},${mix(251, 48)},${mix(255, 107)})`;
}

/**
 * The matrix as an SVG heat map: cells shaded by the share of their row (the true class), with the
 * counts written in; recall at the end of each row, precision under each column.
 */
export function confusionSvg(c: Confusion, title: string): string {
  const k = c.classes.length;
  const label = (t: number) => {
    const l = c.classes[t] === String(t) ? c.classes[t] : `${t} ${c.classes[t]}`;
    return l.length > 16 ? `${l.slice(0, 15)}…` : l;
  };
  // Room for the row labels: DejaVu Sans at 12 px averages under 7.5 px per character.
  const labelWidth = Math.ceil(7.5 * Math.max(...c.classes.map((_, t) => label(t).length)));
  const LEFT = 40 + Math.max(labelWidth, 60);
  const width = Math.max(LEFT + k * CELL + 90, 8 * title.length + 40);
  const height = TOP + k * CELL + 70;
  const body: string[] = [
    text(width / 2, 24, title, { 'text-anchor': 'middle', 'font-size': 16, 'font-weight': 'bold' }),
    text(width / 2, 44, `${count(c.images)} images, accuracy ${percent(c.accuracy)}`, { 'text-anchor': 'middle', fill: '#444444' }),
    text(LEFT + (k * CELL) / 2, TOP - 34, 'predicted class', { 'text-anchor': 'middle', 'font-weight': 'bold' }),
    `<text transform="translate(${LEFT - 20 - labelWidth} ${n2(TOP + (k * CELL) / 2)}) rotate(-90)" text-anchor="middle" font-weight="bold">true class</text>`,
    text(LEFT + k * CELL + 45, TOP - 10, 'recall', { 'text-anchor': 'middle', fill: '#444444', 'font-size': 11 }),
    text(LEFT - 8, TOP + k * CELL + 22, 'precision', { 'text-anchor': 'end', fill: '#444444', 'font-size': 11 }),
  ];
  // Columns by index (the rows' labels name them): names would not fit a cell's width.
  c.classes.forEach((_, j) => body.push(text(LEFT + j * CELL + CELL / 2, TOP - 10, String(j), { 'text-anchor': 'middle' })));
  for (let t = 0; t < k; t++) {
    const rowSum = c.matrix[t].reduce((a, v) => a + v, 0);
    body.push(text(LEFT - 8, TOP + t * CELL + CELL / 2 + 4, label(t), { 'text-anchor': 'end' }));
    for (let p = 0; p < k; p++) {
      const v = c.matrix[t][p];
      const share = rowSum > 0 ? v / rowSum : 0;
      const x = LEFT + p * CELL;
      const y = TOP + t * CELL;
      body.push(`<rect x="${x}" y="${y}" width="${CELL}" height="${CELL}" fill="${shade(share)}" stroke="${t === p ? '#08306b' : '#ffffff'}"/>`);
      if (v > 0) body.push(text(x + CELL / 2, y + CELL / 2 + 4, String(v), { 'text-anchor': 'middle', 'font-size': 11, fill: share > 0.45 ? '#ffffff' : '#222222' }));
    }
    const recall = c.perClass[t].recall;
    body.push(text(LEFT + k * CELL + 45, TOP + t * CELL + CELL / 2 + 4, recall === null ? '–' : `${(recall * 100).toFixed(1)}%`, { 'text-anchor': 'middle', fill: '#444444', 'font-size': 11 }));
  }
  c.perClass.forEach((s, p) => {
    body.push(text(LEFT + p * CELL + CELL / 2, TOP + k * CELL + 22, s.precision === null ? '–' : `${(s.precision * 100).toFixed(1)}%`, { 'text-anchor': 'middle', fill: '#444444', 'font-size': 11 }));
  });
  body.push(`<rect x="${LEFT}" y="${TOP}" width="${k * CELL}" height="${k * CELL}" fill="none" stroke="#888888"/>`);
  return svgDocument(width, height, body, title);
}
