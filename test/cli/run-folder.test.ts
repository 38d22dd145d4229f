import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCnn, tempDir } from '../cli-helpers.js';
import { writeSmallMnist } from './fixtures.js';

const PLOTS = ['loss', 'accuracy', 'confusion'];
const TEST_IMAGES = 400;

let run: string;
let trainOutput: string;

/** Pixels of a clearly coloured ink (the curves and cells are blue or orange; paper and text are grey). */
function colouredPixels(png: PNG): number {
  let n = 0;
  for (let i = 0; i < png.width * png.height; i++) {
    const [r, g, b] = [png.data[4 * i], png.data[4 * i + 1], png.data[4 * i + 2]];
    if (Math.max(r, g, b) - Math.min(r, g, b) > 60) n++;
  }
  return n;
}

function svgSize(svg: string): [number, number] {
  const m = /<svg [^>]*width="(\d+)" height="(\d+)"/.exec(svg);
  return [Number(m![1]), Number(m![2])];
}

beforeAll(async () => {
  const root = tempDir('run-folder');
  const data = await writeSmallMnist(join(root, 'data'), 2000, TEST_IMAGES);
  run = join(root, 'run');
  // Two epochs, so the epoch curves have two points.
  const r = await runCnn(['train', '--model', 'seed', '--dataset', data, '--epochs', '2', '--threads', '2', '--out', run]);
  expect(r.code, r.stderr).toBe(0);
  trainOutput = r.stdout;
});

function checkPlots(): void {
  for (const name of PLOTS) {
    const svg = readFileSync(join(run, `${name}.svg`), 'utf8');
    expect(svg, name).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    const png = PNG.sync.read(readFileSync(join(run, `${name}.png`)));
    // Rendered at twice the SVG's size, for high-density screens.
    const [w, h] = svgSize(svg);
    expect([png.width, png.height], name).toEqual([2 * w, 2 * h]);
    // Not blank: curves (or the matrix's cells) are drawn in colour on the white paper.
    expect(png.data.subarray(0, 4)).toEqual(Buffer.from([255, 255, 255, 255]));
    expect(colouredPixels(png), name).toBeGreaterThan(2000);
  }
  for (const curve of ['loss', 'accuracy']) {
    const svg = readFileSync(join(run, `${curve}.svg`), 'utf8');
    // The steps' raw and smoothed curves are polylines over all 126 steps; the epochs are dots.
    const lines = [...svg.matchAll(/<polyline [^>]*points="([^"]+)"/g)].map((m) => m[1].split(' ').length);
    expect(lines.filter((n) => n === 126).length, curve).toBe(2);
    expect(svg).toMatch(/validation \(epoch end\)/);
    expect((svg.match(/<circle /g) ?? []).length).toBeGreaterThanOrEqual(4);
  }
}

describe('the run folder', () => {
  it('holds loss and accuracy plots and the test set confusion matrix as SVG and PNG', () => {
    for (const f of ['model.json', 'weights.bin', 'config.json', 'metrics.jsonl', 'confusion.json']) expect(existsSync(join(run, f)), f).toBe(true);
    checkPlots();
    expect(trainOutput).toMatch(/Writing plots and the confusion matrix of the test set to /);
  });

  it('confusion.json counts every test image and agrees with the reported accuracy', () => {
    const c = JSON.parse(readFileSync(join(run, 'confusion.json'), 'utf8'));
    expect(c.classes).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(c.images).toBe(TEST_IMAGES);
    expect(c.matrix.flat().reduce((a: number, v: number) => a + v, 0)).toBe(TEST_IMAGES);
    const diagonal = c.matrix.reduce((a: number, row: number[], i: number) => a + row[i], 0);
    expect(c.accuracy).toBeCloseTo(diagonal / TEST_IMAGES, 12);
    const reported = Number(/Test accuracy: ([\d.]+)%/.exec(trainOutput)![1]);
    expect(c.accuracy * 100).toBeCloseTo(reported, 2);
    expect(c.perClass).toHaveLength(10);
    for (const s of c.perClass) {
      expect(s.support).toBe(c.matrix[s.index].reduce((a: number, v: number) => a + v, 0));
      expect(s.recall).toBeCloseTo(c.matrix[s.index][s.index] / s.support, 12);
    }
  });

  it('cnn report regenerates the plots and prints a summary', async () => {
    for (const name of PLOTS) for (const ext of ['svg', 'png']) rmSync(join(run, `${name}.${ext}`));
    rmSync(join(run, 'confusion.json'));
    const r = await runCnn(['report', run, '--threads', '1']);
    expect(r.code, r.stderr).toBe(0);
    checkPlots();
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^Run .+: seed \(10,180 params\) on .+data, batch 32, adam, seed 1$/);
    // The epoch table: both epochs with their steps, loss, accuracy, validation and throughput.
    const header = lines.findIndex((l) => /^epoch +steps +loss +accuracy +val_loss +val_accuracy +img\/s$/.test(l));
    expect(header).toBeGreaterThan(0);
    expect(lines[header + 1]).toMatch(/^1 +63 +\d\.\d{4} +[\d.]+% +\d\.\d{4} +[\d.]+% +[\d,]+$/);
    expect(lines[header + 2]).toMatch(/^2 +63 +\d\.\d{4} +[\d.]+% +\d\.\d{4} +[\d.]+% +[\d,]+$/);
    expect(r.stdout).toMatch(/^2 epoch\(s\), 126 steps, [\d,]+ img\/s$/m);
    expect(r.stdout).toMatch(new RegExp(`^data test set: ${TEST_IMAGES} images {2}loss \\d\\.\\d{4} {2}accuracy [\\d.]+%$`, 'm'));
    // Per-class precision and recall, then their means.
    expect(r.stdout).toMatch(/^class +precision +recall +f1 +support$/m);
    for (let c = 0; c < 10; c++) expect(r.stdout).toMatch(new RegExp(`^${c} +([\\d.]+%|-) +[\\d.]+% +([\\d.]+%|-) +\\d+$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^mean +[\\d.]+% +[\\d.]+% +[\\d.]+% +${TEST_IMAGES}$`, 'm'));
    expect(r.stdout).toMatch(/^Wrote loss\.svg, loss\.png, accuracy\.svg, accuracy\.png, confusion\.svg, confusion\.png, confusion\.json to /m);
  });

  it('cnn report --json gives the same figures as data', async () => {
    const r = await runCnn(['report', run, '--json', '--threads', '1']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.steps).toBe(126);
    expect(s.epochs.map((e: { epoch: number; steps: number; finished: boolean }) => [e.epoch, e.steps, e.finished])).toEqual([[1, 63, true], [2, 63, true]]);
    expect(s.test.images).toBe(TEST_IMAGES);
    expect(s.test.perClass).toHaveLength(10);
  });

  it('cnn report says what is missing in a folder that is not a run', async () => {
    const r = await runCnn(['report', tempDir('not-a-run')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no model\.json; give a run folder written by cnn train/);
  });
});
