// The live page while the server's database is in trouble, in a real browser against a real
// `tablepulse serve`: a database outage (injected with TABLEPULSE_FAULTS, src/common/fault.h)
// raises the outage banner, which goes away by itself when the database is back; a part of the
// data directory that cannot be read (serve --allow-broken-parts) raises the broken-parts banner
// naming its table.
import assert from 'node:assert/strict';
import { readdirSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  ARTIFACTS, eventually, getJson, launchBrowser, menuItem, metricSample, readPage, runTablepulse, startServe, visit,
} from './lib.mjs';

const MIN = 60_000;
const OUTAGE_SECONDS = 8;

function watchErrors(page, errors) {
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
}

// The page's clock format (HH:MM:SS in the viewer's zone), written independently.
function hhmmss(ms, timeZone) {
  const parts = new Intl.DateTimeFormat('en-GB', {
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZone,
  }).formatToParts(new Date(ms));
  const get = (type) => parts.find((p) => p.type === type).value;
  return `${get('hour')}:${get('minute')}:${get('second')}`;
}

describe('database outage', () => {
  const timezoneId = 'Asia/Kolkata';  // not UTC: the banner's time is the viewer's
  let serve;
  let browser;
  let page;
  const errors = [];

  before(async () => {
    // Every insert fails as unavailable for OUTAGE_SECONDS from the first one, which the events
    // appended by the test make: the page is open and live before the outage starts.
    serve = await startServe({
      name: 'outage', env: { TABLEPULSE_FAULTS: `clickhouse_insert_unavailable=${OUTAGE_SECONDS}s` },
    });
    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: { width: 1600, height: 900 }, timezoneId });
    page = await context.newPage();
    watchErrors(page, errors);
  });

  after(async () => {
    await browser?.close();
    const result = await serve?.stop();
    assert.equal(result?.code, 0, 'serve exits cleanly on SIGTERM');
  });

  it('shows the outage while it lasts and clears it by itself when the database is back', async () => {
    await page.goto(serve.url);
    await page.waitForSelector('[data-testid="status"][data-state="live"]', { timeout: 20_000 });
    assert.equal(await page.isHidden('[data-testid="database-outage"]'), true, 'no outage before it');
    await page.evaluate(() => { window.__sameDocument = true; });

    const now = Date.now();
    serve.append(visit({
      restaurant: 'r-001', name: 'Pulse Downtown', table: 'T1', order: 'o-outage', seatAt: now - 20 * MIN,
      orderAt: now - 15 * MIN, completeAt: now - 5 * MIN, payAt: now - MIN, items: [menuItem(1, 2)],
    }));

    const banner = '[data-testid="database-outage"]';
    try {
      await page.waitForSelector(banner, { state: 'visible', timeout: 20_000 });
    } catch (error) {
      throw new Error(`${error.message}\nserve's log ends with:\n${serve.logTail()}`);
    }
    assert.equal(await page.getAttribute(banner, 'role'), 'status');
    assert.equal(await page.getAttribute('[data-testid="status"]', 'data-state'), 'outage');
    // The instant is the one /metrics gives, in the viewer's zone; the retries are counted.
    const metrics = await (await fetch(new URL('/metrics', serve.url))).text();
    const since = metricSample(metrics, 'tablepulse_database_unavailable_since_timestamp_seconds');
    assert.ok(since > 1.7e9, `an outage on /metrics: ${since}`);
    const text = await page.textContent(banner);
    const match = text.trim().match(/^Database unavailable since (\d\d:\d\d:\d\d) · (\d+) retr(?:y|ies) · numbers may be stale$/);
    assert.ok(match, `banner text: ${JSON.stringify(text)}`);
    assert.equal(match[1], hhmmss(since * 1000, timezoneId));
    assert.ok(Number(match[2]) >= 1, 'at least one retry');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-outage.png') });
    // The count goes up while the consumer waits (backoff 0.2 s doubling).
    await eventually(async () => {
      const later = (await page.textContent(banner)).match(/· (\d+) retr/);
      return later && Number(later[1]) > Number(match[2]);
    }, 'the retry count to grow', OUTAGE_SECONDS * 1000);

    // Back: the banner goes, the page is live again and the events are in, without a reload.
    await page.waitForSelector(banner, { state: 'hidden', timeout: (OUTAGE_SECONDS + 20) * 1000 });
    assert.equal(await page.getAttribute('[data-testid="status"]', 'data-state'), 'live');
    await eventually(async () => (await readPage(page)).texts['dq-events'] === '4', 'the 4 events on the page');
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload happened');
    const health = await getJson(serve.url, '/healthz');
    assert.equal(health.status, 'ok');
  });

  it('logged no script errors', () => {
    assert.deepEqual(errors, []);
  });
});

describe('broken parts', () => {
  let serve;
  let browser;
  let partName;
  const errors = [];

  before(async () => {
    serve = await startServe({
      name: 'broken-parts',
      args: ['--allow-broken-parts'],
      // As tests/unit/hardening_test.cpp does: 3000 events in three inserts, then the largest
      // column file of the first events part cut in half.
      async prepare(db) {
        const input = `${db}-events.jsonl`;
        await runTablepulse(['generate', '--events', '3000', '--seed', '5', '-o', input]);
        await runTablepulse(['ingest', '-q', '--batch-rows', '1000', '--db', db, input]);
        const out = await runTablepulse(['sql', '--db', db, "SELECT name, path FROM system.parts WHERE "
          + "database = currentDatabase() AND table = 'events' AND active ORDER BY name"]);
        const part = JSON.parse(out.split('\n')[0]);
        partName = part.name;
        const [largest] = readdirSync(part.path).filter((f) => f.endsWith('.bin'))
          .map((f) => join(part.path, f)).sort((a, b) => statSync(b).size - statSync(a).size);
        truncateSync(largest, Math.floor(statSync(largest).size / 2));
      },
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await serve?.stop();
  });

  it('shows the broken part with its table', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    watchErrors(page, errors);
    await page.goto(serve.url);
    const banner = '[data-testid="data-warning"]';
    await page.waitForSelector(banner, { state: 'visible', timeout: 20_000 });
    assert.equal(await page.getAttribute(banner, 'role'), 'alert');
    const text = await page.textContent(banner);
    // "events/<name>", the name as the engine gives it (it may add a prefix to the part's).
    assert.match(text, /\(events\/[^,)]+\)/, `banner names a part of events: ${text}`);
    assert.ok(text.includes(partName), `banner names ${partName}: ${text}`);
    assert.match(text, /1 part\(s\) of the database could not be read/);
    // The rest of the data is served: the page is live with numbers.
    await page.waitForSelector('[data-testid="status"][data-state="live"]', { timeout: 20_000 });
    await context.close();
  });

  it('logged no script errors', () => {
    assert.deepEqual(errors, []);
  });
});
