// The detail panel of one span: summary, LLM facts, conversation, grouped attributes, events, logs, resource.

import { prettyValue, renderConversation } from "./conversation.js";
import { copyButton, h } from "./dom.js";
import { formatCost, formatDuration, formatOffset, formatTimestamp, formatTokens } from "./format.js";
import { serviceColor } from "./palette.js";
import {
  groupAttributes,
  isAgentSpan,
  isErrorSpan,
  isLlmSpan,
  isToolSpan,
  llmFacts,
  parseJsonish,
  subtreeTotals,
} from "./tracemodel.js";

function valueCell(value) {
  if (typeof value === "string") {
    const parsed = parseJsonish(value, null);
    if (parsed !== null && typeof parsed === "object") {
      const compact = JSON.stringify(parsed);
      if (compact.length <= 60) return h("span", { class: "v-json" }, compact);
      const text = JSON.stringify(parsed, null, 2);
      return text.length > 240 || text.split("\n").length > 8
        ? h("details", { class: "json" }, h("summary", null, `${Array.isArray(parsed) ? "array" : "object"} · ${value.length} chars`), h("pre", { class: "code" }, text))
        : h("pre", { class: "code inline" }, text);
    }
    return h("span", { class: "v-str" }, value);
  }
  if (typeof value === "boolean") return h("span", { class: "v-bool" }, String(value));
  if (typeof value === "number") return h("span", { class: "v-num" }, String(value));
  return h("pre", { class: "code inline" }, prettyValue(value));
}

// ids the trace list can search for: shown as links to the list filtered by them
const SEARCHABLE = new Set(["llmtel.run.id", "session.id"]);

function kvTable(entries) {
  const cell = (key, value) =>
    SEARCHABLE.has(key) && typeof value === "string"
      ? h("a", { href: `/?q=${encodeURIComponent(value)}`, "data-nav": "", title: "Traces with this id" }, value)
      : valueCell(value);
  return h(
    "table",
    { class: "kv" },
    h(
      "tbody",
      null,
      entries.map(([key, value]) => h("tr", { dataset: { key } }, h("th", { class: "mono" }, key), h("td", null, cell(key, value)))),
    ),
  );
}

function section(title, body, { open = true, count = null, id = null } = {}) {
  return h(
    "details",
    { class: "section", open, dataset: { section: id || title } },
    h("summary", null, h("span", null, title), count !== null ? h("span", { class: "count" }, String(count)) : null),
    h("div", { class: "section-body" }, body),
  );
}

function fact(label, value, sub, wide = false) {
  return h(
    "div",
    { class: ["fact", wide ? "wide" : null] },
    h("div", { class: "fact-label" }, label),
    h("div", { class: "fact-value mono" }, value),
    sub ? h("div", { class: "fact-sub muted" }, sub) : null,
  );
}

function llmCard(span) {
  const f = llmFacts(span);
  const model =
    f.responseModel && f.requestModel && f.responseModel !== f.requestModel
      ? `${f.requestModel} → ${f.responseModel}`
      : f.responseModel || f.requestModel || "—";
  const inputSub = [f.cacheReadTokens ? `${formatTokens(f.cacheReadTokens)} cached` : null,
    f.cacheWriteTokens ? `${formatTokens(f.cacheWriteTokens)} cache write` : null].filter(Boolean).join(", ");
  return h(
    "div",
    { class: "facts" },
    fact("Model", model, [f.provider, f.operation].filter(Boolean).join(" · "), true),
    fact("Input tokens", f.inputTokens === null ? "—" : formatTokens(f.inputTokens), inputSub || null),
    fact("Output tokens", f.outputTokens === null ? "—" : formatTokens(f.outputTokens),
      f.reasoningTokens ? `${formatTokens(f.reasoningTokens)} reasoning` : null),
    fact("Cost", formatCost(f.costUsd), f.costStatus && f.costStatus !== "priced" ? f.costStatus : null),
    fact("Finish", f.finishReasons.length ? f.finishReasons.join(", ") : f.errorType ? "error" : "—",
      f.timeToFirstChunk !== null ? `first chunk ${formatDuration(f.timeToFirstChunk * 1e6)}` : null),
  );
}

function rollupCard(span) {
  const totals = subtreeTotals(span);
  if (!totals.llmCalls) return null;
  return h(
    "div",
    { class: "facts rollup", title: "Summed over the model calls below this span" },
    fact("Model calls below", String(totals.llmCalls)),
    fact("Input tokens", formatTokens(totals.inputTokens)),
    fact("Output tokens", formatTokens(totals.outputTokens)),
    fact("Cost", formatCost(totals.costUsd)),
  );
}

function errorCard(span) {
  const t = span.tagMap;
  const exceptions = (span.events || []).filter((e) => e.map.event === "exception");
  const message = t["otel.status_description"] || (exceptions[0] && exceptions[0].map["exception.message"]);
  return h(
    "div",
    { class: "error-card", role: "note" },
    h("div", { class: "error-title" }, "Error", t["error.type"] ? h("span", { class: "mono" }, ` · ${t["error.type"]}`) : null),
    message ? h("div", { class: "error-message" }, message) : null,
  );
}

function eventList(span, traceStart) {
  return span.events.map((event) => {
    const fields = Object.entries(event.map).filter(([k]) => k !== "event");
    const trace = event.map["exception.stacktrace"];
    return h(
      "div",
      { class: "event" },
      h(
        "div",
        { class: "event-head" },
        h("span", { class: "mono muted" }, formatOffset(event.timestamp - traceStart)),
        h("strong", null, event.map.event || "event"),
      ),
      kvTable(fields.filter(([k]) => k !== "exception.stacktrace")),
      trace ? h("details", null, h("summary", null, "stack trace"), h("pre", { class: "code" }, trace)) : null,
    );
  });
}

/** Log record lines in time order; `onClick(record)` makes them clickable, `showSpan(record)` labels their span. */
export function logLines(records, traceStart, { onClick = null, showSpan = null } = {}) {
  return records.map((record) => {
    const severity = (record.severityText || severityName(record.severityNumber)).toUpperCase();
    const attrs = Object.entries(record.attributes || {}).filter(([k]) => !QUIET_LOG_KEYS.has(k) && !k.startsWith("code."));
    const line = h(
      "div",
      {
        class: ["log-line", `sev-${severityClass(record.severityNumber, severity)}`, onClick ? "clickable" : null],
        dataset: { spanId: record.spanID || "" },
        tabindex: onClick ? "0" : null,
        title: onClick ? "Show the span this record was written in" : null,
      },
      h("span", { class: "log-time mono", title: formatTimestamp(record.timestamp) }, formatOffset(record.timestamp - traceStart)),
      h("span", { class: "log-sev" }, severity || "LOG"),
      showSpan ? h("span", { class: "log-span mono" }, showSpan(record)) : null,
      record.body === null || record.body === undefined || record.body === ""
        ? h("span", { class: "log-body muted" }, record.eventName ? `event ${record.eventName}` : "(no body)")
        : h("span", { class: "log-body" }, typeof record.body === "string" ? record.body : prettyValue(record.body)),
      attrs.length
        ? h("span", { class: "log-attrs mono" }, attrs.map(([k, v]) => h("span", { class: "log-attr", title: k }, h("span", { class: "k" }, `${k}=`), clip(typeof v === "string" ? v : JSON.stringify(v)))))
        : null,
    );
    if (onClick) {
      line.addEventListener("click", () => onClick(record));
      line.addEventListener("keydown", (event) => {
        if (event.key === "Enter") onClick(record);
      });
    }
    return line;
  });
}

const INFERENCE_EVENT = "gen_ai.client.inference.operation.details";

// the same for every record of a run, or shown elsewhere: left out of log lines
const QUIET_LOG_KEYS = new Set(["thread.name", "llmtel.run.id", "llmtel.step", "session.id", "user.id"]);

/** Long attribute values (captured content on events) cut for a one-line view. */
function clip(text, limit = 160) {
  return text && text.length > limit ? `${text.slice(0, limit)}… (${text.length} chars)` : text;
}

export function severityName(number) {
  if (!number) return "";
  if (number <= 4) return "TRACE";
  if (number <= 8) return "DEBUG";
  if (number <= 12) return "INFO";
  if (number <= 16) return "WARN";
  if (number <= 20) return "ERROR";
  return "FATAL";
}

export function severityClass(number, text) {
  const name = number ? severityName(number) : (text || "").toUpperCase();
  if (name.startsWith("ERR") || name.startsWith("FATAL") || name.startsWith("CRIT")) return "error";
  if (name.startsWith("WARN")) return "warn";
  if (name.startsWith("DEBUG") || name.startsWith("TRACE")) return "debug";
  return "info";
}

function linkList(links) {
  return links.map((ref) => {
    const href = `/trace/${encodeURIComponent(ref.traceID)}?span=${encodeURIComponent(ref.spanID)}`;
    return h(
      "div",
      { class: "link-line mono" },
      h("a", { href, "data-nav": "" }, `${ref.traceID.slice(0, 16)}… / ${ref.spanID}`),
    );
  });
}

/** The panel for `span` of `trace`; `onClose` hides it. */
export function renderDetails(span, trace, { onClose }) {
  const t = span.tagMap;
  const llm = isLlmSpan(span);
  const failed = isErrorSpan(span);
  // content is on the span (SPAN_ONLY) or on the inference-details event, a log record of the span (EVENT_ONLY)
  const contentEvent = span.records.find((r) => r.eventName === INFERENCE_EVENT || (r.attributes && "gen_ai.input.messages" in r.attributes));
  const conversation =
    llm || isToolSpan(span) || isAgentSpan(span)
      ? renderConversation(t) || (contentEvent ? renderConversation(contentEvent.attributes || {}) : null)
      : null;
  const groups = groupAttributes(span.tags).filter(([name]) => !(conversation && name === "GenAI content"));
  const rawContent = groupAttributes(span.tags).find(([name]) => name === "GenAI content");
  const kind = t["span.kind"];
  const links = (span.references || []).filter((ref) => ref.refType === "FOLLOWS_FROM");
  return h(
    "aside",
    { class: ["details", failed ? "failed" : null], "aria-label": "Span details", dataset: { spanId: span.spanID } },
    h(
      "header",
      { class: "details-head" },
      h(
        "div",
        { class: "details-title" },
        h("span", { class: "service-dot", style: { "--service": serviceColor(span.serviceName) } }),
        h("h2", null, span.operationName),
        h("button", { class: "close", type: "button", title: "Close (Esc)", "aria-label": "Close details", onclick: onClose }, "×"),
      ),
      h(
        "div",
        { class: "details-meta" },
        h("span", null, span.serviceName),
        kind ? h("span", { class: "chip" }, kind) : null,
        llm ? h("span", { class: "chip llm" }, "LLM") : null,
        isToolSpan(span) ? h("span", { class: "chip tool" }, "tool") : null,
        failed ? h("span", { class: "badge error" }, "error") : null,
      ),
      h(
        "div",
        { class: "details-ids" },
        h("span", { class: "muted" }, "span "),
        h("span", { class: "mono", title: "span id" }, span.spanID),
        copyButton(span.spanID),
        h("span", { class: "sep" }, "·"),
        h("span", { class: "muted" }, "start "),
        h("span", { class: "mono", title: formatTimestamp(span.startTime) }, formatOffset(span.startTime - trace.start)),
        h("span", { class: "sep" }, "·"),
        h("span", { class: "muted" }, "duration "),
        h("span", { class: "mono" }, formatDuration(span.duration)),
      ),
    ),
    failed ? errorCard(span) : null,
    (span.warnings || []).length
      ? h("div", { class: "warn-card", role: "note" }, span.warnings.map((w) => h("div", null, String(w))))
      : null,
    llm ? llmCard(span) : rollupCard(span),
    conversation ? section("Conversation", conversation, { id: "conversation" }) : null,
    groups.map(([name, entries]) => section(name, kvTable(entries), { count: entries.length, id: name })),
    conversation && rawContent ? section("GenAI content (raw)", kvTable(rawContent[1]), { open: false, id: "GenAI content" }) : null,
    span.events.length
      ? section("Events", eventList(span, trace.start), { count: span.events.length, id: "events" })
      : null,
    span.records.length
      ? section("Logs", h("div", { class: "log-list compact" }, logLines(span.records, trace.start)), { count: span.records.length, id: "logs" })
      : null,
    links.length ? section("Links", linkList(links), { count: links.length, id: "links" }) : null,
    section("Resource", kvTable(span.processTags.map((tag) => [tag.key, tag.value]).sort((a, b) => a[0].localeCompare(b[0]))), {
      open: false,
      count: span.processTags.length,
      id: "resource",
    }),
  );
}
