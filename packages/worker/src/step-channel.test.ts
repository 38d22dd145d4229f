import { describe, expect, it } from 'vitest';
import { type Command, Kind, Phase2, StepChannel } from './step-channel.js';

/*
 * The doorbell's claims, on one thread: both sides of the channel are the same class over the same
 * buffer, so a second view of it plays the worker. Real threads race for these claims in
 * test/threads (bitwise results whatever the thread count); here each rule is checked alone.
 */

function command(over: Partial<Command> = {}): Command {
  return {
    compute: true, checkFinite: false, phase2: Phase2.update, step: 7, batchStart: 64, batchSize: 32, shuffled: true, shards: 4,
    blocks: [0, 1, 2, 3].map((i) => ({ start: i, len: 1, result: i })), pieces: [], ranges: 2, ...over,
  };
}

/** The main thread's channel and a worker's view of the same buffer. */
function pair(threads = 2): { main: StepChannel; worker: StepChannel } {
  const main = StepChannel.create(8, { threads });
  return { main, worker: new StepChannel(main.buffer, 8) };
}

describe('StepChannel', () => {
  it('hands a worker the command the main thread rang, field for field', () => {
    const { main, worker } = pair();
    const c = command({ pieces: [{ start: 0, len: 4 }], phase2: Phase2.combinePieces });
    const { received } = main.ring(c);
    const seen = worker.next(received.seq - 1);
    expect(seen).toEqual({ ...c, seq: received.seq, kind: Kind.run });
    expect(received).toEqual(seen);
  });

  it('gives each block once, in order, and none of a newer command to a late thread', () => {
    const { main, worker } = pair();
    const first = main.ring(command()).received;
    const claimed = [worker.claimBlock(first), main.claimBlock(first), worker.claimBlock(first), worker.claimBlock(first)];
    expect(claimed).toEqual([0, 1, 2, 3]);
    expect(main.claimBlock(first)).toBe(-1);
    main.ring(command({ step: 8 }));
    // A thread still holding the first command claims nothing of the second.
    expect(worker.claimBlock(first)).toBe(-1);
  });

  it('gives each thread its own parameter range first, then any left, each once', () => {
    const { main, worker } = pair(3);
    const c = main.ring(command({ ranges: 3 })).received;
    // Thread 2 arrives first: it still takes its own range, not range 0.
    expect(main.claimRange(c, 2)).toBe(2);
    expect(worker.claimRange(c, 0)).toBe(0);
    // Thread 0 goes on with what is left; thread 1, arriving last, finds its range taken and nothing left.
    expect(worker.claimRange(c, 0)).toBe(1);
    expect(worker.claimRange(c, 1)).toBe(-1);
    expect(main.claimRange(c, 2)).toBe(-1);
  });

  it('gives a thread whose range a command lacks the lowest one left', () => {
    const { main, worker } = pair(4);
    const c = main.ring(command({ ranges: 2 })).received;
    expect(worker.claimRange(c, 3)).toBe(0);
    expect(worker.claimRange(c, 3)).toBe(1);
    expect(worker.claimRange(c, 3)).toBe(-1);
  });

  it('gives a late thread no range of a newer command', () => {
    const { main, worker } = pair();
    const old = main.ring(command()).received;
    main.ring(command({ step: 8 }));
    expect(worker.claimRange(old, 0)).toBe(-1);
    expect(worker.claimRange(old, 1)).toBe(-1);
  });

  it('refuses a command of more ranges or blocks than it was made for', () => {
    const { main } = pair(2);
    expect(() => main.ring(command({ ranges: 3 }))).toThrow(/3 parameter ranges exceeds the channel's 2/);
    expect(() => main.ring(command({ blocks: Array.from({ length: 9 }, (_, i) => ({ start: i, len: 1, result: i })) }))).toThrow(/9 blocks exceeds the channel's 8/);
  });
});
