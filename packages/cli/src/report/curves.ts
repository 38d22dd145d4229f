import { type ChartSpec, type Series, lineChart } from './chart.js';
import { type RunMetrics, epochEndSteps } from './metrics.js';

const COLORS = { train: '#1f77b4', validation: '#e8710a', raw: '#9ecae1' } as const;
/** Points drawn per curve at most: more do not show at chart width, and keep files small. */
const MAX_POINTS = 1200;
/** The smoothing window is this fraction of the run's steps (at least MIN_WINDOW). */
const WINDOW_FRACTION = 1 / 50;
const MIN_WINDOW = 5;

/**
 * A centred moving mean over `window` values (fewer at the ends). Centred rather than exponential
 * (TensorBoard's): a finished run's curve need not lag behind its raw values.
 */
export function smooth(values: readonly number[], window: number): number[] {
  const prefix = new Float64Array(values.length + 1);
  values.forEach((v, i) => (prefix[i + 1] = prefix[i] + v));
  const half = Math.floor(Math.max(1, window) / 2);
  return values.map((_, i) => {
    const from = Math.max(0, i - half);
    const to = Math.min(values.length, i + half + 1);
    return (prefix[to] - prefix[from]) / (to - from);
  });
}

/** Means of consecutive buckets, so a long run draws at most `max` points. */
function thin(points: readonly (readonly [number, number])[], max: number): [number, number][] {
  if (points.length <= max) return points.map(([x, y]) => [x, y]);
  const size = points.length / max;
  const out: [number, number][] = [];
  for (let b = 0; b < max; b++) {
    const from = Math.floor(b * size);
    const to = Math.floor((b + 1) * size);
    let sx = 0;
    let sy = 0;
    for (let i = from; i < to; i++) {
      sx += points[i][0];
      sy += points[i][1];
    }
    out.push([sx / (to - from), sy / (to - from)]);
  }
  return out;
}

export type Curve = 'loss' | 'accuracy';

/**
 * A curve over the run's steps: the batches' raw values (faint), their smoothed trend, and the
 * epochs' training means and validation results at the step each epoch ended.
 */
export function curveChart(m: RunMetrics, curve: Curve, runName: string): string {
  const isLoss = curve === 'loss';
  const scale = isLoss ? 1 : 100;
  const stepValue = (s: RunMetrics['steps'][number]) => (isLoss ? s.loss : s.acc) * scale;
  const window = Math.max(MIN_WINDOW, Math.round(m.steps.length * WINDOW_FRACTION));
  const smoothed = smooth(m.steps.map(stepValue), window);
  const ends = epochEndSteps(m);
  const at = (epoch: number) => ends.get(epoch) ?? 0;
  const trainKey = isLoss ? 'loss' : 'acc';
  const valKey = isLoss ? 'val_loss' : 'val_acc';
  const series: Series[] = [
    { name: 'train (per step)', points: thin(m.steps.map((s) => [s.step, stepValue(s)]), MAX_POINTS), color: COLORS.raw, width: 1, hideInLegend: true },
    { name: `train, ${window}-step mean`, points: thin(m.steps.map((s, i) => [s.step, smoothed[i]]), MAX_POINTS), color: COLORS.train, width: 2 },
    { name: 'train (epoch mean)', points: m.epochs.map((e) => [at(e.epoch), e[trainKey] * scale]), color: COLORS.train, width: 1.5, markers: true, opacity: 0.6 },
    {
      name: 'validation (epoch end)',
      points: m.epochs.filter((e) => e[valKey] !== undefined).map((e) => [at(e.epoch), e[valKey]! * scale]),
      color: COLORS.validation, width: 2.5, markers: true,
    },
  ];
  const spec: ChartSpec = {
    title: `${isLoss ? 'Loss' : 'Accuracy'}: ${runName}`,
    xLabel: 'step',
    yLabel: isLoss ? 'loss (cross-entropy)' : 'accuracy (%)',
    series,
    yFormat: isLoss ? undefined : (v) => `${Number(v.toPrecision(4))}%`,
    yInclude: isLoss ? [0] : [],
    marks: m.epochs.length > 1 ? m.epochs.map((e) => ({ x: at(e.epoch), label: `epoch ${e.epoch}` })) : [],
  };
  return lineChart(spec);
}
