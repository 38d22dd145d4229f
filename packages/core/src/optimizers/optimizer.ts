/**
 * An optimizer updates the one flat parameter buffer from the one flat (batch-mean) gradient buffer,
 * with its state in `slots` buffers of the same layout. The update is element-wise, so any range
 * [begin, end) can be applied on its own (by several threads) with the same bits.
 */
export interface Optimizer {
  readonly className: string;
  readonly learningRate: number;
  /** State buffers of the parameter count (Adam: m and v). */
  readonly slotNames: readonly string[];
  /** Applies update number `iteration` (1 for the first step) to params[begin, end). */
  apply(params: Float32Array, grad: Float32Array, slots: readonly Float32Array[], iteration: number, begin?: number, end?: number): void;
  getConfig(): Record<string, unknown>;
}
