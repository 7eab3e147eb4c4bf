// Helpers of the browser tests: a `tablepulse serve` process on a free port over a fresh
// embedded database, events with timestamps near now (docs/EVENTS.md), Debian's Chromium
// through playwright-core, and the page's number formats written out independently.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BINARY = resolve(ROOT, process.env.TABLEPULSE_BIN || 'build/tablepulse');
export const ARTIFACTS = join(ROOT, 'artifacts');

const MIN = 60_000;

// ---- the server ----------------------------------------------------------------------------

async function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

// Starts `tablepulse serve` on a fresh directory with `lines` in a followed source file.
// `prepare(db)` may make the database first (serve then opens it as it is), `args` are more
// options of serve and `env` more environment variables (e.g. TABLEPULSE_FAULTS).
// Returns {url, port, events, append(lines), stop(), pause(), resume(), process}.
export async function startServe({
  lines = [], token = null, name = 'serve', prepare = null, args: extraArgs = [], env: extraEnv = {},
} = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tablepulse-e2e-'));
  const db = join(dir, 'db');
  if (prepare) await prepare(db);
  const events = join(dir, 'events.jsonl');
  writeFileSync(events, lines.map((l) => `${l}\n`).join(''));
  const port = await freePort();
  const args = ['serve', '--db', db, '--source', events, '--follow',
    '--listen', `127.0.0.1:${port}`, ...extraArgs];
  if (token) args.push('--token', token);
  mkdirSync(ARTIFACTS, { recursive: true });
  const logPath = join(ARTIFACTS, `e2e-${name}.log`);
  const log = createWriteStream(logPath);
  // No inherited token: unset (serve refuses an empty one).
  const env = { ...process.env, ...extraEnv };
  delete env.TABLEPULSE_TOKEN;
  const child = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  child.stderr.pipe(log);
  let exited = false;
  const exit = new Promise((done) => child.on('exit', (code, signal) => { exited = true; done({ code, signal }); }));

  const url = await new Promise((ready, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`serve did not start in 90 s (see artifacts/e2e-${name}.log)`)), 90_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = out.match(/serving on (http:\/\/\S+)/);
      if (match) {
        clearTimeout(timer);
        ready(match[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`serve exited with ${code} before listening (see artifacts/e2e-${name}.log)`));
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      fail(new Error(`cannot run ${BINARY}: ${error.message}`));
    });
  });

  return {
    url,
    port,
    events,
    process: child,
    append(more) { appendFileSync(events, more.map((l) => `${l}\n`).join('')); },
    // The server's last log lines, for failure messages.
    logTail(lines = 8) {
      try {
        return readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    },
    pause() { child.kill('SIGSTOP'); },
    resume() { child.kill('SIGCONT'); },
    async stop() {
      if (!exited) {
        child.kill('SIGCONT');
        child.kill('SIGTERM');
        const timeout = setTimeout(() => { if (!exited) child.kill('SIGKILL'); }, 20_000);
        const result = await exit;
        clearTimeout(timeout);
        log.end();
        rmSync(dir, { recursive: true, force: true });
        return result;
      }
      rmSync(dir, { recursive: true, force: true });
      return exit;
    },
  };
}

// Runs the tablepulse binary with `args` to its end: its stdout, or an error with its stderr.
export async function runTablepulse(args) {
  return new Promise((done, fail) => {
    const env = { ...process.env };
    delete env.TABLEPULSE_TOKEN;
    const child = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => { out += chunk; });
    child.stderr.on('data', (chunk) => { err += chunk; });
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? done(out)
      : fail(new Error(`tablepulse ${args.join(' ')} exited with ${code}:\n${err.slice(-2000)}`))));
  });
}

// The value of an unlabelled sample `name` in a /metrics text (undefined if absent).
export function metricSample(text, name) {
  const match = text.match(new RegExp(`^${name} (\\S+)$`, 'm'));
  return match ? Number(match[1]) : undefined;
}

// GET a JSON endpoint of the server (with an optional bearer token).
export async function getJson(base, path, params = {}, token = null) {
  const url = new URL(path, base);
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) url.searchParams.set(k, v);
  const response = await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  const body = await response.json();
  if (!response.ok) throw new Error(`${url}: ${response.status} ${JSON.stringify(body)}`);
  return body;
}

export const METRICS = ['revenue', 'funnel', 'top-items', 'wait-times', 'turnover', 'data-quality'];

export async function allMetrics(base, asOf, restaurantId, token) {
  const results = await Promise.all(METRICS.map((m) => getJson(base, `/api/v1/${m}`, { as_of: asOf, restaurant_id: restaurantId }, token)));
  return Object.fromEntries(METRICS.map((m, i) => [m, results[i]]));
}

// Waits until `check()` is truthy (polling), or fails with `what`.
export async function eventually(check, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

// ---- the browser ---------------------------------------------------------------------------

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// Every [data-testid] text of the page plus the instant its data is for, read in one go so
// a snapshot arriving meanwhile cannot mix two states.
export async function readPage(page) {
  return page.evaluate(() => {
    const texts = {};
    for (const node of document.querySelectorAll('[data-testid]')) texts[node.dataset.testid] = node.textContent.trim();
    return { asOf: document.querySelector('[data-testid="data-as-of"]').dataset.iso || null, texts };
  });
}

// ---- the page's formats, written independently of web/src/format.js ------------------------

const NONE = '—';
const isNone = (v) => v === null || v === undefined;
const fixed = (v, digits) => Number(v).toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
export const fmt = {
  money: (v) => (isNone(v) ? NONE : `$${fixed(v, 2)}`),
  count: (v) => (isNone(v) ? NONE : Number(v).toLocaleString('en-US', { maximumFractionDigits: 0 })),
  percent: (v) => (isNone(v) ? NONE : `${fixed(Number(v) * 100, 1)}%`),
  minutes: (v) => (isNone(v) ? NONE : `${fixed(v, 1)} min`),
  decimal2: (v) => (isNone(v) ? NONE : fixed(v, 2)),
};

// The texts the page must show for these API answers: {testid: text}.
export function expectedTexts(metrics) {
  const out = {};
  for (const r of metrics.revenue) {
    const id = r.restaurant_id;
    out[`revenue-${id}-revenue`] = fmt.money(r.revenue);
    out[`revenue-${id}-order_count`] = fmt.count(r.order_count);
    out[`revenue-${id}-net_sales`] = fmt.money(r.net_sales);
    out[`revenue-${id}-tax`] = fmt.money(r.tax);
    out[`revenue-${id}-tips`] = fmt.money(r.tips);
    out[`revenue-${id}-name`] = r.restaurant_name;
  }
  for (const r of metrics.funnel) {
    const id = r.restaurant_id;
    for (const f of ['seated', 'ordered', 'completed', 'paid']) out[`funnel-${id}-${f}`] = fmt.count(r[f]);
    for (const f of ['seated_to_ordered', 'ordered_to_completed', 'completed_to_paid']) out[`funnel-${id}-${f}`] = fmt.percent(r[f]);
  }
  metrics['top-items'].forEach((r, i) => {
    out[`top-item-${i}-name`] = r.item_name;
    out[`top-item-${i}-category`] = r.category;
    out[`top-item-${i}-quantity`] = fmt.count(r.quantity);
    out[`top-item-${i}-times_ordered`] = fmt.count(r.times_ordered);
  });
  for (const r of metrics['wait-times']) {
    const id = r.restaurant_id;
    for (const f of ['avg_seat_to_order_min', 'avg_kitchen_min', 'avg_reported_kitchen_min', 'avg_completion_to_payment_min']) {
      out[`wait-${id}-${f}`] = fmt.minutes(r[f]);
    }
    for (const f of ['seat_to_order_samples', 'kitchen_samples', 'completion_to_payment_samples']) out[`wait-${id}-${f}`] = fmt.count(r[f]);
  }
  for (const r of metrics.turnover) {
    const id = r.restaurant_id;
    out[`turnover-${id}-seatings`] = fmt.count(r.seatings);
    out[`turnover-${id}-tables_used`] = fmt.count(r.tables_used);
    out[`turnover-${id}-turns_per_table`] = fmt.decimal2(r.turns_per_table);
    out[`turnover-${id}-avg_table_time_min`] = fmt.minutes(r.avg_table_time_min);
  }
  const dq = Array.isArray(metrics['data-quality']) ? metrics['data-quality'][0] : metrics['data-quality'];
  out['dq-events'] = fmt.count(dq.events);
  out['dq-duplicates'] = fmt.count(dq.duplicates);
  out['dq-late-events'] = fmt.count(dq.late_events);
  out['dq-rejected'] = fmt.count(dq.rejected);
  for (const [reason, n] of Object.entries(dq.rejected_by_reason || {})) out[`dq-reason-${reason}`] = fmt.count(n);
  return out;
}

// Row-level testids the page shows for a panel (to check it shows no extra rows).
export function shownKeys(texts, pattern) {
  return Object.keys(texts).filter((k) => pattern.test(k)).sort();
}

// ---- events near now -----------------------------------------------------------------------

const MENU = [
  { item_id: 'm-burger', item_name: 'Classic Burger', category: 'mains', price: 14.5 },
  { item_id: 'm-pizza', item_name: 'Margherita Pizza', category: 'mains', price: 12.0 },
  { item_id: 'm-salad', item_name: 'Caesar Salad', category: 'starters', price: 9.25 },
  { item_id: 'm-fries', item_name: 'French Fries', category: 'sides', price: 4.75 },
  { item_id: 'm-cola', item_name: 'Cola', category: 'drinks', price: 3.25 },
  { item_id: 'm-beer', item_name: 'Draft Beer', category: 'drinks', price: 6.5 },
  { item_id: 'm-cake', item_name: 'Chocolate Cake', category: 'desserts', price: 7.0 },
];

const cents = (v) => Math.round(v * 100);
const iso = (ms) => new Date(ms).toISOString();

// One guest visit: seated, order placed, completed, paid, at the given instants (ms).
export function visit({ restaurant, name, table, order, seatAt, orderAt, completeAt, payAt, items }) {
  // Some producers write no zone (Python's isoformat()): UTC wall time, read in the default zone.
  const stamp = (at) => (order.length % 2 === 0 ? iso(at) : iso(at).slice(0, -1) + '000');
  const base = (type, at) => ({ event_id: randomUUID(), event_type: type, timestamp: stamp(at), restaurant_id: restaurant, restaurant_name: name, table_id: table });
  const lines = [];
  if (seatAt) lines.push({ ...base('table_seated', seatAt), party_size: 2 + (items.length % 3), server_id: `s-${restaurant}-1` });
  const subtotalCents = items.reduce((sum, it) => sum + it.quantity * cents(it.price), 0);
  if (orderAt) lines.push({ ...base('order_placed', orderAt), server_id: `s-${restaurant}-1`, order_id: order, items, subtotal: subtotalCents / 100 });
  if (completeAt) lines.push({ ...base('order_completed', completeAt), order_id: order, kitchen_time_minutes: Math.round((completeAt - orderAt) / 6000) / 10 });
  if (payAt) {
    const taxCents = Math.round(subtotalCents * 0.09);
    const tipCents = Math.round(subtotalCents * 0.15);
    lines.push({ ...base('payment', payAt), order_id: order, subtotal: subtotalCents / 100, tax: taxCents / 100, tip: tipCents / 100, total_amount: (subtotalCents + taxCents + tipCents) / 100, payment_method: ['credit_card', 'cash', 'mobile_payment'][items.length % 3] });
  }
  return lines.map((l) => JSON.stringify(l));
}

export const RESTAURANTS = [
  { id: 'r-001', name: 'Pulse Downtown' },
  { id: 'r-002', name: 'Pulse Harbor' },
  { id: 'r-003', name: 'Pulse Midtown' },
];

// A busy last hour at three restaurants: every panel has rows, some payments fall in the last
// five minutes, one visit is still at the table; plus a redelivery and two refused lines.
export function initialStream(now = Date.now()) {
  const lines = [];
  RESTAURANTS.forEach((r, ri) => {
    for (let j = 0; j < 6; j += 1) {
      const seatAt = now - 45 * MIN + j * 3 * MIN + ri * 20_000;
      const orderAt = seatAt + (3 + ((j + ri) % 4)) * MIN;
      const completeAt = orderAt + (11 + ((2 * j + ri) % 7)) * MIN;
      const payAt = j < 4 ? now - (j * 55 + ri * 7 + 10) * 1000 : completeAt + 4 * MIN;
      const items = [
        { ...MENU[(j + ri) % MENU.length], quantity: 1 + ((j + 2 * ri) % 3) },
        { ...MENU[4 + (j % 3)], quantity: 1 + (j % 2) },
      ];
      lines.push(...visit({ restaurant: r.id, name: r.name, table: `T${(j % 4) + 1}`, order: `o-${r.id}-${j}`, seatAt, orderAt, completeAt, payAt, items }));
    }
    // A table seated and ordering, not yet served.
    lines.push(...visit({ restaurant: r.id, name: r.name, table: 'T9', order: `o-${r.id}-open`, seatAt: now - 8 * MIN, orderAt: now - 4 * MIN, items: [{ ...MENU[ri], quantity: 2 }] }));
  });
  // The POS sends events in event-time order (a few late ones are the generator's business).
  lines.sort((a, b) => Date.parse(JSON.parse(a).timestamp) - Date.parse(JSON.parse(b).timestamp));
  lines.push(lines[3]);  // a redelivery
  lines.push('{"event_id": "not json');
  lines.push(JSON.stringify({ event_id: randomUUID(), event_type: 'table_cleared', timestamp: iso(now - MIN), restaurant_id: 'r-001', restaurant_name: 'Pulse Downtown' }));
  return lines;
}

export function menuItem(index, quantity) {
  return { ...MENU[index % MENU.length], quantity };
}
