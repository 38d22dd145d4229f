import { alignedPieces } from '@cnn/core';
import type { Span } from '../protocol/messages.js';

/**
 * Cuts shards [0, M) into one contiguous range per host, sized in proportion to its threads, each
 * as aligned pieces. A host's range being contiguous keeps its pieces few (log M at most), so little
 * crosses the network; any cut gives the same sum.
 */
export function splitShards(shards: number, weights: readonly number[]): Span[][] {
  const total = weights.reduce((a, b) => a + b, 0);
  const out: Span[][] = [];
  let start = 0;
  let acc = 0;
  for (const w of weights) {
    acc += w;
    const end = Math.round((shards * acc) / total);
    out.push(alignedPieces(start, end));
    start = end;
  }
  return out;
}

/**
 * Deals pieces of a lost host to the live ones: pieces are halved (still aligned) until there are at
 * least as many as hosts, then handed out largest first to the least loaded host by threads.
 */
export function redistribute(pieces: readonly Span[], shards: number, weights: readonly number[]): Span[][] {
  const work = pieces.flatMap((p) => (p.start < shards ? [p] : []));
  while (work.length < weights.length) {
    work.sort((a, b) => b.len - a.len);
    const big = work[0];
    if (!big || big.len === 1) break;
    const half = big.len / 2;
    work.splice(0, 1, { start: big.start, len: half }, ...(big.start + half < shards ? [{ start: big.start + half, len: half }] : []));
  }
  const load = weights.map(() => 0);
  const out: Span[][] = weights.map(() => []);
  for (const p of [...work].sort((a, b) => b.len - a.len)) {
    let best = 0;
    for (let i = 1; i < weights.length; i++) if (load[i] / weights[i] < load[best] / weights[best]) best = i;
    out[best].push(p);
    load[best] += Math.min(p.len, shards - p.start);
  }
  return out;
}
