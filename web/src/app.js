// The TablePulse live page: in Live mode it follows the server's snapshot stream (Server-Sent
// Events, one shared snapshot per tick); in Past mode it asks the six metric endpoints for one
// instant, the numbers `tablepulse query --as-of` gives. No framework: the panels are rebuilt
// from each snapshot, which is small.
import * as fmt from './format.js';

const STALE_AFTER_MS = 6000;       // the server sends a snapshot at least every 2 s
const RESTAURANTS_EVERY_MS = 30000;  // new restaurants appear in the filter this often
const RATE_POINTS = 90;            // ingest-rate history kept for the sparkline

const $ = (selector) => document.querySelector(selector);

const state = {
  mode: 'live',            // 'live' or 'past'
  restaurant: '',          // '' = all restaurants
  pastIso: null,           // the instant shown in past mode
  source: null,            // the EventSource of live mode
  lastSnapshotAt: 0,       // Date.now() of the last snapshot received
  streamError: false,      // the EventSource reported an error since its last snapshot
  dbError: null,           // the last snapshot's error ({code, message}), if it had one
  token: null,             // bearer token, when the server asks for one
  rateHistory: [],         // [{t, v}] events/s for the sparkline
  charts: {},
  pastRequest: 0,          // guards against an older replay answer landing after a newer one
};

// ---- authentication ----------------------------------------------------------------------

// A token given in the address (?token=…) is kept in a cookie, which EventSource and page
// reloads send by themselves, and removed from the address bar so it is not shared by copying.
function setUpToken() {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    document.cookie = `tp_token=${encodeURIComponent(fromUrl)}; path=/; SameSite=Strict`;
    url.searchParams.delete('token');
    window.history.replaceState(null, '', url.pathname + url.search + url.hash);
    return fromUrl;
  }
  const match = document.cookie.match(/(?:^|;\s*)tp_token=([^;]*)/);
  return match ? decodeURIComponent(match[1]) : null;
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') query.set(key, value);
  }
  const headers = { Accept: 'application/json' };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const response = await fetch(`${path}${query.toString() ? `?${query}` : ''}`, {
    headers, credentials: 'same-origin', cache: 'no-store',
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = body && body.error ? body.error : {};
    throw new ApiError(response.status, error.code || 'http_error',
                       error.message || `HTTP ${response.status}`);
  }
  return body;
}

// ---- small DOM helpers -------------------------------------------------------------------

// el('td', {class: 'num', testid: 'x'}, 'text', childNode…)
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'testid') node.dataset.testid = value;
    else if (key === 'style') node.setAttribute('style', value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// A value cell: the formatted number, greyed when missing.
function value(text, testid, extraClass = '') {
  const missing = text === fmt.NONE;
  return el('span', { class: `${extraClass}${missing ? ' null' : ''}`.trim() || null, testid }, text);
}

function minibar(fraction) {
  const width = Math.max(0, Math.min(1, Number(fraction) || 0)) * 100;
  return el('span', { class: 'minibar', 'aria-hidden': 'true' },
            el('span', { style: `width:${width.toFixed(1)}%` }));
}

// The restaurant's name; its id is in the tooltip (names are what people read on a wall).
function restaurantCell(row, testid) {
  return el('td', { class: 'name', title: `${row.restaurant_name} (${row.restaurant_id})` },
            el('span', { testid }, row.restaurant_name || row.restaurant_id));
}

// Replaces a card's table body; shows the card's "empty" line when there are no rows.
function fillTable(cardId, rows, makeRow) {
  const card = document.getElementById(cardId);
  const tbody = card.querySelector('tbody');
  tbody.replaceChildren(...rows.map(makeRow));
  card.querySelector('.table-wrap').hidden = rows.length === 0;
  card.querySelector('.empty').hidden = rows.length !== 0;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// ---- panels ------------------------------------------------------------------------------

function renderRevenue(rows) {
  const cents = rows.reduce((sum, r) => sum + Math.round(Number(r.revenue) * 100), 0);
  const orders = rows.reduce((sum, r) => sum + Number(r.order_count), 0);
  $('[data-testid="revenue-total"]').textContent = fmt.money(cents / 100);
  $('[data-testid="revenue-orders-total"]').textContent = fmt.count(orders);

  fillTable('card-revenue', rows, (r) => {
    const id = r.restaurant_id;
    return el('tr', { 'data-row': id },
              restaurantCell(r, `revenue-${id}-name`),
              el('td', { class: 'num' }, value(fmt.money(r.revenue), `revenue-${id}-revenue`, 'strong')),
              el('td', { class: 'num' }, value(fmt.count(r.order_count), `revenue-${id}-order_count`)),
              el('td', { class: 'num muted' }, value(fmt.money(r.net_sales), `revenue-${id}-net_sales`)),
              el('td', { class: 'num muted' }, value(fmt.money(r.tax), `revenue-${id}-tax`)),
              el('td', { class: 'num muted' }, value(fmt.money(r.tips), `revenue-${id}-tips`)));
  });
  updateRevenueChart(rows);
}

// Draws "$1,234.56 · 12 orders" at the end of each revenue bar.
const barLabels = {
  id: 'tpBarLabels',
  afterDatasetsDraw(chart) {
    const { ctx } = chart;
    const meta = chart.getDatasetMeta(0);
    const orders = chart.data.orderCounts || [];
    ctx.save();
    ctx.font = `600 ${Math.round(parseFloat(getComputedStyle(document.documentElement).fontSize) * 0.8)}px ${cssVar('--font')}`;
    ctx.fillStyle = cssVar('--text');
    ctx.textBaseline = 'middle';
    meta.data.forEach((bar, i) => {
      const n = orders[i] ?? 0;
      const label = `${fmt.money(chart.data.datasets[0].data[i])} · ${fmt.count(n)} order${n === 1 ? '' : 's'}`;
      ctx.fillText(label, bar.x + 8, bar.y);
    });
    ctx.restore();
  },
};

function updateRevenueChart(rows) {
  const box = $('#revenue-chart-box');
  box.hidden = rows.length === 0;
  if (!window.Chart || rows.length === 0) return;
  const rem = parseFloat(getComputedStyle(document.documentElement).fontSize);
  box.style.height = `${Math.round(rows.length * rem * 2 + rem)}px`;
  let chart = state.charts.revenue;
  if (!chart) {
    chart = new window.Chart($('#revenue-chart'), {
      type: 'bar',
      data: { labels: [], datasets: [{ data: [], borderRadius: 5, maxBarThickness: 22 }] },
      options: {
        indexAxis: 'y',
        responsive: true,
        maintainAspectRatio: false,
        // No animation: a wall screen in a background tab gets few animation frames, and a
        // bar caught mid-animation would show the wrong length.
        animation: false,
        layout: { padding: { right: rem * 10 } },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (ctx) => fmt.money(ctx.raw) } },
        },
        scales: {
          x: { display: false, beginAtZero: true, grid: { display: false } },
          y: {
            grid: { display: false },
            border: { display: false },
            ticks: { color: cssVar('--text-muted'), font: { family: cssVar('--font'), size: rem * 0.8 } },
          },
        },
      },
      plugins: [barLabels],
    });
    state.charts.revenue = chart;
  }
  chart.data.labels = rows.map((r) => r.restaurant_name || r.restaurant_id);
  chart.data.orderCounts = rows.map((r) => Number(r.order_count));
  chart.data.datasets[0].data = rows.map((r) => Number(r.revenue));
  chart.data.datasets[0].backgroundColor = cssVar('--accent');
  chart.update();
}

function stageCell(id, countField, count, rateField, ratio) {
  const stage = el('span', { class: 'stage' },
                   value(fmt.count(count), `funnel-${id}-${countField}`, 'stage-count'));
  if (rateField) {
    stage.append(el('span', { class: 'rate', title: 'conversion from the previous stage' },
                    minibar(ratio), value(fmt.percent(ratio), `funnel-${id}-${rateField}`)));
  }
  return el('td', { class: 'num' }, stage);
}

function renderFunnel(rows) {
  fillTable('card-funnel', rows, (r) => {
    const id = r.restaurant_id;
    return el('tr', { 'data-row': id },
              restaurantCell(r, `funnel-${id}-name`),
              stageCell(id, 'seated', r.seated),
              stageCell(id, 'ordered', r.ordered, 'seated_to_ordered', r.seated_to_ordered),
              stageCell(id, 'completed', r.completed, 'ordered_to_completed', r.ordered_to_completed),
              stageCell(id, 'paid', r.paid, 'completed_to_paid', r.completed_to_paid));
  });
}

function renderTopItems(rows) {
  const max = rows.reduce((m, r) => Math.max(m, Number(r.quantity)), 0) || 1;
  fillTable('card-top-items', rows, (r, i) => el('tr', { 'data-row': r.item_id },
    el('td', { class: 'rank' }, i + 1),
    el('td', { class: 'name', title: r.item_id }, value(r.item_name, `top-item-${i}-name`)),
    el('td', {}, el('span', { class: 'pill', testid: `top-item-${i}-category` }, r.category)),
    el('td', { class: 'num' }, el('span', { class: 'qty' }, minibar(Number(r.quantity) / max),
                                  value(fmt.count(r.quantity), `top-item-${i}-quantity`, 'strong'))),
    el('td', { class: 'num' }, value(fmt.count(r.times_ordered), `top-item-${i}-times_ordered`))));
}

// An average in minutes with its sample count under it.
function waitCell(id, avgField, avg, samplesField, samples) {
  const cell = el('td', { class: 'num' }, value(fmt.minutes(avg), `wait-${id}-${avgField}`, 'strong'));
  if (samplesField) {
    cell.append(el('span', { class: 'sub' }, 'n = ',
                   el('span', { testid: `wait-${id}-${samplesField}` }, fmt.count(samples))));
  }
  return cell;
}

function renderWaitTimes(rows) {
  fillTable('card-wait-times', rows, (r) => {
    const id = r.restaurant_id;
    return el('tr', { 'data-row': id },
              restaurantCell(r, `wait-${id}-name`),
              waitCell(id, 'avg_seat_to_order_min', r.avg_seat_to_order_min,
                       'seat_to_order_samples', r.seat_to_order_samples),
              waitCell(id, 'avg_kitchen_min', r.avg_kitchen_min, 'kitchen_samples', r.kitchen_samples),
              waitCell(id, 'avg_reported_kitchen_min', r.avg_reported_kitchen_min),
              waitCell(id, 'avg_completion_to_payment_min', r.avg_completion_to_payment_min,
                       'completion_to_payment_samples', r.completion_to_payment_samples));
  });
}

function renderTurnover(rows) {
  fillTable('card-turnover', rows, (r) => {
    const id = r.restaurant_id;
    return el('tr', { 'data-row': id },
              restaurantCell(r, `turnover-${id}-name`),
              el('td', { class: 'num' }, value(fmt.count(r.seatings), `turnover-${id}-seatings`, 'strong')),
              el('td', { class: 'num' }, value(fmt.count(r.tables_used), `turnover-${id}-tables_used`)),
              el('td', { class: 'num' }, value(fmt.decimal2(r.turns_per_table), `turnover-${id}-turns_per_table`)),
              el('td', { class: 'num' }, value(fmt.minutes(r.avg_table_time_min), `turnover-${id}-avg_table_time_min`)));
  });
}

// data-quality is one object (possibly wrapped in a one-element array); its reject counts
// by reason may be an object under any of the names below.
// The data-quality API's one row, under the names the server sends (the counter registry,
// src/ingest/counters.h): events, duplicates, rejected, rejected_by_reason, late_events, …
function dataQualityRow(panel) {
  const row = Array.isArray(panel) ? panel[0] || {} : panel || {};
  return { ...row, rejected_by_reason: row.rejected_by_reason || {} };
}

function listItems(list, entries, emptyText) {
  if (entries.length === 0) {
    list.replaceChildren(el('li', { class: 'none' }, emptyText));
    return;
  }
  list.replaceChildren(...entries.map(([label, n, testid]) => el('li', {},
    el('code', {}, label), el('span', { class: 'count', testid }, fmt.count(n)))));
}

function renderDataQuality(panel, ingest) {
  const dq = dataQualityRow(panel);
  const set = (testid, text, level) => {
    const node = $(`[data-testid="${testid}"]`);
    node.textContent = text;
    node.classList.toggle('warn', level === 'warn');
    node.classList.toggle('bad', level === 'bad');
  };
  set('dq-events', fmt.count(dq.events));
  set('dq-duplicates', fmt.count(dq.duplicates));
  set('dq-late-events', fmt.count(dq.late_events), dq.late_events > 0 ? 'warn' : null);
  set('dq-rejected', fmt.count(dq.rejected), dq.rejected > 0 ? 'bad' : null);

  const reasons = Object.entries(dq.rejected_by_reason)
    .sort((a, b) => Number(b[1]) - Number(a[1]) || a[0].localeCompare(b[0]))
    .map(([reason, n]) => [reason, n, `dq-reason-${reason}`]);
  listItems($('#reject-reasons'), reasons, 'none');
  const issues = [
    ['subtotal_mismatch', dq.subtotal_mismatch],
    ['total_mismatch', dq.total_mismatch],
    ['conflicting_duplicates', dq.conflicting_duplicates],
    // Timestamps without a zone, read in the consumer's --default-timezone: worth telling the
    // producers about, never refused.
    ['naive_timestamps', dq.naive_timestamps],
  ].filter(([, n]) => n !== undefined && n !== null).map(([k, n]) => [k, n, `dq-${k}`]);
  listItems($('#dq-issues'), issues, 'none');

  const live = ingest !== null && ingest !== undefined;
  $('#rate-chart-box').hidden = !live;
  if (!live) {
    set('ingest-rate', fmt.NONE);
    set('ingest-lag', fmt.NONE);
    $('#ingest-state').textContent = 'totals up to the chosen instant';
    return;
  }
  set('ingest-rate', fmt.rate(ingest.events_per_sec));
  set('ingest-lag', fmt.duration(ingest.lag_ms), ingest.lag_ms > 5000 ? 'warn' : null);
  let ingestState = 'no consumer in this process · totals since the database was created';
  if (ingest.running) ingestState = `consumer running · last commit ${fmt.clock(ingest.last_commit_at)}`;
  else if (ingest.error) ingestState = `consumer stopped: ${ingest.error}`;
  else if (ingest.lines > 0) ingestState = 'consumer finished · totals since the database was created';
  // A Kafka source: the messages not checkpointed yet, over the partitions this process owns.
  const kafka = ingest.kafka;
  if (kafka) {
    ingestState += ` · Kafka ${kafka.topic}: ${fmt.count(kafka.lag_messages)} messages behind` +
      ` over ${kafka.partitions} partitions${kafka.paused ? ' (paused: the database falls behind)' : ''}`;
  }
  $('#ingest-state').textContent = ingestState;
  $('#ingest-state').classList.toggle('bad', Boolean(ingest.error));
  updateRateChart(ingest.events_per_sec);
}

function updateRateChart(eventsPerSec) {
  state.rateHistory.push(Number(eventsPerSec) || 0);
  if (state.rateHistory.length > RATE_POINTS) state.rateHistory.shift();
  if (!window.Chart) return;
  let chart = state.charts.rate;
  if (!chart) {
    const accent = cssVar('--accent-2');
    chart = new window.Chart($('#rate-chart'), {
      type: 'line',
      data: { labels: [], datasets: [{
        data: [], borderColor: accent, borderWidth: 2, pointRadius: 0, tension: 0.3, clip: false,
        fill: true, backgroundColor: `${accent}22`,
      }] },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: false }, tooltip: { enabled: false } },
        layout: { padding: { top: 4, bottom: 2 } },
        scales: { x: { display: false }, y: { display: false, min: 0, suggestedMax: 5 } },
      },
    });
    state.charts.rate = chart;
  }
  chart.data.labels = state.rateHistory.map((_, i) => i);
  chart.data.datasets[0].data = [...state.rateHistory];
  chart.update();
}

// Shows one snapshot: {as_of, generated_at, panels: {...}, ingest: {...} | null}.
function render(snapshot) {
  const panels = snapshot.panels || {};
  renderRevenue(panels.revenue || []);
  renderFunnel(panels.funnel || []);
  renderTopItems(panels['top-items'] || []);
  renderWaitTimes(panels['wait-times'] || []);
  renderTurnover(panels.turnover || []);
  renderDataQuality(panels['data-quality'], snapshot.ingest);
  const asOf = $('#data-as-of');
  asOf.textContent = fmt.clock(snapshot.as_of);
  asOf.dateTime = snapshot.as_of;
  asOf.dataset.iso = snapshot.as_of;
  asOf.title = snapshot.as_of;
  $('#footer-generated').textContent = snapshot.generated_at
    ? `computed ${fmt.clock(snapshot.generated_at)}` : '';
}

// ---- status and the stale warning --------------------------------------------------------

function setStatus(stateName, text) {
  const pill = $('#status');
  pill.dataset.state = stateName;
  pill.textContent = text;
}

function showWarning(text) {
  $('#stale-text').textContent = text;
  $('#stale-warning').hidden = false;
}

function hideWarning() {
  $('#stale-warning').hidden = true;
}

// Parts of the database the engine could not read (serve --allow-broken-parts): every number
// misses their rows, so the page says so for as long as the server reports them.
function showBrokenParts(parts) {
  const broken = Array.isArray(parts) ? parts : [];
  $('#data-warning').hidden = broken.length === 0;
  if (broken.length === 0) return;
  const names = broken.map((part) => `${part.table}/${part.name}`).join(', ');
  $('#data-warning-text').textContent =
    `${broken.length} part(s) of the database could not be read and are left out (${names}): ` +
    'the numbers below miss their rows. Restore the data directory from a backup.';
}

// The database outage the server's consumer is waiting out (the snapshot's ingest object:
// database_unavailable_since, an ISO instant or null, and database_retries). The snapshots go on
// arriving meanwhile, but no new event is stored, so the page says the numbers may be stale
// until a snapshot without the outage clears it. Returns whether an outage is shown.
function showDatabaseOutage(ingest) {
  const since = ingest ? ingest.database_unavailable_since : null;
  $('#outage-warning').hidden = !since;
  if (!since) return false;
  const retries = Number(ingest.database_retries) || 0;
  const text = `Database unavailable since ${fmt.clock(since)} · ` +
               `${fmt.count(retries)} ${retries === 1 ? 'retry' : 'retries'} · numbers may be stale`;
  // Only a changed text is written: the banner is a live region, read out on every change.
  if ($('#outage-text').textContent !== text) $('#outage-text').textContent = text;
  return true;
}

// Runs every second in live mode: warns when snapshots stop arriving.
function checkFreshness() {
  if (state.mode !== 'live' || state.dbError) return;
  const age = Date.now() - state.lastSnapshotAt;
  if (state.lastSnapshotAt === 0) {
    if (state.streamError) {
      showWarning('Cannot reach the live stream — retrying…');
      setStatus('error', 'Offline');
    }
    return;
  }
  if (age > STALE_AFTER_MS || state.streamError) {
    const seconds = Math.round(age / 1000);
    showWarning(`Live updates stopped: the last update arrived ${seconds} s ago. ` +
                'The numbers below may be out of date; reconnecting…');
    setStatus('stale', 'Stale');
  }
}

// ---- live mode ---------------------------------------------------------------------------

function closeStream() {
  if (state.source) {
    state.source.close();
    state.source = null;
  }
}

function openStream() {
  closeStream();
  const params = new URLSearchParams();
  if (state.restaurant) params.set('restaurant_id', state.restaurant);
  // EventSource cannot send headers: the tp_token cookie carries the token (never the URL,
  // which proxies and server logs keep).
  const source = new EventSource(`/api/v1/stream${params.toString() ? `?${params}` : ''}`);
  state.source = source;
  state.streamError = false;
  source.addEventListener('snapshot', (event) => {
    if (state.source !== source || state.mode !== 'live') return;
    let snapshot;
    try {
      snapshot = JSON.parse(event.data);
    } catch {
      return;
    }
    showBrokenParts(snapshot.broken_parts);
    const outage = showDatabaseOutage(snapshot.ingest);
    if (snapshot.error) {
      // The server is up but its database is not: keep the last numbers, say why.
      state.dbError = snapshot.error;
      showWarning(`The database is not answering (${snapshot.error.code}): ` +
                  `${snapshot.error.message}. The numbers below are the last ones received.`);
      setStatus('error', 'Database error');
      return;
    }
    state.dbError = null;
    state.lastSnapshotAt = Date.now();
    state.streamError = false;
    hideWarning();
    if (outage) setStatus('outage', 'Database unavailable');
    else setStatus('live', 'Live');
    render(snapshot);
  });
  source.addEventListener('error', () => {
    if (state.source !== source) return;
    state.streamError = true;
    checkFreshness();
    if (source.readyState === EventSource.CLOSED) {
      // The server refused the stream (e.g. 401) or is gone: find out why, then retry.
      api('/api/v1/restaurants').catch((error) => {
        if (error.status === 401) showWarning('Not authorised: open this page with ?token=<token>.');
      });
      setTimeout(() => { if (state.source === source && state.mode === 'live') openStream(); }, 3000);
    }
  });
}

// ---- past mode ---------------------------------------------------------------------------

const METRICS = ['revenue', 'funnel', 'top-items', 'wait-times', 'turnover', 'data-quality'];

async function showPast(iso) {
  const request = ++state.pastRequest;
  setStatus('past', 'Loading…');
  const params = { as_of: iso, restaurant_id: state.restaurant };
  try {
    const results = await Promise.all(METRICS.map((m) => api(`/api/v1/${m}`, params)));
    if (request !== state.pastRequest || state.mode !== 'past') return;
    const panels = Object.fromEntries(METRICS.map((m, i) => [m, results[i]]));
    render({ as_of: iso, generated_at: new Date().toISOString(), panels, ingest: null });
    hideWarning();
    setStatus('past', 'Past');
  } catch (error) {
    if (request !== state.pastRequest) return;
    showWarning(`Could not load ${iso}: ${error.message}`);
    setStatus('error', 'Error');
  }
}

// ---- controls ----------------------------------------------------------------------------

function setMode(mode) {
  state.mode = mode;
  document.body.classList.toggle('past', mode === 'past');
  $('#mode-live').setAttribute('aria-pressed', String(mode === 'live'));
  $('#mode-past').setAttribute('aria-pressed', String(mode === 'past'));
  $('#past-form').hidden = mode !== 'past';
  // Past mode shows stored numbers, which an outage does not change; live mode shows it again
  // from its first snapshot.
  showDatabaseOutage(null);
  if (mode === 'live') {
    state.pastRequest++;
    state.dbError = null;
    state.lastSnapshotAt = 0;
    state.rateHistory = [];
    hideWarning();
    setStatus('connecting', 'Connecting…');
    openStream();
  } else {
    closeStream();
    hideWarning();
    const input = $('#as-of-input');
    if (!input.value) {
      const shown = $('#data-as-of').dataset.iso;
      input.value = fmt.toLocalInput(shown ? new Date(shown) : new Date());
    }
    setStatus('past', 'Past');
    input.focus();
  }
}

async function loadRestaurants() {
  const asOf = state.mode === 'past' ? state.pastIso : undefined;
  let list;
  try {
    list = await api('/api/v1/restaurants', { as_of: asOf });
  } catch (error) {
    if (error.status === 401) showWarning('Not authorised: open this page with ?token=<token>.');
    return;
  }
  const select = $('#restaurant');
  const known = new Set(list.map((r) => r.restaurant_id));
  const options = [el('option', { value: '' }, 'All restaurants'),
    ...list.map((r) => el('option', { value: r.restaurant_id }, `${r.restaurant_name} (${r.restaurant_id})`))];
  // Keep a chosen restaurant in the list even if it has no events at this instant.
  if (state.restaurant && !known.has(state.restaurant)) {
    options.push(el('option', { value: state.restaurant }, state.restaurant));
  }
  select.replaceChildren(...options);
  select.value = state.restaurant;
}

function init() {
  state.token = setUpToken();

  $('#restaurant').addEventListener('change', (event) => {
    state.restaurant = event.target.value;
    if (state.mode === 'live') {
      state.lastSnapshotAt = 0;
      state.rateHistory = [];
      openStream();
    } else if (state.pastIso) {
      showPast(state.pastIso);
    }
  });
  $('#mode-live').addEventListener('click', () => { if (state.mode !== 'live') setMode('live'); });
  $('#mode-past').addEventListener('click', () => { if (state.mode !== 'past') setMode('past'); });
  $('#past-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const date = fmt.fromLocalInput($('#as-of-input').value);
    if (!date) return;
    state.pastIso = date.toISOString();
    showPast(state.pastIso);
    loadRestaurants();
  });

  loadRestaurants();
  setInterval(() => { if (state.mode === 'live') loadRestaurants(); }, RESTAURANTS_EVERY_MS);
  setInterval(checkFreshness, 1000);
  setMode('live');
}

init();
