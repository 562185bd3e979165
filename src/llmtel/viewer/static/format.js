// Pure formatting of times (µs since the epoch), durations (µs), tokens and costs.

export function formatDuration(us) {
  if (us === null || us === undefined || Number.isNaN(us)) return "—";
  if (us < 1000) return `${Math.round(us)} µs`;
  if (us < 1e6) return `${trim(us / 1000, us < 1e4 ? 2 : us < 1e5 ? 1 : 0)} ms`;
  if (us < 6e7) return `${trim(us / 1e6, 2)} s`;
  const minutes = Math.floor(us / 6e7);
  const seconds = Math.round((us - minutes * 6e7) / 1e6);
  if (minutes < 60) return `${minutes}m ${seconds}s`;
  return `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
}

/** `value` with at most `digits` decimals, trailing decimal zeros dropped (120.50 -> "120.5", 180 -> "180"). */
function trim(value, digits) {
  const text = value.toFixed(digits);
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

/** "2026-11-22 12:54:41.123" in local time. */
export function formatTimestamp(us) {
  const d = new Date(us / 1000);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
  );
}

/** "12:54:41.123" today, "2026-11-21 12:54:41.123" on another day. */
export function formatStart(us, nowMs = Date.now()) {
  const full = formatTimestamp(us);
  return full.slice(0, 10) === formatTimestamp(nowMs * 1000).slice(0, 10) ? full.slice(11) : full;
}

/** "3 min ago", relative to `nowMs`. */
export function formatAgo(us, nowMs = Date.now()) {
  const seconds = Math.round((nowMs - us / 1000) / 1000);
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

/** "+12.3 ms" offset from the trace start. */
export function formatOffset(us) {
  return `+${formatDuration(Math.max(0, us))}`;
}

export function formatTokens(n) {
  if (n === null || n === undefined) return "—";
  if (n < 10000) return String(n);
  if (n < 1e6) return `${trim(n / 1000, n < 1e5 ? 1 : 0)}k`;
  return `${trim(n / 1e6, 2)}M`;
}

/** USD with enough significant digits for fractions of a cent: $0.000118, $0.0421, $3.27. */
export function formatCost(usd) {
  if (usd === null || usd === undefined || Number.isNaN(Number(usd))) return "—";
  const value = Number(usd);
  if (value === 0) return "$0";
  if (value < 1e-8) return "<$0.00000001";
  if (value >= 1) return `$${value.toFixed(2)}`;
  if (value >= 0.01) return `$${value.toFixed(4).replace(/(\.\d\d\d?)0+$/, "$1").replace(/(\.\d\d)0$/, "$1")}`;
  return `$${Number(value.toPrecision(3))
    .toFixed(10)
    .replace(/0+$/, "")}`;
}

const DURATION_UNITS = { ns: 0.001, us: 1, "µs": 1, ms: 1e3, s: 1e6, m: 6e7, h: 3.6e9, d: 8.64e10 };

/** Parse "100ms", "1.5s", "250us", "1h30m", "7d" (a bare number is milliseconds) to µs; null if unusable. */
export function parseDuration(text) {
  const raw = String(text ?? "").replace(/\s+/g, "");
  if (/^\d+(\.\d+)?$/.test(raw)) return Number(raw) * 1e3;
  const part = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)/y;
  let total = 0;
  let matched = 0;
  while (part.lastIndex < raw.length) {
    const match = part.exec(raw);
    if (!match) return null;
    total += Number(match[1]) * DURATION_UNITS[match[2]];
    matched += 1;
  }
  return matched ? total : null;
}

/** Short form of a hex id for tables. */
export function shortId(id) {
  return id && id.length > 12 ? id.slice(0, 8) : id || "";
}
