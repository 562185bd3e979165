// The trace view: header with LLM totals, the span waterfall (logs interleaved), the logs tab, span details.

import { getTrace, getTraceLogs } from "./api.js";
import { logLines, renderDetails, severityClass, severityName } from "./details.js";
import { copyButton, h, mount } from "./dom.js";
import { formatCost, formatDuration, formatOffset, formatTimestamp, formatTokens } from "./format.js";
import { distinctModels, errorBox } from "./list.js";
import { serviceColor } from "./palette.js";
import {
  attachLogs,
  buildTrace,
  isErrorSpan,
  isLlmSpan,
  isToolSpan,
  llmFacts,
  subtreeTotals,
  traceTotals,
} from "./tracemodel.js";

const TICKS = [0, 0.25, 0.5, 0.75, 1];

/** Render `/trace/<traceId>` into `root`. */
export async function renderTrace(root, traceId, { navigate }) {
  const token = root.routeToken;
  mount(root, h("div", { class: "page trace-page loading" }, h("p", { class: "muted" }, "Loading trace…")));
  let raw;
  let logs = [];
  try {
    [raw, logs] = await Promise.all([getTrace(traceId), getTraceLogs(traceId).catch(() => [])]);
  } catch (error) {
    if (root.routeToken === token) mount(root, h("div", { class: "page" }, backLink(navigate), errorBox(error)));
    return;
  }
  if (root.routeToken !== token) return;
  if (!raw || !raw.spans || !raw.spans.length) {
    mount(
      root,
      h(
        "div",
        { class: "page" },
        backLink(navigate),
        h("div", { class: "empty" }, h("p", { class: "empty-title" }, "Trace not found"), h("p", { class: "mono muted" }, traceId)),
      ),
    );
    return;
  }
  const trace = buildTrace(raw);
  const sortedLogs = attachLogs(trace, logs);
  const view = new TraceView(root, trace, sortedLogs, navigate);
  view.render();
}

function backLink(navigate) {
  let href = "/";
  try {
    href = sessionStorage.getItem("llmtel.listUrl") || "/";
  } catch {
    // storage unavailable
  }
  const link = h("a", { class: "back", href }, "← Traces");
  link.addEventListener("click", (event) => {
    if (event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    navigate(href);
  });
  return link;
}

class TraceView {
  constructor(root, trace, logs, navigate) {
    const params = new URLSearchParams(location.search);
    this.root = root;
    this.trace = trace;
    this.logs = logs;
    this.navigate = navigate;
    this.collapsed = new Set();
    this.showLogs = params.get("logs") !== "off";
    this.llmOnly = params.get("llm") === "only";
    this.tab = ["logs", "calls"].includes(params.get("tab")) ? params.get("tab") : "timeline";
    this.selected = trace.byId.get(params.get("span")) || null;
    this.find = "";
    this.view = { from: 0, to: 1 }; // the visible part of the trace, as fractions of its duration
  }

  /** Position of `time` (µs) in the visible window, in percent. */
  pct(time) {
    const total = Math.max(this.trace.duration, 1);
    return (((time - this.trace.start) / total - this.view.from) / (this.view.to - this.view.from)) * 100;
  }

  /** Width of `duration` (µs) in the visible window, in percent. */
  pctWidth(duration) {
    return (duration / Math.max(this.trace.duration, 1) / (this.view.to - this.view.from)) * 100;
  }

  syncUrl() {
    const params = new URLSearchParams();
    if (this.selected) params.set("span", this.selected.spanID);
    if (this.tab !== "timeline") params.set("tab", this.tab);
    if (!this.showLogs) params.set("logs", "off");
    if (this.llmOnly) params.set("llm", "only");
    const query = params.toString();
    this.navigate(`/trace/${this.trace.traceID}${query ? `?${query}` : ""}`, { replace: true, render: false });
  }

  render() {
    this.body = h("div", { class: "trace-body" });
    this.tabs = h("nav", { class: "tabs", role: "tablist" });
    mount(this.root, h("div", { class: "page trace-page" }, backLink(this.navigate), this.header(), this.tabs, this.body));
    this.renderBody();
    this.keyHandler = (event) => {
      if (event.key === "Escape" && this.selected && !event.target.closest("input, select, textarea")) this.select(null);
    };
    this.resizeHandler = () => fitLabels(this.rowsEl);
    document.addEventListener("keydown", this.keyHandler);
    window.addEventListener("resize", this.resizeHandler);
    this.root.cleanup = () => {
      document.removeEventListener("keydown", this.keyHandler);
      window.removeEventListener("resize", this.resizeHandler);
    };
  }

  header() {
    const { trace } = this;
    const root = trace.roots[0] || trace.spans[0];
    const totals = traceTotals(trace);
    const runId = root.tagMap["llmtel.run.id"];
    const sessionId = root.tagMap["session.id"];
    const maxDepth = trace.spans.reduce((max, s) => Math.max(max, s.depth), 0) + 1;
    const searchLink = (value) => {
      const href = `/?q=${encodeURIComponent(value)}`;
      return h("a", { class: "mono", href, "data-nav": "", title: "Traces with this id" }, value);
    };
    return h(
      "header",
      { class: "trace-head" },
      h(
        "div",
        { class: "trace-title" },
        h("span", { class: "service-dot big", style: { "--service": serviceColor(root.serviceName) } }),
        h("h1", null, root.operationName),
        h("span", { class: "service" }, root.serviceName),
        totals.errors ? h("span", { class: "badge error" }, `${totals.errors} error${totals.errors === 1 ? "" : "s"}`) : null,
      ),
      h(
        "div",
        { class: "trace-meta" },
        h("span", null, h("span", { class: "muted" }, "Trace "), h("span", { class: "mono", id: "trace-id" }, trace.traceID), copyButton(trace.traceID)),
        h("span", null, h("span", { class: "muted" }, "Started "), h("span", { class: "mono" }, formatTimestamp(trace.start))),
        h("span", null, h("span", { class: "muted" }, "Duration "), h("span", { class: "mono" }, formatDuration(trace.duration))),
        h("span", null, h("span", { class: "muted" }, "Spans "), h("span", { class: "mono" }, String(trace.spans.length))),
        h("span", null, h("span", { class: "muted" }, "Depth "), h("span", { class: "mono" }, String(maxDepth))),
        trace.services.length > 1 ? h("span", null, h("span", { class: "muted" }, "Services "), trace.services.join(", ")) : null,
        runId ? h("span", null, h("span", { class: "muted" }, "Run "), searchLink(runId)) : null,
        sessionId ? h("span", null, h("span", { class: "muted" }, "Session "), searchLink(sessionId)) : null,
        h("a", { href: `/api/traces/${encodeURIComponent(trace.traceID)}`, target: "_blank", rel: "noopener", title: "The trace as Jaeger JSON" }, "JSON"),
      ),
      h(
        "div",
        { class: "lens" },
        lensStat("LLM calls", String(totals.llmCalls)),
        lensStat("Input tokens", formatTokens(totals.inputTokens)),
        lensStat("Output tokens", formatTokens(totals.outputTokens)),
        lensStat("Cost", formatCost(totals.costUsd)),
        lensStat(
          "Models",
          totals.models.size ? distinctModels([...totals.models]).map((m) => h("span", { class: "chip model" }, m)) : "—",
          "models",
        ),
      ),
    );
  }

  renderTabs() {
    const tab = (id, label) =>
      h(
        "button",
        {
          type: "button",
          role: "tab",
          class: ["tab", this.tab === id ? "active" : null],
          "aria-selected": this.tab === id ? "true" : "false",
          dataset: { tab: id },
          onclick: () => {
            this.tab = id;
            this.syncUrl();
            this.renderBody();
          },
        },
        label,
      );
    const calls = this.trace.spans.filter(isLlmSpan).length;
    mount(this.tabs, tab("timeline", "Timeline"), tab("calls", `LLM calls (${calls})`), tab("logs", `Logs (${this.logs.length})`));
  }

  renderBody() {
    this.renderTabs();
    const main = this.tab === "logs" ? this.logsTab() : this.tab === "calls" ? this.callsTab() : this.timeline();
    this.panel = h("div", { class: "details-slot" });
    this.body.classList.toggle("with-details", Boolean(this.selected));
    mount(this.body, h("div", { class: "main-slot" }, main), this.panel);
    this.renderPanel();
  }

  renderPanel() {
    this.body.classList.toggle("with-details", Boolean(this.selected));
    if (!this.selected) {
      mount(this.panel);
      requestAnimationFrame(() => fitLabels(this.rowsEl));
      return;
    }
    mount(this.panel, renderDetails(this.selected, this.trace, { onClose: () => this.select(null) }));
    this.panel.scrollTop = 0;
    requestAnimationFrame(() => fitLabels(this.rowsEl));
  }

  select(span, { scroll = false } = {}) {
    this.selected = span;
    this.syncUrl();
    if (this.rowsEl) {
      for (const row of this.rowsEl.querySelectorAll(".span-row")) {
        const on = Boolean(span) && row.dataset.spanId === span.spanID;
        row.classList.toggle("selected", on);
        row.setAttribute("aria-selected", on ? "true" : "false");
      }
    }
    this.renderPanel();
    if (scroll && span && this.rowsEl) {
      const row = this.rowsEl.querySelector(`.span-row[data-span-id="${CSS.escape(span.spanID)}"]`);
      if (row) row.scrollIntoView({ block: "center" });
    }
  }

  /** Show the span a log record belongs to (from anywhere: log tab or waterfall). */
  selectFromLog(record) {
    const span = record.spanID && this.trace.byId.get(record.spanID);
    if (!span) return;
    for (let p = span.parent; p; p = p.parent) this.collapsed.delete(p.spanID);
    this.tab = "timeline";
    this.selected = span;
    this.syncUrl();
    this.renderBody();
    this.select(span, { scroll: true });
  }

  timeline() {
    const findInput = h("input", {
      type: "search", class: "find", placeholder: "Find spans…", title: "Press / to focus", value: this.find, "aria-label": "Find spans",
    });
    findInput.addEventListener("input", () => {
      this.find = findInput.value;
      this.applyFind();
    });
    const logsToggle = h("input", { type: "checkbox", id: "toggle-logs", checked: this.showLogs });
    logsToggle.addEventListener("change", () => {
      this.showLogs = logsToggle.checked;
      this.syncUrl();
      this.renderRows();
    });
    const llmToggle = h("input", { type: "checkbox", id: "toggle-llm", checked: this.llmOnly });
    llmToggle.addEventListener("change", () => {
      this.llmOnly = llmToggle.checked;
      this.syncUrl();
      this.renderRows();
    });
    const toolbar = h(
      "div",
      { class: "wf-toolbar" },
      findInput,
      h("span", { class: "find-count muted" }),
      h("span", { class: "spacer" }),
      this.errorSpans().length
        ? h("button", { type: "button", class: "button subtle error-jump", title: "Select the next span with an error",
            onclick: () => this.nextError() }, `Next error (${this.errorSpans().length})`)
        : null,
      this.trace.spans.some(isLlmSpan)
        ? h("label", { class: "toggle", title: "Only model calls, tool executions and the spans that contain them" }, llmToggle, " LLM only")
        : null,
      h("label", { class: "toggle" }, logsToggle, " Logs in timeline"),
      h("button", { type: "button", class: "button subtle", onclick: () => { this.collapsed.clear(); this.renderRows(); } }, "Expand all"),
      h(
        "button",
        {
          type: "button",
          class: "button subtle",
          onclick: () => {
            for (const span of this.trace.spans) if (span.children.length && span.depth >= 1) this.collapsed.add(span.spanID);
            this.renderRows();
          },
        },
        "Collapse",
      ),
    );
    this.findCount = toolbar.querySelector(".find-count");
    this.rowsEl = h("div", { class: "wf-rows", role: "tree" });
    this.headerEl = h("div", { class: "wf-row wf-header" });
    this.renderHeader();
    this.renderRows();
    return h("div", { class: "waterfall" }, toolbar, this.headerEl, this.rowsEl);
  }

  /** Time ticks of the visible window; dragging across them zooms in, like Jaeger's timeline header. */
  renderHeader() {
    const { from, to } = this.view;
    const zoomed = from > 0 || to < 1;
    const lane = h(
      "div",
      { class: "wf-timeline zoomable", title: "Drag to zoom into a time range" },
      TICKS.map((tick) => {
        const at = this.trace.duration * (from + tick * (to - from));
        const edge = tick === 0 ? "first" : tick === 1 ? "last" : null;
        return h("span", { class: ["tick", edge], style: { left: `${tick * 100}%` } }, at ? formatDuration(at) : "0");
      }),
    );
    const selection = h("span", { class: "zoom-selection" });
    lane.appendChild(selection);
    lane.addEventListener("mousedown", (down) => {
      if (down.button !== 0) return;
      down.preventDefault();
      const box = lane.getBoundingClientRect();
      const fraction = (x) => Math.min(1, Math.max(0, (x - box.left) / box.width));
      const start = fraction(down.clientX);
      const move = (event) => {
        const end = fraction(event.clientX);
        selection.style.left = `${Math.min(start, end) * 100}%`;
        selection.style.width = `${Math.abs(end - start) * 100}%`;
        selection.classList.add("active");
      };
      const up = (event) => {
        window.removeEventListener("mousemove", move);
        window.removeEventListener("mouseup", up);
        selection.classList.remove("active");
        const end = fraction(event.clientX);
        if (Math.abs(end - start) < 0.01) return; // a click, not a drag
        const span = to - from;
        this.zoom(from + Math.min(start, end) * span, from + Math.max(start, end) * span);
      };
      window.addEventListener("mousemove", move);
      window.addEventListener("mouseup", up);
    });
    mount(
      this.headerEl,
      h(
        "div",
        { class: "wf-label" },
        "Service & operation",
        zoomed
          ? h("button", { type: "button", class: "button subtle zoom-reset", onclick: () => this.zoom(0, 1) }, "Reset zoom")
          : null,
      ),
      lane,
    );
  }

  zoom(from, to) {
    this.view = { from, to };
    this.renderHeader();
    this.renderRows();
  }

  renderRows() {
    // Depth first; under each span its child spans and its own log records, merged in time order.
    const rows = [];
    const seen = new Set();
    const shown = this.llmOnly ? llmPath(this.trace.spans) : null;
    const visit = (span) => {
      if (seen.has(span) || (shown && !shown.has(span))) return;
      seen.add(span);
      rows.push(this.spanRow(span));
      if (this.collapsed.has(span.spanID)) return;
      const items = span.children.map((child) => ({ time: child.startTime, span: child }));
      if (this.showLogs) items.push(...span.records.map((record) => ({ time: record.timestamp, record })));
      items.sort((a, b) => a.time - b.time);
      for (const item of items) {
        if (item.span) visit(item.span);
        else rows.push(this.logRow(span, item.record));
      }
    };
    for (const span of this.trace.spans) if (span.depth === 0) visit(span);
    mount(this.rowsEl, rows);
    this.applyFind();
    requestAnimationFrame(() => fitLabels(this.rowsEl));
  }

  spanRow(span) {
    const { trace } = this;
    const left = this.pct(span.startTime);
    const width = this.pctWidth(span.duration);
    const failed = isErrorSpan(span);
    const llm = isLlmSpan(span);
    const hasChildren = span.children.length > 0;
    const collapsed = this.collapsed.has(span.spanID);
    const toggle = hasChildren
      ? h(
          "button",
          {
            type: "button",
            class: "twisty",
            "aria-label": collapsed ? "Expand" : "Collapse",
            "aria-expanded": collapsed ? "false" : "true",
            onclick: (event) => {
              event.stopPropagation();
              if (collapsed) this.collapsed.delete(span.spanID);
              else this.collapsed.add(span.spanID);
              this.renderRows();
            },
          },
          collapsed ? "▸" : "▾",
        )
      : h("span", { class: "twisty-space" });
    const showService = !span.parent || span.parent.serviceName !== span.serviceName;
    const facts = llm ? llmFacts(span) : null;
    const kindChip = isToolSpan(span) ? h("span", { class: "chip tool" }, "tool") : null;
    // a model call shows its own tokens and cost; a span with model calls below it shows their sum (Σ)
    const rollup = facts ? null : subtreeTotals(span);
    const usage = facts || (rollup.llmCalls ? rollup : null);
    const llmText = usage
      ? [
          rollup ? `Σ ${rollup.llmCalls} call${rollup.llmCalls === 1 ? "" : "s"}` : null,
          usage.inputTokens || usage.outputTokens
            ? `${formatTokens(usage.inputTokens ?? 0)} → ${formatTokens(usage.outputTokens ?? 0)} tok`
            : null,
          usage.costUsd !== null ? formatCost(usage.costUsd) : null,
        ].filter(Boolean).join(" · ")
      : "";
    const durationLabel = h(
      "span",
      { class: "wf-dur mono" },
      formatDuration(span.duration),
      llmText
        ? h(
            "span",
            { class: ["wf-llm", rollup ? "rollup" : null], title: rollup ? "model calls below this span: tokens in → out · cost" : "tokens in → out · cost" },
            ` · ${llmText}`,
          )
        : null,
    );
    Object.assign(durationLabel.dataset, {
      barLeft: String(left),
      barRight: String(left + width),
      after: `calc(${left + width}% + 6px)`,
      before: `calc(${100 - left}% + 6px)`,
      inside: `calc(${Math.max(left, 0)}% + 6px)`,
    });
    placeLabel(durationLabel, left + width > 78 ? "before" : "after");
    // with logs shown as rows, marks on the bar would repeat them
    const marks = (this.showLogs ? [] : span.records).map((record) =>
      h("span", {
        class: ["log-mark", `sev-${severityClass(record.severityNumber, record.severityText)}`],
        style: { left: `${this.pct(record.timestamp)}%` },
        title: `${record.severityText || severityName(record.severityNumber)}: ${typeof record.body === "string" ? record.body : JSON.stringify(record.body)}`,
      }),
    );
    const row = h(
      "div",
      {
        class: ["wf-row", "span-row", failed ? "error" : null, llm ? "llm" : null, this.selected === span ? "selected" : null],
        role: "treeitem",
        tabindex: "0",
        "aria-selected": this.selected === span ? "true" : "false",
        "aria-level": String(span.depth + 1),
        dataset: { spanId: span.spanID, start: String(span.startTime) },
        style: { "--service": serviceColor(span.serviceName), "--depth": String(span.depth) },
      },
      h(
        "div",
        { class: "wf-label" },
        toggle,
        failed ? h("span", { class: "err-icon", title: "error", "aria-label": "error" }, "!") : null,
        showService ? h("span", { class: "svc" }, span.serviceName) : null,
        h("span", { class: "op", title: span.operationName }, span.operationName),
        kindChip,
        span.missingParent ? h("span", { class: "chip warn", title: "Its parent span is not in this trace (yet)" }, "missing parent") : null,
        collapsed ? h("span", { class: "chip hidden-count" }, `+${countDescendants(span)}`) : null,
      ),
      h(
        "div",
        { class: "wf-timeline" },
        h("span", { class: "wf-bar", style: { left: `${left}%`, width: `max(${width}%, 2px)` } }),
        facts && facts.timeToFirstChunk !== null
          ? h("span", {
              class: "ttfc-mark",
              style: { left: `${this.pct(span.startTime + facts.timeToFirstChunk * 1e6)}%` },
              title: `first chunk after ${formatDuration(facts.timeToFirstChunk * 1e6)}`,
            })
          : null,
        durationLabel,
        marks,
      ),
    );
    row.addEventListener("click", () => this.select(this.selected === span ? null : span));
    row.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        this.select(span);
      } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const rows = [...this.rowsEl.querySelectorAll(".span-row")];
        const next = rows[rows.indexOf(row) + (event.key === "ArrowDown" ? 1 : -1)];
        if (next) next.focus();
      }
    });
    return row;
  }

  logRow(span, record) {
    const { trace } = this;
    const at = this.pct(record.timestamp);
    const severity = record.severityText || severityName(record.severityNumber) || "LOG";
    const row = h(
      "div",
      {
        class: ["wf-row", "log-row", `sev-${severityClass(record.severityNumber, record.severityText)}`],
        dataset: { spanId: span.spanID },
        style: { "--depth": String(span.depth + 1) },
        title: `${formatTimestamp(record.timestamp)} — click to show the span`,
      },
      h(
        "div",
        { class: "wf-label" },
        h("span", { class: "twisty-space" }),
        h("span", { class: "log-sev" }, severity.toUpperCase()),
        h(
          "span",
          { class: "log-body" },
          record.body === null || record.body === undefined || record.body === ""
            ? record.eventName ? `event ${record.eventName}` : "(no body)"
            : typeof record.body === "string" ? record.body : JSON.stringify(record.body),
        ),
      ),
      h(
        "div",
        { class: "wf-timeline" },
        h("span", { class: "log-dot", style: { left: `${at}%` } }),
        h(
          "span",
          {
            class: "wf-dur mono",
            style: at > 78 ? { right: `calc(${100 - at}% + 8px)` } : { left: `calc(${at}% + 8px)` },
          },
          formatOffset(record.timestamp - trace.start),
        ),
      ),
    );
    row.addEventListener("click", () => this.selectFromLog(record));
    return row;
  }

  errorSpans() {
    return this.trace.spans.filter(isErrorSpan);
  }

  /** Select the first error span after the selected one (wrapping), expanding its ancestors. */
  nextError() {
    const errors = this.errorSpans();
    const order = this.trace.spans;
    const from = this.selected ? order.indexOf(this.selected) : -1;
    const next = errors.find((span) => order.indexOf(span) > from) || errors[0];
    let expanded = false;
    for (let p = next.parent; p; p = p.parent) expanded = this.collapsed.delete(p.spanID) || expanded;
    if (expanded) this.renderRows();
    this.select(next, { scroll: true });
  }

  applyFind() {
    const needle = this.find.trim().toLowerCase();
    let hits = 0;
    for (const row of this.rowsEl.querySelectorAll(".span-row")) {
      const span = this.trace.byId.get(row.dataset.spanId);
      const hit = Boolean(needle) && spanMatches(span, needle);
      if (hit) hits += 1;
      row.classList.toggle("match", hit);
      row.classList.toggle("dim", Boolean(needle) && !hit);
    }
    if (this.findCount) this.findCount.textContent = needle ? `${hits} match${hits === 1 ? "" : "es"}` : "";
  }

  /** Every model call of the trace in time order: where it ran, model, tokens, cost, latency, outcome. */
  callsTab() {
    const calls = this.trace.spans.filter(isLlmSpan).sort((a, b) => a.startTime - b.startTime);
    if (!calls.length) {
      return h("div", { class: "empty" }, h("p", { class: "empty-title" }, "No model calls in this trace."));
    }
    const rows = calls.map((span) => {
      const f = llmFacts(span);
      const failed = isErrorSpan(span);
      const where = span.tagMap["llmtel.step"] || (span.parent ? span.parent.operationName : "");
      const row = h(
        "tr",
        { class: ["call-row", failed ? "has-error" : null, this.selected === span ? "selected" : null], dataset: { spanId: span.spanID } },
        h("td", { class: "mono muted num" }, formatOffset(span.startTime - this.trace.start)),
        h("td", null, h("div", { class: "op-name" }, span.operationName), where ? h("div", { class: "sub" }, `in ${where}`) : null),
        h("td", { class: "mono" }, f.responseModel || f.requestModel || "—"),
        h("td", { class: "num mono" }, f.inputTokens === null ? "—" : formatTokens(f.inputTokens),
          f.cacheReadTokens ? h("div", { class: "sub" }, `${formatTokens(f.cacheReadTokens)} cached`) : null),
        h("td", { class: "num mono" }, f.outputTokens === null ? "—" : formatTokens(f.outputTokens),
          f.reasoningTokens ? h("div", { class: "sub" }, `${formatTokens(f.reasoningTokens)} reasoning`) : null),
        h("td", { class: "num mono" }, formatCost(f.costUsd)),
        h("td", { class: "num mono" }, formatDuration(span.duration),
          f.timeToFirstChunk !== null ? h("div", { class: "sub" }, `first chunk ${formatDuration(f.timeToFirstChunk * 1e6)}`) : null),
        h(
          "td",
          null,
          failed
            ? h("span", { class: "badge error" }, f.errorType || "error")
            : f.finishReasons.length
              ? f.finishReasons.map((reason) => h("span", { class: "chip finish" }, String(reason)))
              : "—",
        ),
      );
      row.addEventListener("click", () => {
        for (const other of row.parentElement.children) other.classList.toggle("selected", other === row);
        this.select(span);
      });
      return row;
    });
    return h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "traces calls" },
        h(
          "thead",
          null,
          h(
            "tr",
            null,
            h("th", { class: "num" }, "Start"),
            h("th", null, "Call"),
            h("th", null, "Model"),
            h("th", { class: "num" }, "Input"),
            h("th", { class: "num" }, "Output"),
            h("th", { class: "num" }, "Cost"),
            h("th", { class: "num" }, "Duration"),
            h("th", null, "Outcome"),
          ),
        ),
        h("tbody", null, rows),
      ),
    );
  }

  logsTab() {
    if (!this.logs.length) {
      return h("div", { class: "empty" }, h("p", { class: "empty-title" }, "No log records for this trace."),
        h("p", { class: "muted" }, "Logs written inside a span carry its trace id; export them over OTLP to see them here."));
    }
    const label = (record) => {
      const span = record.spanID && this.trace.byId.get(record.spanID);
      return span ? span.operationName : record.spanID ? record.spanID.slice(0, 8) : "—";
    };
    return h(
      "div",
      { class: "log-list full" },
      logLines(this.logs, this.trace.start, { onClick: (record) => this.selectFromLog(record), showSpan: label }),
    );
  }
}

/** Put a bar's label after the bar, before it, or inside it (over a long bar); `maxWidth` (px) cuts it short. */
function placeLabel(label, side, maxWidth = null) {
  label.style.left = side === "after" ? label.dataset.after : side === "inside" ? label.dataset.inside : "";
  label.style.right = side === "before" ? label.dataset.before : "";
  label.style.maxWidth = maxWidth === null ? "" : `${Math.max(maxWidth, 24)}px`;
  label.classList.toggle("inside", side === "inside");
  label.classList.toggle("cut", maxWidth !== null);
}

/** Place each bar label where it is not cut off: after the bar, else before it, else inside it. Labels are
 * monospace, so their widths follow from their length: one measurement, then only writes (no per-row layout,
 * and rows off screen stay unrendered). */
function fitLabels(container) {
  if (!container || !container.isConnected) return;
  const labels = [...container.querySelectorAll(".span-row .wf-dur")];
  if (!labels.length) return;
  const lane = labels[0].parentElement.clientWidth; // every row's timeline has the same width
  const sample = labels.reduce((a, b) => (b.textContent.length > a.textContent.length ? b : a));
  const charWidth = sample.offsetWidth / Math.max(sample.textContent.length, 1);
  if (!lane || !charWidth) return;
  for (const label of labels) {
    const width = label.textContent.length * charWidth;
    const barLeft = (Number(label.dataset.barLeft) / 100) * lane;
    const barRight = (Number(label.dataset.barRight) / 100) * lane;
    const room = { after: lane - 2 - barRight - 6, before: barLeft - 6, inside: Math.min(barRight, lane) - Math.max(barLeft, 0) - 12 };
    if (width <= room.after) placeLabel(label, "after");
    else if (width <= room.before) placeLabel(label, "before");
    else if (width <= room.inside) placeLabel(label, "inside");
    else {
      const side = Object.keys(room).reduce((a, b) => (room[b] > room[a] ? b : a));
      placeLabel(label, side, room[side]); // fits nowhere whole: the roomiest place, cut with an ellipsis
    }
  }
}

function lensStat(label, value, extra) {
  return h("div", { class: ["lens-stat", extra] }, h("div", { class: "lens-label" }, label), h("div", { class: "lens-value" }, value));
}

/** Model calls and tool executions with every span above them: what "LLM only" keeps. */
function llmPath(spans) {
  const keep = new Set();
  for (const span of spans) {
    if (!isLlmSpan(span) && !isToolSpan(span)) continue;
    for (let s = span; s && !keep.has(s); s = s.parent) keep.add(s);
  }
  return keep;
}

function countDescendants(span) {
  let n = 0;
  for (const child of span.children) n += 1 + countDescendants(child);
  return n;
}

function spanMatches(span, needle) {
  if (span.operationName.toLowerCase().includes(needle) || span.serviceName.toLowerCase().includes(needle)) return true;
  if (span.spanID.includes(needle)) return true;
  return span.tags.some((tag) => String(tag.value).toLowerCase().includes(needle));
}
