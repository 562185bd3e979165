// The trace list: filters (reflected in the query string), a duration scatter and the LLM-aware table.

import { listModels, listServices, listTraces } from "./api.js";
import { h, mount } from "./dom.js";
import {
  formatAgo,
  formatCost,
  formatDuration,
  formatStart,
  formatTimestamp,
  formatTokens,
  parseDuration,
  shortId,
} from "./format.js";
import { serviceColor } from "./palette.js";

const LOOKBACKS = [
  ["", "All time"],
  ["15m", "Last 15 minutes"],
  ["1h", "Last hour"],
  ["6h", "Last 6 hours"],
  ["24h", "Last 24 hours"],
  ["7d", "Last 7 days"],
];
const LOOKBACK_US = { "15m": 9e8, "1h": 3.6e9, "6h": 2.16e10, "24h": 8.64e10, "7d": 6.048e11 };
const LIMITS = ["20", "50", "100", "500"];
const DEFAULT_LIMIT = "100";
const SORTS = [
  ["", "Newest first"],
  ["duration", "Longest first"],
  ["cost", "Most expensive"],
  ["tokens", "Most tokens"],
  ["errors", "Most errors"],
  ["spans", "Most spans"],
];
const SORT_KEYS = {
  duration: (t) => t.duration,
  cost: (t) => t.costUsd ?? -1,
  tokens: (t) => (t.inputTokens ?? 0) + (t.outputTokens ?? 0),
  errors: (t) => t.errorCount ?? 0,
  spans: (t) => t.spanCount ?? 0,
};
const FILTER_KEYS = ["service", "model", "errors", "minDuration", "q", "lookback", "limit", "sort"];
const LIVE_INTERVAL_MS = 5000;

/** The fetched page of traces in the chosen order (the server returns newest first). */
export function sortTraces(traces, sort) {
  const key = SORT_KEYS[sort];
  if (!key) return traces;
  return [...traces].sort((a, b) => key(b) - key(a) || b.startTime - a.startTime);
}

function liveWanted() {
  try {
    return localStorage.getItem("llmtel.live") === "on";
  } catch {
    return false;
  }
}

/** The filters in the page URL. */
export function filtersFromUrl(search) {
  const params = new URLSearchParams(search);
  const filters = {};
  for (const key of FILTER_KEYS) filters[key] = params.get(key) || "";
  filters.errors = filters.errors === "true" ? "true" : "";
  return filters;
}

/** "?service=..&errors=true" for non-empty filters (empty string when none). */
export function queryFromFilters(filters) {
  const params = new URLSearchParams();
  for (const key of FILTER_KEYS) if (filters[key]) params.set(key, filters[key]);
  const text = params.toString();
  return text ? `?${text}` : "";
}

function apiParams(filters) {
  const params = {
    service: filters.service,
    model: filters.model,
    errors: filters.errors === "true" ? "true" : "",
    // sent in µs, whatever unit was typed
    minDuration: parseDuration(filters.minDuration) !== null ? `${Math.round(parseDuration(filters.minDuration))}us` : "",
    q: filters.q.trim(),
    limit: filters.limit || DEFAULT_LIMIT,
  };
  if (LOOKBACK_US[filters.lookback]) params.start = Math.floor(Date.now() * 1000 - LOOKBACK_US[filters.lookback]);
  return params;
}

function select(name, label, options, value) {
  const el = h(
    "select",
    { name, id: `filter-${name}`, "aria-label": label },
    options.map(([optionValue, text]) => h("option", { value: optionValue }, text)),
  );
  el.value = value;
  if (el.value !== value) {
    // a value from the URL the server does not (yet) list: keep it selectable rather than dropping it
    el.appendChild(h("option", { value }, value));
    el.value = value;
  }
  return el;
}

function field(label, control, extraClass) {
  return h("label", { class: ["field", extraClass] }, h("span", { class: "field-label" }, label), control);
}

/** Render the list view into `root`; `navigate(url, {replace})` changes the page URL. */
export async function renderList(root, { navigate }) {
  const filters = filtersFromUrl(location.search);
  const results = h("section", { class: "results" });
  const form = h("form", { class: "filters", role: "search", onsubmit: (e) => e.preventDefault() });
  const count = h("div", { class: "count-slot", "aria-live": "polite" });
  const bar = h("div", { class: "summary-line" }, count, h("span", { class: "spacer" }));
  mount(root, h("div", { class: "page list-page" }, form, bar, results));

  const token = root.routeToken;
  let services = [];
  let models = [];
  try {
    [services, models] = await Promise.all([listServices(), listModels()]);
  } catch (error) {
    mount(results, errorBox(error));
  }
  if (root.routeToken !== token) return;

  const controls = {
    service: select("service", "Service", [["", "All services"], ...services.map((s) => [s, s])], filters.service),
    model: select("model", "Model", [["", "All models"], ...models.map((m) => [m, m])], filters.model),
    lookback: select("lookback", "Time range", LOOKBACKS, filters.lookback),
    minDuration: h("input", {
      name: "minDuration", id: "filter-minDuration", type: "text", placeholder: "e.g. 100ms", size: 8,
      value: filters.minDuration, "aria-label": "Minimum duration", autocomplete: "off",
    }),
    q: h("input", {
      name: "q", id: "filter-q", type: "search", placeholder: "run id, session id, trace id or root name",
      value: filters.q, "aria-label": "Search by run id, session id, trace id or root span name", autocomplete: "off",
    }),
    errors: h("input", { name: "errors", id: "filter-errors", type: "checkbox", checked: filters.errors === "true" }),
    limit: select("limit", "Limit", LIMITS.map((n) => [n, n]), filters.limit || DEFAULT_LIMIT),
    sort: select("sort", "Sort", SORTS, filters.sort),
  };
  const live = h("input", { type: "checkbox", id: "live", checked: liveWanted() });
  const refresh = h("button", { type: "button", class: "button", title: "Reload the list (r)" }, "Refresh");
  const clear = h("button", { type: "button", class: "button subtle" }, "Clear filters");
  mount(
    form,
    field("Search", controls.q, "grow"),
    field("Service", controls.service),
    field("Model", controls.model),
    field("Time range", controls.lookback),
    field("Min duration", controls.minDuration),
    field("Limit", controls.limit),
    field("Sort", controls.sort),
    h("label", { class: "field checkbox" }, controls.errors, h("span", null, "Errors only")),
  );
  bar.append(
    h("label", { class: "checkbox live", title: `Reload every ${LIVE_INTERVAL_MS / 1000} s` }, live, h("span", null, "Live")),
    refresh,
    clear,
  );

  let generation = 0;
  const current = () => ({
    service: controls.service.value,
    model: controls.model.value,
    errors: controls.errors.checked ? "true" : "",
    minDuration: controls.minDuration.value.trim(),
    q: controls.q.value.trim(),
    lookback: controls.lookback.value,
    limit: controls.limit.value === DEFAULT_LIMIT ? "" : controls.limit.value,
    sort: controls.sort.value,
  });
  const load = async () => {
    const mine = ++generation;
    const state = current();
    const badDuration = state.minDuration && parseDuration(state.minDuration) === null;
    controls.minDuration.classList.toggle("invalid", Boolean(badDuration));
    controls.minDuration.title = badDuration ? "A duration such as 250us, 100ms, 1.5s, 2m or 1h30m" : "";
    results.classList.add("loading");
    try {
      const { traces, total } = await listTraces(apiParams(state));
      if (mine !== generation) return;
      mount(count, summaryLine(traces.length, total, state));
      mount(
        results,
        scatter(traces, navigate),
        table(sortTraces(traces, state.sort), navigate, ["service", "model", "errors", "minDuration", "q", "lookback"].some((k) => state[k])),
      );
    } catch (error) {
      if (mine === generation) mount(results, errorBox(error));
    } finally {
      if (mine === generation) results.classList.remove("loading");
    }
  };
  const apply = () => {
    if (root.routeToken !== token) return; // the page has moved on
    navigate(`/${queryFromFilters(current())}`, { replace: true, render: false });
    load();
  };

  let typing = null;
  for (const [name, control] of Object.entries(controls)) {
    control.addEventListener("change", apply);
    if (name === "q" || name === "minDuration") {
      control.addEventListener("input", () => {
        clearTimeout(typing);
        typing = setTimeout(apply, 300);
      });
    }
  }
  refresh.addEventListener("click", load);
  let timer = null;
  const setLive = () => {
    clearInterval(timer);
    timer = live.checked ? setInterval(() => document.visibilityState === "visible" && load(), LIVE_INTERVAL_MS) : null;
  };
  live.addEventListener("change", () => {
    try {
      localStorage.setItem("llmtel.live", live.checked ? "on" : "off");
    } catch {
      // the choice lasts for this page only
    }
    setLive();
  });
  setLive();
  root.cleanup = () => {
    clearInterval(timer);
    clearTimeout(typing);
  };
  clear.addEventListener("click", () => {
    for (const [name, control] of Object.entries(controls)) {
      if (name === "errors") control.checked = false;
      else if (name !== "limit" && name !== "sort") control.value = ""; // those two are not filters
    }
    apply();
  });
  root.reloadList = load;
  await load();
}

function summaryLine(shown, total, state) {
  const active = ["service", "model", "errors", "minDuration", "q", "lookback"].filter((k) => state[k]).length;
  const count = shown === total ? `${total} trace${total === 1 ? "" : "s"}` : `${shown} of ${total} traces`;
  return h(
    "span",
    null,
    h("strong", { class: "trace-count" }, count),
    active ? h("span", { class: "muted" }, ` · ${active} filter${active === 1 ? "" : "s"} applied`) : null,
  );
}

function scatter(traces, navigate) {
  if (traces.length < 2) return null;
  const times = traces.map((t) => t.startTime);
  const durations = traces.map((t) => t.duration);
  const t0 = Math.min(...times);
  const t1 = Math.max(...times);
  const maxDuration = Math.max(...durations, 1);
  const plot = h("div", { class: "scatter-plot" });
  for (const trace of traces) {
    const x = t1 === t0 ? 50 : ((trace.startTime - t0) / (t1 - t0)) * 100;
    const y = (trace.duration / maxDuration) * 100;
    const size = Math.min(22, 7 + Math.sqrt(trace.spanCount || 1) * 1.6);
    const dot = h("a", {
      class: ["dot", trace.errorCount ? "error" : null],
      href: `/trace/${trace.traceID}`,
      title: `${trace.rootName} · ${formatDuration(trace.duration)} · ${formatTimestamp(trace.startTime)}`,
      style: { left: `${x}%`, bottom: `${y}%`, width: `${size}px`, height: `${size}px` },
    });
    dot.addEventListener("click", (event) => {
      if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      navigate(`/trace/${trace.traceID}`);
    });
    plot.appendChild(dot);
  }
  return h(
    "div",
    { class: "scatter", "aria-hidden": "true" },
    h("div", { class: "scatter-axis y" }, h("span", null, formatDuration(maxDuration)), h("span", null, "0")),
    h(
      "div",
      { class: "scatter-body" },
      plot,
      h("div", { class: "scatter-axis x" }, h("span", null, formatStart(t0)), h("span", null, formatStart(t1))),
    ),
  );
}

const SNAPSHOT_SUFFIX = /^-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$/;

/** The models worth showing: an alias is left out when its dated snapshot is listed too (gpt-4o-mini and
 * gpt-4o-mini-2024-07-18 are the request and response model of the same calls). */
export function distinctModels(models) {
  return models.filter((model) => !models.some((other) => other !== model && other.startsWith(model) &&
    SNAPSHOT_SUFFIX.test(other.slice(model.length))));
}

function modelChips(models) {
  if (!models || !models.length) return h("span", { class: "muted" }, "—");
  return distinctModels(models).map((model) => h("span", { class: "chip model", title: models.join(", ") }, model));
}

function table(traces, navigate, filtered) {
  if (!traces.length) {
    return filtered
      ? h(
          "div",
          { class: "empty" },
          h("p", { class: "empty-title" }, "No traces match."),
          h("p", { class: "muted" }, "Loosen the filters, or clear them."),
        )
      : h(
          "div",
          { class: "empty" },
          h("p", { class: "empty-title" }, "No traces yet."),
          h(
            "p",
            { class: "muted" },
            "Point your app's OTLP exporter at this viewer (the endpoints llmtel serve printed when it started), " +
              "run it, then refresh — or tick Live.",
          ),
        );
  }
  const maxDuration = Math.max(...traces.map((t) => t.duration), 1);
  const rows = traces.map((trace) => {
    const href = `/trace/${trace.traceID}`;
    const open = (event) => {
      if (event.target.closest("a") || event.metaKey || event.ctrlKey) return;
      navigate(href);
    };
    const link = h("a", { class: "trace-link", href, "data-nav": "" }, trace.rootName || "(no root span)");
    const errors = trace.errorCount
      ? h("span", { class: "badge error" }, `${trace.errorCount} error${trace.errorCount === 1 ? "" : "s"}`)
      : h("span", { class: "badge ok" }, "OK");
    const ids = [
      trace.runId ? h("div", { class: "mono small", title: "llmtel.run.id" }, h("span", { class: "k" }, "run "), trace.runId) : null,
      trace.sessionId
        ? h("div", { class: "mono small", title: "session.id" }, h("span", { class: "k" }, "session "), trace.sessionId)
        : null,
    ];
    return h(
      "tr",
      { class: ["trace-row", trace.errorCount ? "has-error" : null], dataset: { traceId: trace.traceID }, onclick: open },
      h(
        "td",
        { class: "col-name" },
        link,
        h(
          "div",
          { class: "sub" },
          h("span", { class: "service-dot", style: { "--service": serviceColor(trace.rootService) } }),
          h("span", { class: "service" }, trace.rootService || "unknown"),
          h("span", { class: "mono muted", title: trace.traceID }, shortId(trace.traceID)),
        ),
      ),
      h(
        "td",
        { class: "col-start", title: formatTimestamp(trace.startTime) },
        h("div", { class: "mono" }, formatStart(trace.startTime)),
        h("div", { class: "sub muted" }, formatAgo(trace.startTime)),
      ),
      h(
        "td",
        { class: "col-duration num" },
        h("div", { class: "mono" }, formatDuration(trace.duration)),
        h("div", { class: "mini-bar" }, h("span", { style: { width: `${Math.max(2, (trace.duration / maxDuration) * 100)}%` } })),
      ),
      h("td", { class: "col-spans num mono" }, String(trace.spanCount ?? "—")),
      h("td", { class: "col-models" }, modelChips(trace.models)),
      h(
        "td",
        { class: "col-tokens num mono", title: `${trace.inputTokens ?? 0} input, ${trace.outputTokens ?? 0} output tokens` },
        h("span", { class: "tok-in" }, formatTokens(trace.inputTokens ?? 0)),
        h("span", { class: "tok-sep" }, " / "),
        h("span", { class: "tok-out" }, formatTokens(trace.outputTokens ?? 0)),
      ),
      h("td", { class: "col-cost num mono", title: trace.costUsd === null ? "not priced" : `$${trace.costUsd}` }, formatCost(trace.costUsd)),
      h("td", { class: "col-status" }, errors),
      h("td", { class: "col-ids" }, ids),
    );
  });
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "traces" },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          h("th", null, "Trace"),
          h("th", null, "Started"),
          h("th", { class: "num" }, "Duration"),
          h("th", { class: "num" }, "Spans"),
          h("th", null, "Models"),
          h("th", { class: "num", title: "input / output tokens" }, "Tokens in / out"),
          h("th", { class: "num" }, "Cost"),
          h("th", null, "Status"),
          h("th", null, "Run / session"),
        ),
      ),
      h("tbody", null, rows),
    ),
  );
}

export function errorBox(error) {
  return h("div", { class: "error-box", role: "alert" }, h("strong", null, "Could not load: "), error.message || String(error));
}
