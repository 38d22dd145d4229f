import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { start } from '../cli-helpers.js';

/*
 * The CI version of the chaos run (scripts/chaos.mjs): rounds of 1,500 steps of lenet5 on 3 hosts for
 * about 40 s, a random host SIGKILLed every 2-4 s and restarted, the coordinator SIGKILLed and resumed
 * twice a round; every round must end with the weights of the undisturbed run. The long version is
 * `pnpm chaos --minutes N`. The schedule's seed is printed; CNN_CHAOS_SEED replays one.
 */

const CHAOS = fileURLToPath(new URL('../../scripts/chaos.mjs', import.meta.url));
const SECONDS = Number(process.env.CNN_CHAOS_SECONDS ?? 40);

describe('chaos: hosts and the coordinator killed at random', () => {
  it('the run ends with the weights of an undisturbed one, every fault survived', async () => {
    const args = ['--seconds', String(SECONDS), '--json', ...(process.env.CNN_CHAOS_SEED ? ['--seed', process.env.CNN_CHAOS_SEED] : [])];
    const run = start(CHAOS, args);
    const r = await run.done;
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as {
      ok: boolean; why: string | null; rounds: number; steps: number; seconds: number; hostKills: number; coordinatorKills: number;
      faultsSurvived: number; piecesReassigned: number; resumedFrom: number[][]; seed: number; weightsEqual: boolean;
    };
    console.log(`chaos: ${JSON.stringify(summary)}`);
    expect(summary.ok, `${summary.why}\n${r.stderr.slice(-3000)}`).toBe(true);
    expect(r.code, `exit ${r.code} (${r.signal}): ${r.stderr.slice(-2000)}`).toBe(0);
    expect(summary.weightsEqual).toBe(true);
    expect(summary.rounds).toBeGreaterThanOrEqual(1);
    expect(summary.coordinatorKills).toBe(2 * summary.rounds);
    for (const resumed of summary.resumedFrom) expect(resumed).toHaveLength(2);
    // About one host kill every 3 s of the run.
    expect(summary.hostKills).toBeGreaterThanOrEqual(Math.floor(summary.seconds / 6));
    expect(summary.faultsSurvived).toBe(summary.hostKills + summary.coordinatorKills);
  }, 10 * 60_000);
});
