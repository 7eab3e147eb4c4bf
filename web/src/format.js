// Number and time formats of the dashboard, in one place so every panel (and the browser
// tests, which read the text back) agrees: money with 2 decimals and a currency sign, minutes
// with 1 decimal, ratios as percentages, a missing value as an em dash.

export const NONE = '—';

const moneyFormat = new Intl.NumberFormat('en-US', {
  style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 2,
});
const countFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat('en-US', {
  minimumFractionDigits: 1, maximumFractionDigits: 1,
});
const twoDecimals = new Intl.NumberFormat('en-US', {
  minimumFractionDigits: 2, maximumFractionDigits: 2,
});

const missing = (v) => v === null || v === undefined || Number.isNaN(Number(v));

export const money = (v) => (missing(v) ? NONE : moneyFormat.format(Number(v)));
export const count = (v) => (missing(v) ? NONE : countFormat.format(Number(v)));
export const minutes = (v) => (missing(v) ? NONE : `${oneDecimal.format(Number(v))} min`);
export const percent = (v) => (missing(v) ? NONE : `${oneDecimal.format(Number(v) * 100)}%`);
export const decimal2 = (v) => (missing(v) ? NONE : twoDecimals.format(Number(v)));

// Events per second: one decimal while small, whole numbers once the stream is busy.
export const rate = (v) => {
  if (missing(v)) return NONE;
  const n = Number(v);
  return n >= 100 ? countFormat.format(n) : oneDecimal.format(n);
};

// A delay in ms, in the unit a person reads fastest.
export const duration = (ms) => {
  if (missing(ms)) return NONE;
  const n = Number(ms);
  if (n < 1000) return `${countFormat.format(n)} ms`;
  if (n < 60000) return `${oneDecimal.format(n / 1000)} s`;
  return `${oneDecimal.format(n / 60000)} min`;
};

// A window length in ms as the cards label it ("5 min", "1 h").
export const windowLabel = (ms) => {
  if (ms % 3600000 === 0) return `${ms / 3600000} h`;
  if (ms % 60000 === 0) return `${ms / 60000} min`;
  return `${ms / 1000} s`;
};

const timeFormat = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
});
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
  hour12: false,
});

// An instant in the viewer's time zone; the date is added when it is not today.
export const clock = (iso) => {
  if (!iso) return NONE;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return NONE;
  const today = new Date();
  return date.toDateString() === today.toDateString()
    ? timeFormat.format(date)
    : dateTimeFormat.format(date);
};

// The value of an <input type="datetime-local"> (viewer's zone) for an instant, and back.
export const toLocalInput = (date) => {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T` +
         `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
};
export const fromLocalInput = (value) => {
  const date = new Date(value);  // a date-time without zone is local time
  return Number.isNaN(date.getTime()) ? null : date;
};
