/** How a column of a bucket is summarised when steps (or epochs) are merged. */
export type Merge = 'last' | 'mean';

/** What a client needs to bring its copy of a series up to date. */
export interface SeriesDelta {
  /** Changes whenever stored points were merged: a client holding another generation starts over. */
  readonly generation: number;
  /** True when `points` is the whole series, false when it follows the client's last point. */
  readonly reset: boolean;
  readonly points: (number | null)[][];
  /** The bucket being filled (not yet a point), so the newest values show before it is complete. */
  readonly tail: (number | null)[] | null;
}

/** Where a client is in a series: the generation it holds and how many of its points. */
export interface SeriesCursor {
  generation: number;
  count: number;
}

/** Significant digits sent to clients: a chart cannot show more, and JSON shrinks by half. */
const DIGITS = 6;

/**
 * A series of rows (e.g. step, loss, accuracy) kept within `capacity` points whatever the run's
 * length. Rows are summed into buckets of `stride` consecutive rows; each full bucket becomes one
 * stored point (its 'last' columns from the bucket's last row, its 'mean' columns the mean of the
 * finite values). When the store fills, neighbouring points are merged pairwise and the stride
 * doubles. Every stored point thus covers exactly `stride` rows, so merging two equal-weight means
 * is again the exact mean (when the values were finite), and memory stays O(capacity) with O(1)
 * amortised work per row.
 */
export class Series {
  readonly width: number;
  readonly capacity: number;
  readonly #merge: readonly Merge[];
  /** Stored points, row-major: `length` rows of `width`. */
  readonly #points: Float64Array;
  #length = 0;
  #stride = 1;
  #generation = 0;
  /** The open bucket: per column the sum of finite values (or the last value) and their count. */
  readonly #sum: Float64Array;
  readonly #finite: Uint32Array;
  #rows = 0;
  /** Rows added in total (changes on every add: clients compare it to skip idle pushes). */
  #version = 0;

  constructor(merge: readonly Merge[], capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 2 || capacity % 2 !== 0) {
      throw new RangeError(`capacity must be an even integer >= 2, got ${capacity}`);
    }
    this.width = merge.length;
    this.capacity = capacity;
    this.#merge = merge;
    this.#points = new Float64Array(capacity * this.width);
    this.#sum = new Float64Array(this.width);
    this.#finite = new Uint32Array(this.width);
  }

  get length(): number {
    return this.#length;
  }

  /** Rows each stored point covers. */
  get stride(): number {
    return this.#stride;
  }

  get generation(): number {
    return this.#generation;
  }

  get version(): number {
    return this.#version;
  }

  /** Adds one row (values in column order; NaN for a missing value). O(1) but for a rare merge. */
  add(values: readonly number[]): void {
    for (let c = 0; c < this.width; c++) {
      const v = values[c];
      if (this.#merge[c] === 'last') {
        this.#sum[c] = v;
      } else if (Number.isFinite(v)) {
        this.#sum[c] += v;
        this.#finite[c] += 1;
      }
    }
    this.#rows += 1;
    this.#version += 1;
    if (this.#rows === this.#stride) this.#close();
  }

  /** The stored point i as numbers (NaN for a missing value). */
  point(i: number): number[] {
    return Array.from(this.#points.subarray(i * this.width, (i + 1) * this.width));
  }

  /** What a client at `cursor` lacks; advances the cursor to the current state. */
  delta(cursor: SeriesCursor): SeriesDelta {
    const reset = cursor.generation !== this.#generation || cursor.count > this.#length;
    const from = reset ? 0 : cursor.count;
    const points: (number | null)[][] = [];
    for (let i = from; i < this.#length; i++) points.push(wire(this.point(i)));
    cursor.generation = this.#generation;
    cursor.count = this.#length;
    return { generation: this.#generation, reset, points, tail: this.#rows > 0 ? wire(this.#bucket()) : null };
  }

  /** The open bucket summarised as a point would be. */
  #bucket(): number[] {
    const row: number[] = [];
    for (let c = 0; c < this.width; c++) {
      row.push(this.#merge[c] === 'last' ? this.#sum[c] : this.#finite[c] > 0 ? this.#sum[c] / this.#finite[c] : NaN);
    }
    return row;
  }

  /** Stores the full open bucket; halving right when the store fills keeps every point at `stride` rows. */
  #close(): void {
    this.#points.set(this.#bucket(), this.#length * this.width);
    this.#length += 1;
    this.#sum.fill(0);
    this.#finite.fill(0);
    this.#rows = 0;
    if (this.#length === this.capacity) this.#halve();
  }

  /** Merges points pairwise (every point covers `stride` rows, so equal weights are exact). */
  #halve(): void {
    const w = this.width;
    const p = this.#points;
    for (let i = 0; i < this.#length / 2; i++) {
      for (let c = 0; c < w; c++) {
        const a = p[2 * i * w + c];
        const b = p[(2 * i + 1) * w + c];
        p[i * w + c] = this.#merge[c] === 'last' ? b : meanOfFinite(a, b);
      }
    }
    this.#length /= 2;
    this.#stride *= 2;
    this.#generation += 1;
  }
}

function meanOfFinite(a: number, b: number): number {
  if (Number.isFinite(a) && Number.isFinite(b)) return (a + b) / 2;
  return Number.isFinite(a) ? a : b;
}

/** A row as JSON wants it: numbers rounded to DIGITS significant digits, null where not finite. */
function wire(row: number[]): (number | null)[] {
  return row.map((v) => (Number.isFinite(v) ? (Number.isInteger(v) ? v : Number(v.toPrecision(DIGITS))) : null));
}
