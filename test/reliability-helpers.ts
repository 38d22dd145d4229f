import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Each recorded step of a run folder and when it was recorded (ms since the epoch). */
export function stepTimes(runDir: string): { step: number; time: number }[] {
  const file = join(runDir, 'metrics.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).flatMap((line) => {
    const e = JSON.parse(line) as { event: string; step?: number; time: string };
    return e.event === 'step' ? [{ step: e.step ?? 0, time: Date.parse(e.time) }] : [];
  });
}

/** Resident memory of a process in bytes (Linux: VmRSS of /proc/PID/status), or null when it is gone. */
export function rss(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}
