import { type DType, Tensor, type TensorStorage } from '@cnn/core';

/** A tensor as it crosses to a worker thread: its storage is a view of a SharedArrayBuffer. */
export interface SharedTensor {
  readonly storage: TensorStorage;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly scale: number;
}

function isShared(a: TensorStorage): boolean {
  return a.buffer instanceof SharedArrayBuffer;
}

const copies = new WeakMap<Tensor, SharedTensor>();

/**
 * The tensor's data in shared memory: as it is when already shared (data sets load that way), else
 * copied once (and remembered, so validation data is not copied every epoch).
 */
export function shareTensor(t: Tensor): SharedTensor {
  if (isShared(t.storage)) return { storage: t.storage, shape: t.shape, dtype: t.dtype, scale: t.scale };
  let copy = copies.get(t);
  if (!copy) {
    const Ctor = t.storage.constructor as new (buffer: SharedArrayBuffer) => TensorStorage;
    const storage = new Ctor(new SharedArrayBuffer(t.storage.byteLength));
    storage.set(t.storage);
    copy = { storage, shape: t.shape, dtype: t.dtype, scale: t.scale };
    copies.set(t, copy);
  }
  return copy;
}

export function tensorOf(s: SharedTensor): Tensor {
  return new Tensor(s.storage, s.shape, s.dtype, s.scale);
}
