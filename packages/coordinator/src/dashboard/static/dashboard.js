// @ts-check
// The run dashboard: holds what /events sends (LiveUpdate in ../live-stream.ts) and shows it.
// Text from the coordinator (host names, event details) is set as textContent, never as HTML.
import { drawChart } from './chart.js';

/**
 * @typedef {(number | null)[]} Row
 * @typedef {{ generation: number, reset: boolean, points: Row[], tail: Row | null, stride?: number }} SeriesDelta
 * @typedef {{ id: string, name: string, address: string, threads: number, alive: boolean, steps: number,
 *   imagesPerSecond: number | null, lastComputeMs: number | null, lastRoundTripMs: number | null,
 *   lastHeartbeat: string | null }} Host
 * @typedef {{ time: string, kind: string, host: string, detail: string }} RunEvent
 * @typedef {{ state: string, uptimeSeconds: number, step: number, epoch: number, epochs: number,
 *   stepsPerEpoch: number, imagesPerSecond: number | null,
 *   settings: { model: string, dataset: string, batchSize: number, optimizer: string, seed: number, maxSteps?: number },
 *   last: { loss: number | null, accuracy: number | null }, hosts: Host[] }} Status
 * @typedef {{ serverTime: number, status: Status, events?: RunEvent[],
 *   metrics: { steps: SeriesDelta, epochs: SeriesDelta } }} Update
 */

// Step rows: [step, loss, acc]. Epoch rows: [epoch, step, loss, acc, val_loss, val_acc].
const STEP = { step: 0, loss: 1, acc: 2 };
const EPOCH = { step: 1, valLoss: 4, valAcc: 5 };
const COLORS = { raw: '#a5c8f7', smooth: '#1f6feb', val: '#e8590c' };

const held = {
  /** @type {Status | null} */ status: null,
  /** @type {RunEvent[]} */ events: [],
  /** @type {Row[]} */ steps: [],
  /** @type {Row | null} */ stepTail: null,
  /** @type {Row[]} */ epochs: [],
  /** @type {Row | null} */ epochTail: null,
  /** The coordinator's clock at the last update, and ours when it came. */
  serverTime: 0,
  receivedAt: 0,
  smoothing: 0.9,
};
/** The coordinator said the run ended: stop reconnecting and counting. */
let ended = false;

/** @param {string} id */
function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`dashboard: no element #${id}`);
  return el;
}

/** @param {Row[]} rows @param {SeriesDelta} delta */
function merge(rows, delta) {
  if (delta.reset) rows.length = 0;
  for (const p of delta.points) rows.push(p);
}

/** @param {Update} u */
function apply(u) {
  held.status = u.status;
  held.serverTime = u.serverTime;
  held.receivedAt = Date.now();
  if (u.events) held.events = u.events;
  merge(held.steps, u.metrics.steps);
  held.stepTail = u.metrics.steps.tail;
  merge(held.epochs, u.metrics.epochs);
  held.epochTail = u.metrics.epochs.tail;
}

// ---- text -----------------------------------------------------------------------------------

/** @param {number | null | undefined} v @param {number} digits */
function fixed(v, digits) {
  return v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits);
}

/** @param {number | null | undefined} v */
function percent(v) {
  return v === null || v === undefined || !Number.isFinite(v) ? '—' : `${(v * 100).toFixed(1)} %`;
}

/** @param {number} seconds */
function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** The coordinator's clock now, estimated from the last update (frozen once the run ended). */
function serverNow() {
  return held.serverTime + (ended ? 0 : Date.now() - held.receivedAt);
}

/** @param {Status} s */
function totalSteps(s) {
  const planned = s.epochs * s.stepsPerEpoch;
  return s.settings.maxSteps === undefined ? planned : Math.min(planned, s.settings.maxSteps);
}

function renderText() {
  const s = held.status;
  if (!s) return;
  const total = totalSteps(s);
  $('run').textContent = `${s.settings.model} on ${s.settings.dataset} · batch ${s.settings.batchSize} · ${s.settings.optimizer} · seed ${s.settings.seed}`;
  const state = $('state');
  state.textContent = s.state;
  state.dataset.state = s.state;
  $('step').textContent = String(s.step);
  $('step-total').textContent = ` / ${total}`;
  $('epoch').textContent = `${Math.min(s.epoch, s.epochs)} / ${s.epochs}`;
  $('throughput').textContent = s.imagesPerSecond === null ? '—' : String(Math.round(s.imagesPerSecond));
  $('loss').textContent = fixed(s.last.loss, 4);
  $('acc').textContent = percent(s.last.accuracy);
  const stepsPerSecond = s.imagesPerSecond ? s.imagesPerSecond / s.settings.batchSize : 0;
  $('eta').textContent = s.state !== 'training' ? '—' : stepsPerSecond > 0 ? duration((total - s.step) / stepsPerSecond) : '—';
  $('progress-bar').style.width = `${total > 0 ? Math.min(100, (100 * s.step) / total) : 0}%`;
  renderClocks();
  renderHosts(s.hosts);
  renderEvents();
}

/** What changes with time alone: uptime and heartbeat ages. */
function renderClocks() {
  const s = held.status;
  if (!s) return;
  $('uptime').textContent = duration(s.uptimeSeconds + (serverNow() - held.serverTime) / 1000);
  for (const cell of document.querySelectorAll('#hosts td[data-heartbeat]')) {
    const at = Date.parse(cell.getAttribute('data-heartbeat') ?? '');
    cell.textContent = Number.isFinite(at) ? `${Math.max(0, (serverNow() - at) / 1000).toFixed(1)} s ago` : '—';
  }
}

/** @param {Host[]} hosts */
function renderHosts(hosts) {
  const body = /** @type {HTMLTableSectionElement} */ (document.querySelector('#hosts tbody'));
  const rows = hosts.map((h) => {
    const tr = document.createElement('tr');
    tr.dataset.host = h.id;
    tr.dataset.alive = String(h.alive);
    /** @param {string} text @param {boolean} [num] */
    const cell = (text, num = false) => {
      const td = document.createElement('td');
      td.textContent = text;
      if (num) td.className = 'num';
      tr.append(td);
      return td;
    };
    cell(h.id);
    cell(h.name);
    cell(h.address);
    cell(String(h.threads), true);
    cell(h.alive ? 'live' : 'lost');
    cell(h.imagesPerSecond === null ? '—' : String(Math.round(h.imagesPerSecond)), true);
    cell(String(h.steps), true);
    cell(fixed(h.lastComputeMs, 1), true);
    cell(fixed(h.lastRoundTripMs, 1), true);
    cell('—', true).dataset.heartbeat = h.lastHeartbeat ?? '';
    return tr;
  });
  body.replaceChildren(...rows);
  const live = hosts.filter((h) => h.alive);
  $('host-count').textContent = `${live.length} live, ${live.reduce((a, h) => a + h.threads, 0)} threads`;
  renderClocks();
}

let shownEvents = /** @type {RunEvent[] | null} */ (null);

function renderEvents() {
  if (shownEvents === held.events) return;
  shownEvents = held.events;
  const items = [...held.events].reverse().map((e) => {
    const li = document.createElement('li');
    li.dataset.kind = e.kind;
    li.dataset.host = e.host;
    for (const [cls, text] of [['time', new Date(e.time).toLocaleTimeString()], ['kind', e.kind], ['host', e.host], ['detail', e.detail]]) {
      const span = document.createElement('span');
      span.className = cls;
      span.textContent = text;
      li.append(span);
    }
    return li;
  });
  $('events').replaceChildren(...items);
}

// ---- charts ---------------------------------------------------------------------------------

/**
 * Debiased exponential moving average (as TensorBoard smooths): the first points are not pulled
 * towards 0. Missing values keep the average and stay missing.
 * @param {[number, number | null][]} points @param {number} weight
 * @returns {[number, number | null][]}
 */
function smooth(points, weight) {
  let average = 0;
  let n = 0;
  return points.map(([x, y]) => {
    if (y === null) return [x, null];
    average = average * weight + (1 - weight) * y;
    n += 1;
    return [x, average / (1 - weight ** n)];
  });
}

/**
 * @param {Row[]} rows @param {Row | null} tail @param {number} xCol @param {number} yCol
 * @returns {[number, number | null][]}
 */
function column(rows, tail, xCol, yCol) {
  const all = tail ? [...rows, tail] : rows;
  return all.filter((r) => r[xCol] !== null).map((r) => [/** @type {number} */ (r[xCol]), r[yCol]]);
}

function renderCharts() {
  const specs = [
    { canvas: 'loss-chart', train: STEP.loss, val: EPOCH.valLoss, yMin: 0, yMax: undefined, yFormat: undefined },
    { canvas: 'acc-chart', train: STEP.acc, val: EPOCH.valAcc, yMin: 0, yMax: 1, yFormat: (/** @type {number} */ v) => `${Math.round(v * 100)}%` },
  ];
  for (const c of specs) {
    const raw = column(held.steps, held.stepTail, STEP.step, c.train);
    const val = column(held.epochs, held.epochTail, EPOCH.step, c.val).filter(([, y]) => y !== null);
    const canvas = /** @type {HTMLCanvasElement} */ ($(c.canvas));
    drawChart(canvas, {
      lines: [
        { points: raw, color: COLORS.raw, width: 1 },
        { points: smooth(raw, held.smoothing), color: COLORS.smooth, width: 2.5 },
        { points: val, color: COLORS.val, width: 2, dots: true },
      ],
      yMin: c.yMin,
      yMax: c.yMax,
      yFormat: c.yFormat,
      empty: 'waiting for the first step',
    });
    canvas.dataset.trainPoints = String(raw.length);
    canvas.dataset.valPoints = String(val.length);
  }
}

// ---- updates ----------------------------------------------------------------------------------

let frame = 0;
/** Coalesces updates into one render per frame. */
function scheduleRender() {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    renderText();
    renderCharts();
  });
}

/** @param {'connecting' | 'live' | 'reconnecting' | 'ended'} state @param {string} text */
function connection(state, text) {
  const el = $('conn');
  el.dataset.conn = state;
  el.textContent = text;
}

/** The run's token from this page's own link (cnn-coordinator start prints it with ?token=), or ''. */
const token = new URLSearchParams(location.search).get('token') ?? '';
const withToken = (/** @type {string} */ path) => (token ? `${path}?token=${encodeURIComponent(token)}` : path);

async function connect() {
  // EventSource cannot tell a refusal from a dropped line: ask once, so a missing token says so.
  const probe = await fetch(withToken('/status'), { cache: 'no-store' }).catch(() => null);
  if (probe && probe.status === 401) {
    ended = true;
    connection('ended', token ? 'refused: wrong token (open the link cnn-coordinator start printed)' : 'this run needs its token: open the link cnn-coordinator start printed (it ends in ?token=…)');
    return;
  }
  const source = new EventSource(withToken('/events'));
  source.addEventListener('open', () => connection('live', 'live'));
  source.addEventListener('update', (e) => {
    apply(JSON.parse(/** @type {MessageEvent} */ (e).data));
    scheduleRender();
  });
  source.addEventListener('end', (e) => {
    ended = true;
    source.close();
    const { reason } = JSON.parse(/** @type {MessageEvent} */ (e).data);
    connection('ended', `ended: ${reason}`);
  });
  // EventSource reconnects by itself (the server's retry field); a new stream starts with everything.
  source.addEventListener('error', () => {
    if (!ended) connection('reconnecting', 'reconnecting…');
  });
}

const slider = /** @type {HTMLInputElement} */ ($('smoothing'));
slider.addEventListener('input', () => {
  held.smoothing = Number(slider.value);
  $('smoothing-value').textContent = held.smoothing.toFixed(2);
  scheduleRender();
});
window.addEventListener('resize', scheduleRender);
setInterval(renderClocks, 1000);
void connect();
