import cliProgress from 'cli-progress';
import { clock, count, percent } from '../format.js';
import type { ProgressView, RunEvent, StepEvent } from './events.js';
import { endLine, epochLine, listeningLines, startLine } from './lines.js';
import { setLiveLine, writeAround } from './live-line.js';

/** Redraws per second: smooth to the eye, negligible next to a training step. */
const FPS = 8;
/** The bar's width in characters, at most and at least (it shrinks on narrow terminals). */
const BAR_MAX = 30;
const BAR_MIN = 8;

/** The text around the bar, from the latest step. */
interface Payload {
  step: StepEvent | null;
}

function render(progress: number, width: number): string {
  const done = Math.round(Math.min(1, Math.max(0, progress)) * width);
  return '█'.repeat(done) + '░'.repeat(width - done);
}

/** `Epoch 1/3 ████░░░░ 120/1875  ETA 0:45  loss 0.4321  acc 87.50%  2,345 img/s  hosts 2` */
function format(_options: cliProgress.Options, params: cliProgress.Params, payload: Payload): string {
  const s = payload.step;
  if (!s) return '';
  const fields = [
    `${s.batch}/${s.batches}`,
    `ETA ${s.etaSeconds === null ? '--' : clock(s.etaSeconds)}`,
    `loss ${s.loss.toFixed(4)}`,
    `acc ${percent(s.accuracy)}`,
    `${count(s.imagesPerSecond)} img/s`,
    ...(s.hosts === undefined ? [] : [`hosts ${s.hosts}`]),
  ];
  const head = `Epoch ${s.epoch}/${s.epochs} `;
  // The last column stays empty: writing into it makes some terminals wrap.
  const columns = (params.maxWidth || 80) - 1;
  // Two spaces between fields when they fit beside the narrowest bar, else one.
  const wide = ` ${fields.join('  ')}`;
  const tail = head.length + BAR_MIN + wide.length <= columns ? wide : ` ${fields.join(' ')}`;
  const width = Math.max(BAR_MIN, Math.min(BAR_MAX, columns - head.length - tail.length));
  return (head + render(params.progress, width) + tail).slice(0, Math.max(1, columns));
}

/** A terminal: a bar per epoch, redrawn in place, replaced by the epoch's line when it ends. */
export function barView(stream: NodeJS.WriteStream = process.stdout): ProgressView {
  const print = (line: string) => writeAround(() => stream.write(`${line}\n`));
  let bar: cliProgress.SingleBar | null = null;
  const stop = () => {
    if (!bar) return;
    bar.stop();
    bar = null;
    setLiveLine(null);
  };
  const step = (e: StepEvent) => {
    if (!bar) {
      bar = new cliProgress.SingleBar({
        stream, fps: FPS, format: format as cliProgress.GenericFormatter, clearOnComplete: true, hideCursor: false,
        // true: no terminal escapes that a killed process would leave set; format() fits the width itself.
        linewrap: true,
        // Steps are reported as the batch index; a resumed epoch starts part way.
        progressCalculationRelative: false,
      });
      bar.start(e.batches, e.batch, { step: e } satisfies Payload);
      const live = bar;
      setLiveLine({
        // Column 1, erase the line (what cli-progress itself writes; a bare CR may be translated).
        clear: () => stream.write('\x1b[1G\x1b[2K'),
        // Forced: the line was cleared though the text did not change. SingleBar.render() skips an
        // unchanged line; its base class's render(true) (cli-progress' GenericBar, not exported) does not.
        redraw: () => (Object.getPrototypeOf(cliProgress.SingleBar.prototype) as { render(force: boolean): void }).render.call(live, true),
      });
      return;
    }
    bar.setTotal(e.batches);
    bar.update(e.batch, { step: e } satisfies Payload);
  };
  return {
    show(e: RunEvent) {
      switch (e.event) {
        case 'step': return step(e);
        case 'epoch':
          stop();
          return print(epochLine(e));
        case 'start': return print(startLine(e));
        case 'end':
          stop();
          return print(endLine(e));
        case 'listening': return print(listeningLines(e));
      }
    },
    note(line) {
      print(line);
    },
    close: stop,
  };
}
