import { describe, expect, it } from 'vitest';
import { HOST_IS_LITTLE_ENDIAN, requireLittleEndian } from './platform.js';

describe('requireLittleEndian', () => {
  it('passes on a little-endian machine and refuses a big-endian one with a clear error', () => {
    expect(HOST_IS_LITTLE_ENDIAN).toBe(true); // every machine this suite runs on (x86-64, ARM64)
    expect(() => requireLittleEndian('the kernel heap', true)).not.toThrow();
    expect(() => requireLittleEndian('the kernel heap', false)).toThrow(expect.objectContaining({
      code: 'CNN_ERR_UNSUPPORTED_PLATFORM', message: expect.stringMatching(/^the kernel heap: this machine is big-endian; .*Run on a little-endian machine/),
    }));
  });
});
