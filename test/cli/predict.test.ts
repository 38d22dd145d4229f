import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCnn, tempDir } from '../cli-helpers.js';
import { type DigitImage, writeDigitImages, writeSmallMnist } from './fixtures.js';

const TEST_IMAGES = 500;

let root: string;
let run: string;
let digits: { png: DigitImage[]; jpeg: DigitImage[] };

beforeAll(async () => {
  root = tempDir('predict');
  // 300 steps of LeNet-5 at batch 32 (9,600 images, one epoch): about 94% on MNIST's test set.
  const data = await writeSmallMnist(join(root, 'data'), 9600, TEST_IMAGES);
  run = join(root, 'run');
  const r = await runCnn(['train', '--model', 'lenet5', '--dataset', data, '--max-steps', '300', '--threads', '2', '--quiet', '--no-report', '--out', run]);
  expect(r.code, r.stderr).toBe(0);
  digits = await writeDigitImages(join(root, 'images'));
});

/** `FILE: CLASS  (top 3: C P%, C P%, C P%)` lines, as {file: class}. */
function predictions(stdout: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of stdout.trim().split('\n')) {
    const m = /^(.+): (\d)  \(top 3: \d [\d.]+%, \d [\d.]+%, \d [\d.]+%\)$/.exec(line);
    expect(m, line).not.toBeNull();
    out.set(m![1], Number(m![2]));
  }
  return out;
}

describe('cnn predict', () => {
  it('classifies black-on-white 200x200 PNG digits', async () => {
    const r = await runCnn(['predict', run, ...digits.png.map((d) => d.file)]);
    expect(r.code, r.stderr).toBe(0);
    const got = predictions(r.stdout);
    expect(got.size).toBe(10);
    const right = digits.png.filter((d) => got.get(d.file) === d.label).length;
    expect(right, r.stdout).toBeGreaterThanOrEqual(8);
  });

  it('classifies the same digits as JPEG, and prints JSON with the top probabilities', async () => {
    const r = await runCnn(['predict', run, ...digits.jpeg.map((d) => d.file), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const results = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(results.map((x) => x.file)).toEqual(digits.jpeg.map((d) => d.file));
    const right = results.filter((x, i) => x.class === digits.jpeg[i].label).length;
    expect(right, r.stdout).toBeGreaterThanOrEqual(8);
    for (const x of results) {
      expect(x.top).toHaveLength(3);
      expect(x.top[0]).toEqual({ class: x.class, name: String(x.class), probability: x.probability });
      expect(x.top[0].probability).toBeGreaterThanOrEqual(x.top[1].probability);
      expect(x.top[1].probability).toBeGreaterThanOrEqual(x.top[2].probability);
      expect(x.top.reduce((a: number, t: { probability: number }) => a + t.probability, 0)).toBeLessThanOrEqual(1 + 1e-6);
    }
  });

  it('shows what the model sees: a 28x28 digit, white on black, centred', async () => {
    const seen = join(root, 'seen');
    const r = await runCnn(['predict', run, digits.png[3].file, '--save-inputs', seen, '--top', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^.+digit-3\.png: \d {2}\(top 1: \d [\d.]+%\)$/m);
    const png = PNG.sync.read(readFileSync(join(seen, 'digit-3.png')));
    expect([png.width, png.height]).toEqual([28, 28]);
    const at = (x: number, y: number) => png.data[4 * (y * 28 + x)];
    // Background black at the border, ink inside the central 20x20 box, as in MNIST.
    let border = 0;
    let ink = 0;
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        if (x < 3 || x > 24 || y < 3 || y > 24) border = Math.max(border, at(x, y));
        else ink += at(x, y) > 128 ? 1 : 0;
      }
    }
    expect(border).toBe(0);
    expect(ink).toBeGreaterThan(40);
  });

  it('names files it cannot read and goes on with the others', async () => {
    const text = join(root, 'notes.txt');
    writeFileSync(text, 'not an image');
    const blank = new PNG({ width: 50, height: 50 });
    blank.data.fill(255);
    const blankFile = join(root, 'blank.png');
    writeFileSync(blankFile, PNG.sync.write(blank));
    const r = await runCnn(['predict', run, text, blankFile, digits.png[7].file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/notes\.txt: not a PNG or JPEG file/);
    expect(r.stderr).toMatch(/blank\.png: looks blank/);
    expect(r.stdout).toMatch(/digit-7\.png: \d {2}\(top 3:/);
  });
});

describe('cnn evaluate', () => {
  it("prints accuracy, per-class precision and recall, and the confusion matrix on the run's test set", async () => {
    const r = await runCnn(['evaluate', run, '--threads', '1']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^data test set: ${TEST_IMAGES} images {2}loss \\d\\.\\d{4} {2}accuracy [\\d.]+%$`));
    const accuracy = Number(/accuracy ([\d.]+)%/.exec(lines[0])![1]);
    expect(accuracy).toBeGreaterThan(85);
    expect(r.stdout).toMatch(/^class +precision +recall +f1 +support$/m);
    let support = 0;
    for (let c = 0; c < 10; c++) {
      const m = new RegExp(`^${c} +[\\d.]+% +[\\d.]+% +[\\d.]+% +(\\d+)$`, 'm').exec(r.stdout);
      expect(m, `class ${c}`).not.toBeNull();
      support += Number(m![1]);
    }
    expect(support).toBe(TEST_IMAGES);
    const header = lines.findIndex((l) => /^true \\ predicted +0 +1 +2 +3 +4 +5 +6 +7 +8 +9$/.test(l));
    expect(header, r.stdout).toBeGreaterThan(0);
    const rows = lines.slice(header + 1, header + 11).map((l) => l.trim().split(/ +/).map(Number));
    expect(rows.map((row) => row[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const counts = rows.map((row) => row.slice(1));
    expect(counts.flat().reduce((a, v) => a + v, 0)).toBe(TEST_IMAGES);
    const diagonal = counts.reduce((a, row, i) => a + row[i], 0);
    expect((100 * diagonal) / TEST_IMAGES).toBeCloseTo(accuracy, 2);
  });

  it('--json has the matrix and per-class figures, and --dataset picks another test set', async () => {
    const other = await writeSmallMnist(join(root, 'other'), 10, 100);
    const r = await runCnn(['evaluate', run, '--dataset', other, '--json', '--threads', '2']);
    expect(r.code, r.stderr).toBe(0);
    const e = JSON.parse(r.stdout);
    expect(e).toMatchObject({ dataset: 'other', images: 100 });
    expect(e.matrix).toHaveLength(10);
    expect(e.perClass.map((s: { support: number }) => s.support).reduce((a: number, v: number) => a + v, 0)).toBe(100);
    expect(e.loss).toBeGreaterThan(0);
  });
});
