import { readFileSync } from 'node:fs';
import { CnnError } from '@cnn/core';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

/** An image as 8-bit RGBA rows. */
export interface Rgba {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Pixels of a decoded image at most: a 12,000 x 8,000 scan, and bounded memory (4 bytes each). */
const MAX_PIXELS = 100_000_000;

const isPng = (b: Buffer) => b.length > 8 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a;
const isJpeg = (b: Buffer) => b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;

/** Decodes a PNG or JPEG file (told apart by their signatures, not the file name) to RGBA. */
export function readImage(file: string): Rgba {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new CnnError('CNN_ERR_FILE_NOT_FOUND', `${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    if (isPng(bytes)) {
      // pngjs expands palettes, grey and 16-bit samples to 8-bit RGBA.
      const png = PNG.sync.read(bytes);
      return { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.length) };
    }
    if (isJpeg(bytes)) {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_PIXELS / 1e6 });
      return { width: img.width, height: img.height, data: img.data };
    }
  } catch (e) {
    throw new CnnError('CNN_ERR_BAD_IMAGE', `${file}: not a readable ${isPng(bytes) ? 'PNG' : 'JPEG'} file (${(e as Error).message})`);
  }
  throw new CnnError('CNN_ERR_BAD_IMAGE', `${file}: not a PNG or JPEG file; convert it to PNG first (e.g. with ImageMagick: convert ${file} digit.png)`);
}
