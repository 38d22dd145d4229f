import { readdirSync, readFileSync } from 'node:fs';
import { datasets, models } from '@cnn/core';
import { threads } from '@cnn/worker';
const { train } = await datasets.mnist();
const m = models.seed(); m.compile({ loss: 'sparse_categorical_crossentropy', optimizer: 'adam', metrics: ['accuracy'] });
function snap() {
  const r = {};
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const s = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      const name = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      const sched = readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ');
      const st = readFileSync(`/proc/self/task/${t}/status`, 'utf8');
      const vol = +/voluntary_ctxt_switches:\s+(\d+)/.exec(st)[1], inv = +/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(st)[1];
      r[t] = { name, cpu: (+f[11] + +f[12]) * 10, run: +sched[0] / 1e6, wait: +sched[1] / 1e6, vol, inv };
    } catch {}
  }
  return r;
}
const strat = threads(Number(process.argv[2] ?? 2));
await m.fit(train.x, train.y, { batchSize: Number(process.argv[3] ?? 256), epochs: 1, maxSteps: 30, strategy: strat });
let a, b, t0, t1;
await m.fit(train.x, train.y, { batchSize: Number(process.argv[3] ?? 256), epochs: 3, strategy: threads(Number(process.argv[2] ?? 2)), callbacks: { onEpochBegin: (e) => { if (e === 1) { a = snap(); t0 = performance.now(); } }, onEpochEnd: (e) => { if (e === 2) { t1 = performance.now(); b = snap(); } } } });
console.log('wall ms', (t1 - t0).toFixed(0), 'img/s', (120000 / (t1 - t0) * 1000).toFixed(0));
for (const [t, v] of Object.entries(b)) {
  const o = a[t] ?? { cpu: 0, run: 0, wait: 0, vol: 0, inv: 0 };
  const run = v.run - o.run;
  if (run > 5) console.log(t, v.name.padEnd(16), 'run ms', run.toFixed(0), 'runq-wait ms', (v.wait - o.wait).toFixed(0), 'vol', v.vol - o.vol, 'invol', v.inv - o.inv);
}
