import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { datasets } from '@cnn/core';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

/** An IDX file (LeCun's format): magic (0, 0, type 0x08 = ubyte, rank), the dimensions, the bytes. */
function idxFile(file: string, bytes: Uint8Array, dims: number[]): void {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE((0x08 << 8) | dims.length, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  writeFileSync(file, Buffer.concat([header, bytes]));
}

/**
 * The first `train` and `test` images of MNIST as a data set folder (the four IDX files), so a run
 * trains and validates in seconds: `cnn train --dataset DIR`.
 */
export async function writeSmallMnist(dir: string, train: number, test: number): Promise<string> {
  const d = await datasets.mnist();
  mkdirSync(dir, { recursive: true });
  const put = (split: 'train' | 'test', n: number, images: string, labels: string) => {
    const [, h, w] = d[split].x.shape;
    idxFile(join(dir, images), (d[split].x.storage as Uint8Array).subarray(0, n * h * w), [n, h, w]);
    idxFile(join(dir, labels), Uint8Array.from((d[split].y.storage as Int32Array).subarray(0, n)), [n]);
  };
  put('train', train, 'train-images-idx3-ubyte', 'train-labels-idx1-ubyte');
  put('test', test, 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte');
  return dir;
}

/** Bilinear upscaling of a 28x28 byte image to size x size. */
function upscale(src: Uint8Array, side: number, size: number): Uint8Array {
  const out = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    const sy = Math.min(side - 1, Math.max(0, ((y + 0.5) * side) / size - 0.5));
    const y0 = Math.min(side - 2, Math.floor(sy));
    const ty = sy - y0;
    for (let x = 0; x < size; x++) {
      const sx = Math.min(side - 1, Math.max(0, ((x + 0.5) * side) / size - 0.5));
      const x0 = Math.min(side - 2, Math.floor(sx));
      const tx = sx - x0;
      const at = (yy: number, xx: number) => src[yy * side + xx];
      const top = at(y0, x0) * (1 - tx) + at(y0, x0 + 1) * tx;
      const bottom = at(y0 + 1, x0) * (1 - tx) + at(y0 + 1, x0 + 1) * tx;
      out[y * size + x] = Math.round(top * (1 - ty) + bottom * ty);
    }
  }
  return out;
}

export interface DigitImage {
  file: string;
  label: number;
}

/**
 * Real MNIST test digits as a person's files: one of each class (from test index `from` on, past the
 * images a small test set holds), upscaled to size x size and inverted to black ink on white, written
 * as PNG and as JPEG.
 */
export async function writeDigitImages(dir: string, options: { from?: number; size?: number } = {}): Promise<{ png: DigitImage[]; jpeg: DigitImage[] }> {
  const d = await datasets.mnist();
  const from = options.from ?? 1000;
  const size = options.size ?? 200;
  const labels = d.test.y.storage as Int32Array;
  const pixels = d.test.x.storage as Uint8Array;
  mkdirSync(dir, { recursive: true });
  const png: DigitImage[] = [];
  const jpg: DigitImage[] = [];
  for (let label = 0; label < 10; label++) {
    let i = from;
    while (labels[i] !== label) i++;
    const big = upscale(pixels.subarray(i * 784, (i + 1) * 784), 28, size);
    const rgba = Buffer.alloc(size * size * 4);
    for (let p = 0; p < size * size; p++) {
      const v = 255 - big[p];
      rgba[4 * p] = rgba[4 * p + 1] = rgba[4 * p + 2] = v;
      rgba[4 * p + 3] = 255;
    }
    const image = new PNG({ width: size, height: size });
    image.data = rgba;
    const pngFile = join(dir, `digit-${label}.png`);
    writeFileSync(pngFile, PNG.sync.write(image));
    png.push({ file: pngFile, label });
    const jpegFile = join(dir, `digit-${label}.jpg`);
    writeFileSync(jpegFile, jpeg.encode({ data: rgba, width: size, height: size }, 90).data);
    jpg.push({ file: jpegFile, label });
  }
  return { png, jpeg: jpg };
}

/** Runs `node script args` on a pseudo-terminal (util-linux `script`), as a person at a terminal would. */
export function runOnTerminal(script: string, args: string[]): Promise<{ code: number | null; output: string }> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, script, ...args].map(quote).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, COLUMNS: '120' } });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, output })));
}

export const hasScript = spawnSync('script', ['--version']).status === 0;

/** The JSON objects of a --json run's stdout, one per line. */
export function events(stdout: string): Record<string, unknown>[] {
  return stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}
