/** Scalars reported to callbacks and kept in the History (TF.js names: loss, acc, val_loss, val_acc). */
export type Logs = Record<string, number>;

/** TF.js' CustomCallbackArgs: every hook optional, may be async. */
export interface Callbacks {
  onTrainBegin?: (logs?: Logs) => void | Promise<void>;
  onTrainEnd?: (logs?: Logs) => void | Promise<void>;
  onEpochBegin?: (epoch: number, logs?: Logs) => void | Promise<void>;
  onEpochEnd?: (epoch: number, logs?: Logs) => void | Promise<void>;
  onBatchBegin?: (batch: number, logs?: Logs) => void | Promise<void>;
  onBatchEnd?: (batch: number, logs?: Logs) => void | Promise<void>;
}

type Hook = keyof Callbacks;

/** Calls a hook on every callback object in order, awaiting each. */
export async function fire(list: readonly Callbacks[], hook: Hook, ...args: unknown[]): Promise<void> {
  for (const cb of list) {
    const fn = cb[hook] as ((...a: unknown[]) => void | Promise<void>) | undefined;
    if (fn) await fn.apply(cb, args);
  }
}

/** What fit returns: TF.js' History (`history.history.loss[epoch]`). */
export class History {
  readonly epoch: number[] = [];
  readonly history: Record<string, number[]> = {};

  record(epoch: number, logs: Logs): void {
    this.epoch.push(epoch);
    for (const [k, v] of Object.entries(logs)) (this.history[k] ??= []).push(v);
  }
}
