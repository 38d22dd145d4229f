import { count, percent, table } from '../format.js';
import type { Confusion } from './confusion.js';

const pct = (v: number | null) => (v === null ? '-' : percent(v));

/** Precision, recall, F1 and support per class, and their macro means. */
export function classTable(c: Confusion): string[] {
  const named = c.classes.some((n, i) => n !== String(i));
  const rows = c.perClass.map((s) => [named ? `${s.index} ${s.name}` : s.name, pct(s.precision), pct(s.recall), pct(s.f1), count(s.support)]);
  const mean = (key: 'precision' | 'recall' | 'f1') => {
    const v = c.perClass.map((s) => s[key]).filter((x): x is number => x !== null);
    return v.length ? v.reduce((a, x) => a + x, 0) / v.length : null;
  };
  return table([['class', 'precision', 'recall', 'f1', 'support'], ...rows, ['mean', pct(mean('precision')), pct(mean('recall')), pct(mean('f1')), count(c.images)]]);
}

/** The confusion matrix as text: a row per true class, a column per predicted class. */
export function confusionTable(c: Confusion): string[] {
  const k = c.classes.length;
  const header = ['true \\ predicted', ...Array.from({ length: k }, (_, j) => String(j))];
  const named = c.classes.some((n, i) => n !== String(i));
  const rows = c.matrix.map((row, t) => [named ? `${t} ${c.classes[t]}` : String(t), ...row.map(String)]);
  return table([header, ...rows]);
}
