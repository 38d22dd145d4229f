import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RunFolder } from './run-folder.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function folderWith(lines: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'run-folder-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'metrics.jsonl'), lines.join('\n') + '\n');
  return dir;
}

const step = (n: number, loss: number) => JSON.stringify({ event: 'step', time: 't', step: n, epoch: 0, batch: n - 1, loss, acc: 0.5 });

describe('a resumed run takes over the metrics an interrupted one wrote', () => {
  it('keeps the lines of the lineage that reached the checkpoint, skips a torn line, and stops at the checkpoint', async () => {
    const dir = folderWith([
      step(1, 2.0), step(2, 1.9), step(3, 1.8),
      JSON.stringify({ event: 'epoch', time: 't', epoch: 1, loss: 1.9, acc: 0.4, val_loss: 1.7, val_acc: 0.45 }),
      step(4, 1.7), step(5, 1.6), step(6, 1.5),
      // Killed after the checkpoint at step 4: the resumed run trained 5 and 6 again, then was killed mid-line.
      step(5, 1.61), step(6, 1.51), step(7, 1.41),
      '{"event":"step","time":"t","st',
    ]);
    const earlier = await new RunFolder(dir, true).earlierMetrics(6, 1);
    expect(earlier.steps).toEqual([
      { step: 1, loss: 2.0, acc: 0.5 }, { step: 2, loss: 1.9, acc: 0.5 }, { step: 3, loss: 1.8, acc: 0.5 },
      { step: 4, loss: 1.7, acc: 0.5 }, { step: 5, loss: 1.61, acc: 0.5 }, { step: 6, loss: 1.51, acc: 0.5 },
    ]);
    expect(earlier.epochs).toEqual([{ epoch: 1, logs: { loss: 1.9, acc: 0.4, val_loss: 1.7, val_acc: 0.45 } }]);
    // Reading takes nothing away: the resumed run appends after it.
    expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean)).toHaveLength(11);
    expect((await new RunFolder(dir, true).earlierMetrics(3, 0)).epochs).toEqual([]);
  });

  it('a folder without metrics, or a fresh run in an old folder, starts empty', async () => {
    const dir = folderWith([step(1, 2.0)]);
    expect((await new RunFolder(dir, false).earlierMetrics(10, 10)).steps).toEqual([]);
    const empty = mkdtempSync(join(tmpdir(), 'run-folder-'));
    dirs.push(empty);
    expect(await new RunFolder(join(empty, 'new'), true).earlierMetrics(10, 10)).toEqual({ steps: [], epochs: [] });
  });
});
