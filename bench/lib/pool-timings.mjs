/**
 * What a HostPool's command timings (HostPool.timings, `timings: true`) say about the pool's own cost
 * per step. Per command, on one clock shared by the main thread and the threads:
 *
 *   ring ──dispatch──> first block claimed ──phase 1──> last block summed ──phase 2──> last range
 *   done ──finish──> main thread sees FINISHED
 *
 * - wall: ring to the main thread seeing the command done (what the step waits for);
 * - dispatch: ring to the first block claim by any thread (wake-up of a thread + reading the command);
 * - phase 1 span: first claim to the last block summed (threads summing blocks);
 * - phase 2 span: last block summed to the last parameter range done (combine + optimizer);
 * - finish: last range done to the main thread's wake-up;
 * - busy per thread: its time summing blocks (phase 1) + combining + updating its ranges (phase 2);
 * - overhead share = 1 - mean busy per thread / wall: the step's time a thread was not computing
 *   (dispatch, barrier waits, imbalance, finish). The cross-thread combine is reported beside it
 *   (combine share), since one thread does the same additions inside its one block.
 */
import { median } from './report.mjs';

const finite = (xs) => xs.filter((x) => Number.isFinite(x));
const min = (xs) => (finite(xs).length ? Math.min(...finite(xs)) : NaN);
const max = (xs) => (finite(xs).length ? Math.max(...finite(xs)) : NaN);

/** One command's figures (ms, shares as fractions). */
export function commandFigures(c) {
  const rows = c.threads.map((t) => t ?? { wake: NaN, firstClaim: NaN, phase1Busy: 0, phase1End: NaN, combineBusy: 0, updateBusy: 0, phase2End: NaN });
  const n = rows.length;
  const wall = c.doneAt - c.ringAt;
  const firstClaim = min(rows.map((t) => t.firstClaim));
  const phase1End = max(rows.map((t) => t.phase1End));
  const phase2End = max(rows.map((t) => t.phase2End));
  const lastDone = Number.isFinite(phase2End) ? phase2End : phase1End;
  const mean = (f) => rows.reduce((a, t) => a + f(t), 0) / n;
  const phase1Busy = mean((t) => t.phase1Busy);
  const combineBusy = mean((t) => t.combineBusy);
  const updateBusy = mean((t) => t.updateBusy);
  const busy = phase1Busy + combineBusy + updateBusy;
  return {
    wall, wake: min(rows.map((t) => t.wake)) - c.ringAt, dispatch: firstClaim - c.ringAt,
    phase1Span: phase1End - firstClaim, phase2Span: Number.isFinite(phase2End) ? phase2End - phase1End : 0,
    finish: c.doneAt - lastDone, phase1Busy, combineBusy, updateBusy, busy,
    // the busiest thread's phase-1 time over the mean: 1 is a perfect split of the blocks
    imbalance: phase1Busy > 0 ? max(rows.map((t) => t.phase1Busy)) / phase1Busy : NaN,
    overheadShare: 1 - busy / wall,
    missing: c.threads.filter((t) => t === null).length,
  };
}

/**
 * Medians over the commands (after `skip` warm-up commands) and the aggregate shares (sums over those
 * commands, so long steps weigh more). `loopSeconds`, when given, is the fit loop's timed span over
 * all the commands: the share of it spent outside pool commands (the fit loop, callbacks, stats,
 * the event loop) is reported too.
 */
export function summarizePoolTimings(timings, { skip = 0, loopSeconds } = {}) {
  const all = timings.filter((c) => c.compute);
  const commands = all.slice(skip);
  if (commands.length === 0) return null;
  const figs = commands.map(commandFigures);
  const med = (k) => median(figs.map((f) => f[k]).filter(Number.isFinite));
  const sum = (k) => figs.reduce((a, f) => a + (Number.isFinite(f[k]) ? f[k] : 0), 0);
  const wall = sum('wall');
  return {
    commands: commands.length,
    threads: commands[0].threads.length,
    blocks_per_command: median(commands.map((c) => c.blocks)),
    ranges_per_command: median(commands.map((c) => c.ranges)),
    wall_ms: med('wall'), dispatch_ms: med('dispatch'), wake_ms: med('wake'),
    phase1_span_ms: med('phase1Span'), phase2_span_ms: med('phase2Span'), finish_ms: med('finish'),
    phase1_busy_ms: med('phase1Busy'), combine_busy_ms: med('combineBusy'), update_busy_ms: med('updateBusy'),
    imbalance: med('imbalance'),
    overhead_share: 1 - sum('busy') / wall,
    overhead_share_median: med('overheadShare'),
    dispatch_share: sum('dispatch') / wall,
    finish_share: sum('finish') / wall,
    combine_share: sum('combineBusy') / wall,
    commands_missing_a_thread: figs.filter((f) => f.missing > 0).length,
    // every command of the loop counts here, warm-up ones included: the loop timed them all
    outside_pool_share: loopSeconds ? 1 - all.reduce((a, c) => a + c.doneAt - c.ringAt, 0) / 1000 / loopSeconds : null,
  };
}
