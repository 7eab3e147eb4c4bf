// The live page in a real browser against a real `tablepulse serve` (embedded engine, a
// followed events file): every panel shows the API's numbers, appended events show up without
// a reload, the restaurant filter and the past-instant replay agree with the API, a stopped
// stream raises the warning, and the token protects the page. Saves artifacts/dashboard.png.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  ARTIFACTS, RESTAURANTS, allMetrics, eventually, expectedTexts, getJson, initialStream,
  launchBrowser, menuItem, readPage, shownKeys, startServe, visit,
} from './lib.mjs';

const MIN = 60_000;
const INITIAL_EVENTS = RESTAURANTS.length * (6 * 4 + 2);  // valid events in initialStream()

// Compares every number the page shows with the API at the page's own as_of. A retry covers
// the one legitimate difference: an event ingested between the snapshot and the API call.
async function assertPageMatchesApi(page, base, { restaurantId, asOf: wantedAsOf } = {}) {
  let diffs = [];
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const { asOf, texts } = await readPage(page);
    assert.ok(asOf, 'the page shows the instant of its data');
    if (wantedAsOf) assert.equal(asOf, wantedAsOf);
    const metrics = await allMetrics(base, asOf, restaurantId);
    const expected = expectedTexts(metrics);
    diffs = Object.entries(expected)
      .filter(([testid, text]) => texts[testid] !== text)
      .map(([testid, text]) => `${testid}: page ${JSON.stringify(texts[testid])}, API ${JSON.stringify(text)}`);
    // No extra rows either: the page's row-level ids are exactly the API's.
    for (const pattern of [/^revenue-.+-revenue$/, /^funnel-.+-seated$/, /^top-item-\d+-quantity$/,
      /^wait-.+-avg_kitchen_min$/, /^turnover-.+-seatings$/, /^dq-reason-/]) {
      const onPage = shownKeys(texts, pattern);
      const inApi = shownKeys(expected, pattern);
      if (JSON.stringify(onPage) !== JSON.stringify(inApi)) diffs.push(`${pattern}: page ${onPage} vs API ${inApi}`);
    }
    if (diffs.length === 0) return { asOf, metrics, texts };
    await new Promise((r) => setTimeout(r, 1000));
  }
  assert.fail(`page and API disagree:\n${diffs.join('\n')}`);
}

function watchErrors(page, errors) {
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
}

describe('live dashboard', () => {
  let serve;
  let browser;
  let context;
  let page;
  const errors = [];

  before(async () => {
    serve = await startServe({ lines: initialStream(), name: 'dashboard' });
    try {
      await eventually(async () => {
        const dq = await getJson(serve.url, '/api/v1/data-quality');
        return dq[0].events === INITIAL_EVENTS;
      }, `${INITIAL_EVENTS} events ingested`);
    } catch (error) {
      throw new Error(`${error.message}\nserve's log ends with:\n${serve.logTail()}`);
    }
    browser = await launchBrowser();
    // A zone other than UTC: the past-instant picker works in local time.
    context = await browser.newContext({
      viewport: { width: 1920, height: 1080 }, colorScheme: 'dark', timezoneId: 'America/New_York',
    });
    page = await context.newPage();
    watchErrors(page, errors);
  });

  after(async () => {
    await browser?.close();
    const result = await serve?.stop();
    assert.equal(result?.code, 0, 'serve exits cleanly on SIGTERM');
  });

  it('serves the page, its assets and the API from one binary', async () => {
    const response = await page.goto(serve.url);
    assert.equal(response.status(), 200);
    assert.match(response.headers()['content-type'], /^text\/html/);
    assert.equal(await page.title(), 'TablePulse · Live operations');
    await page.waitForSelector('[data-testid="status"][data-state="live"]', { timeout: 20_000 });
    await page.waitForSelector('[data-testid="revenue-r-001-revenue"]');
    const chart = await fetch(new URL('/assets/chart.umd.min.js', serve.url));
    assert.equal(chart.status, 200);
    assert.match(chart.headers.get('content-type'), /^text\/javascript/);
  });

  it('shows the API numbers in every panel', async () => {
    const { metrics, texts } = await assertPageMatchesApi(page, serve.url);
    // Every panel has rows (the stream was made so), and the as-of is near now.
    for (const name of ['revenue', 'funnel', 'top-items', 'wait-times', 'turnover']) {
      assert.ok(metrics[name].length > 0, `${name} has rows`);
    }
    assert.equal(texts['dq-events'], String(INITIAL_EVENTS));
    assert.equal(texts['dq-rejected'], '2');
    assert.equal(texts['dq-duplicates'], '1');
    // Half the visits are written without a zone (as Python's isoformat() writes them).
    const [dq] = metrics['data-quality'];
    assert.ok(dq.naive_timestamps > 0, 'the stream has zone-less timestamps');
    assert.equal(texts['dq-naive_timestamps'], String(dq.naive_timestamps));
    assert.match(texts['revenue-total'], /^\$[\d,]+\.\d\d$/);
    assert.equal(await page.isHidden('[data-testid="stale-warning"]'), true);
    const asOf = Date.parse((await readPage(page)).asOf);
    assert.ok(Math.abs(Date.now() - asOf) < 10_000, 'live data is for now');
  });

  it('saves a screenshot of the wall-screen view', async () => {
    await page.waitForTimeout(1500);  // chart animations settle
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png') });
    // A laptop in light mode, in a context of its own (its own page in front, so the charts'
    // animation frames run).
    const laptopContext = await browser.newContext({ viewport: { width: 1366, height: 768 }, colorScheme: 'light' });
    const laptop = await laptopContext.newPage();
    watchErrors(laptop, errors);
    await laptop.goto(serve.url);
    await laptop.bringToFront();
    await laptop.waitForSelector('[data-testid="revenue-r-001-revenue"]');
    await laptop.waitForTimeout(1500);
    await laptop.screenshot({ path: join(ARTIFACTS, 'dashboard-laptop-light.png'), fullPage: true });
    await laptopContext.close();
    await page.bringToFront();
  });

  it('updates without a reload when events arrive', async () => {
    await page.evaluate(() => { window.__sameDocument = true; });
    const before = (await readPage(page)).texts;
    const now = Date.now();
    serve.append(visit({
      restaurant: 'r-004', name: 'Pulse Riverside', table: 'T1', order: 'o-r-004-live',
      seatAt: now - 3 * MIN, orderAt: now - 150_000, completeAt: now - 60_000, payAt: now - 5_000,
      items: [menuItem(0, 3), menuItem(5, 4)],
    }));
    await page.waitForSelector('[data-testid="revenue-r-004-revenue"]', { timeout: 20_000 });
    const after = await eventually(async () => {
      const { texts } = await readPage(page);
      return texts['dq-events'] === String(INITIAL_EVENTS + 4) && texts;
    }, 'the new events counted on the page');
    assert.notEqual(after['revenue-total'], before['revenue-total']);
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload happened');
    await assertPageMatchesApi(page, serve.url);
  });

  it('filters by restaurant', async () => {
    await eventually(async () => (await page.locator('[data-testid="restaurant-filter"] option[value="r-002"]').count()) === 1,
      'r-002 in the filter');
    await page.selectOption('[data-testid="restaurant-filter"]', 'r-002');
    await eventually(async () => {
      const { texts } = await readPage(page);
      const rows = shownKeys(texts, /^revenue-.+-revenue$/);
      return rows.length === 1 && rows[0] === 'revenue-r-002-revenue';
    }, 'only r-002 in the revenue panel');
    await assertPageMatchesApi(page, serve.url, { restaurantId: 'r-002' });
    await page.selectOption('[data-testid="restaurant-filter"]', '');
    await page.waitForSelector('[data-testid="revenue-r-001-revenue"]');
  });

  it('replays a past instant with the API numbers for that instant', async () => {
    const pastMs = Math.floor((Date.now() - 20 * MIN) / 1000) * 1000;
    const pastIso = new Date(pastMs).toISOString();
    await page.click('[data-testid="mode-past"]');
    // The picker takes local time (America/New_York here); the page converts it to UTC.
    const local = await page.evaluate((ms) => {
      const d = new Date(ms);
      const p = (n) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    }, pastMs);
    await page.fill('[data-testid="as-of-input"]', local);
    await page.click('[data-testid="as-of-apply"]');
    await page.waitForFunction((iso) => document.querySelector('[data-testid="data-as-of"]').dataset.iso === iso
      && document.querySelector('[data-testid="status"]').dataset.state === 'past', pastIso);
    const { metrics, texts } = await assertPageMatchesApi(page, serve.url, { asOf: pastIso });
    // 20 minutes ago the live visit of r-004 had not happened yet, and fewer payments were in.
    assert.equal(texts['revenue-r-004-revenue'], undefined);
    assert.equal(texts['ingest-rate'], '—');
    assert.ok(metrics.funnel.length > 0);
    // Past mode does not drift: the page still shows that instant several seconds later.
    await page.waitForTimeout(3000);
    assert.equal((await readPage(page)).asOf, pastIso);
    await page.click('[data-testid="mode-live"]');
    await page.waitForSelector('[data-testid="status"][data-state="live"]', { timeout: 20_000 });
    await page.waitForSelector('[data-testid="revenue-r-004-revenue"]');
  });

  it('warns when live updates stop and recovers when they resume', async () => {
    assert.equal(await page.isHidden('[data-testid="stale-warning"]'), true);
    serve.pause();
    try {
      await page.waitForSelector('[data-testid="stale-warning"]', { state: 'visible', timeout: 15_000 });
      assert.match(await page.textContent('[data-testid="stale-warning"]'), /stopped/);
      assert.equal(await page.getAttribute('[data-testid="status"]', 'data-state'), 'stale');
    } finally {
      serve.resume();
    }
    await page.waitForSelector('[data-testid="stale-warning"]', { state: 'hidden', timeout: 20_000 });
    assert.equal(await page.getAttribute('[data-testid="status"]', 'data-state'), 'live');
  });

  it('logged no script errors', () => {
    assert.deepEqual(errors, []);
  });
});

describe('token', () => {
  const token = 'e2e-secret-token';
  let serve;
  let browser;

  before(async () => {
    const now = Date.now();
    serve = await startServe({
      name: 'token',
      token,
      lines: visit({
        restaurant: 'r-001', name: 'Pulse Downtown', table: 'T1', order: 'o-1', seatAt: now - 20 * MIN,
        orderAt: now - 15 * MIN, completeAt: now - 5 * MIN, payAt: now - MIN, items: [menuItem(1, 2)],
      }),
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await serve?.stop();
  });

  it('refuses requests without the token', async () => {
    for (const path of ['/', '/api/v1/revenue', '/api/v1/stream', '/metrics']) {
      const response = await fetch(new URL(path, serve.url));
      assert.equal(response.status, 401, path);
      assert.equal((await response.json()).error.code, 'unauthorized');
    }
    const wrong = await fetch(new URL('/api/v1/revenue', serve.url), { headers: { Authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    const health = await fetch(new URL('/healthz', serve.url));
    assert.equal(health.status, 200);
    const api = await fetch(new URL('/api/v1/revenue', serve.url), { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(api.status, 200);
  });

  it('serves the page with ?token= and keeps working from the cookie', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const requested = [];
    page.on('request', (request) => requested.push(request.url()));
    const denied = await page.goto(serve.url);
    assert.equal(denied.status(), 401);
    const response = await page.goto(`${serve.url}?token=${token}`);
    assert.equal(response.status(), 200);
    await page.waitForSelector('[data-testid="status"][data-state="live"]', { timeout: 20_000 });
    await eventually(async () => (await readPage(page)).texts['revenue-r-001-revenue'] !== undefined, 'revenue with the token');
    assert.ok(!page.url().includes('token='), 'the token is removed from the address bar');
    const streams = requested.filter((url) => url.includes('/api/v1/stream'));
    assert.ok(streams.length > 0, 'the page opened the live stream');
    assert.ok(streams.every((url) => !url.includes('token=')), `the stream relies on the cookie: ${streams}`);
    const cookies = await context.cookies();
    assert.ok(cookies.some((c) => c.name === 'tp_token' && c.value === token));
    const metrics = await allMetrics(serve.url, (await readPage(page)).asOf, undefined, token);
    assert.equal((await readPage(page)).texts['revenue-r-001-revenue'], expectedTexts(metrics)['revenue-r-001-revenue']);
    const again = await page.reload();
    assert.equal(again.status(), 200);
    await page.waitForSelector('[data-testid="status"][data-state="live"]', { timeout: 20_000 });
    await context.close();
  });
});
