import { CnnError } from './errors.js';

/** Whether typed arrays on this machine store numbers little-endian (x86, ARM as Node runs them). */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Refuses a big-endian machine (s390x): WebAssembly memory is little-endian whatever the host, so the
 * kernels' buffers read through typed arrays, and the float arrays hosts exchange, would be garbage.
 */
export function requireLittleEndian(what: string, littleEndian: boolean = HOST_IS_LITTLE_ENDIAN): void {
  if (littleEndian) return;
  throw new CnnError('CNN_ERR_UNSUPPORTED_PLATFORM',
    `${what}: this machine is big-endian; the kernels' memory (WebAssembly) and the wire format are little-endian and this version does not convert between them. Run on a little-endian machine (x86-64, ARM64).`);
}
