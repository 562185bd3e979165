// Pure functions over the Jaeger-format trace: tag lookup, the span tree, LLM facts, attribute groups.

/** {key: value} of a Jaeger tag list. */
export function tagMap(tags) {
  const map = {};
  for (const tag of tags || []) map[tag.key] = tag.value;
  return map;
}

/** JSON text parsed, or the value itself when it is not a string; `fallback` when the text is not JSON. */
export function parseJsonish(value, fallback = undefined) {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return fallback === undefined ? value : fallback;
  }
}

/** A list from an array-valued attribute that may arrive as JSON text, a comma list or a scalar. */
export function asList(value) {
  if (value === null || value === undefined || value === "") return [];
  if (Array.isArray(value)) return value;
  const parsed = parseJsonish(value, null);
  if (Array.isArray(parsed)) return parsed;
  return [value];
}

// GenAI operations that are not model calls: a tool run, and the spans that sum up the calls made inside them
// (an agent's gen_ai.usage.*, a workflow's), whose tokens must not count again.
const NOT_MODEL_CALLS = new Set(["execute_tool", "invoke_agent", "invoke_workflow"]);

/** A model call: a GenAI span that is not a tool execution, an agent or a workflow. */
export function isLlmSpan(span) {
  const t = span.tagMap;
  if (NOT_MODEL_CALLS.has(t["gen_ai.operation.name"])) return false;
  return Boolean(t["gen_ai.provider.name"] || t["gen_ai.request.model"] || t["gen_ai.operation.name"]);
}

/** An agent's invocation (its span may carry what it was asked and answered). */
export function isAgentSpan(span) {
  return span.tagMap["gen_ai.operation.name"] === "invoke_agent";
}

export function isToolSpan(span) {
  return span.tagMap["gen_ai.operation.name"] === "execute_tool";
}

export function isErrorSpan(span) {
  const tags = span.tagMap;
  return tags.error === true || tags.error === "true" || tags["otel.status_code"] === "ERROR";
}

/** Model, tokens, cost of one LLM span (absent values are null). */
export function llmFacts(span) {
  const t = span.tagMap;
  const num = (key) => (t[key] === undefined || t[key] === null || t[key] === "" ? null : Number(t[key]));
  return {
    operation: t["gen_ai.operation.name"] || null,
    provider: t["gen_ai.provider.name"] || null,
    requestModel: t["gen_ai.request.model"] || null,
    responseModel: t["gen_ai.response.model"] || null,
    inputTokens: num("gen_ai.usage.input_tokens"),
    outputTokens: num("gen_ai.usage.output_tokens"),
    cacheReadTokens: num("gen_ai.usage.cache_read.input_tokens"),
    cacheWriteTokens: num("gen_ai.usage.cache_write.input_tokens"),
    reasoningTokens: num("gen_ai.usage.reasoning.output_tokens"),
    costUsd: num("llmtel.cost.usd"),
    costStatus: t["llmtel.cost.status"] || null,
    finishReasons: asList(t["gen_ai.response.finish_reasons"]),
    timeToFirstChunk: num("gen_ai.response.time_to_first_chunk"),
    errorType: t["error.type"] || null,
  };
}

/**
 * The trace prepared for display: spans with tag maps, service names, parent/children, depth, and the
 * depth-first order the waterfall shows them in (children by start time).
 */
export function buildTrace(raw) {
  const processes = raw.processes || {};
  const byId = new Map();
  const spans = (raw.spans || []).map((span) => {
    const process = processes[span.processID] || {};
    const prepared = {
      ...span,
      tagMap: tagMap(span.tags),
      serviceName: process.serviceName || "unknown",
      processTags: process.tags || [],
      children: [],
      parent: null,
      depth: 0,
      events: (span.logs || []).map((event) => ({ timestamp: event.timestamp, map: tagMap(event.fields) })),
      records: [],
    };
    byId.set(span.spanID, prepared);
    return prepared;
  });
  const roots = [];
  for (const span of spans) {
    // CHILD_OF is the parent; FOLLOWS_FROM references are span links and do not nest
    const ref = (span.references || []).find((r) => r.refType !== "FOLLOWS_FROM" && r.spanID !== span.spanID);
    if (ref && byId.has(ref.spanID)) {
      span.parent = byId.get(ref.spanID);
      span.parent.children.push(span);
    } else {
      span.missingParent = Boolean(ref);
      roots.push(span);
    }
  }
  const byStart = (a, b) => a.startTime - b.startTime || a.operationName.localeCompare(b.operationName);
  roots.sort(byStart);
  const ordered = [];
  const seen = new Set();
  const visit = (span, depth) => {
    if (seen.has(span)) return; // a reference cycle in bad data must not loop forever
    seen.add(span);
    span.depth = depth;
    ordered.push(span);
    span.children.sort(byStart);
    for (const child of span.children) visit(child, depth + 1);
  };
  for (const root of roots) visit(root, 0);
  for (const span of spans) if (!seen.has(span)) visit(span, 0);
  // reduce, not Math.min(...spread): a trace may have more spans than a call may have arguments
  const start = spans.reduce((min, s) => Math.min(min, s.startTime), Infinity);
  const end = spans.reduce((max, s) => Math.max(max, s.startTime + s.duration), -Infinity);
  const services = [...new Set(ordered.map((s) => s.serviceName))];
  return { traceID: raw.traceID, spans: ordered, byId, roots, start, end, duration: end - start, services };
}

/** Attach the trace's log records to their spans; returns the logs sorted by time. */
export function attachLogs(trace, logs) {
  const sorted = [...(logs || [])].sort((a, b) => a.timestamp - b.timestamp);
  for (const span of trace.spans) span.records = [];
  for (const record of sorted) {
    const span = record.spanID ? trace.byId.get(record.spanID) : null;
    if (span) span.records.push(record);
  }
  return sorted;
}

/** LLM calls, tokens and cost of the model calls under `span` (itself excluded); cached on the span. */
export function subtreeTotals(span) {
  if (span.subtree) return span.subtree;
  const totals = { llmCalls: 0, inputTokens: 0, outputTokens: 0, costUsd: null };
  const stack = [...span.children];
  const seen = new Set();
  while (stack.length) {
    const next = stack.pop();
    if (seen.has(next)) continue;
    seen.add(next);
    stack.push(...next.children);
    if (!isLlmSpan(next)) continue;
    const facts = llmFacts(next);
    totals.llmCalls += 1;
    totals.inputTokens += facts.inputTokens || 0;
    totals.outputTokens += facts.outputTokens || 0;
    if (facts.costUsd !== null) totals.costUsd = (totals.costUsd || 0) + facts.costUsd;
  }
  span.subtree = totals;
  return totals;
}

/** Totals over the trace's LLM spans. */
export function traceTotals(trace) {
  const totals = { llmCalls: 0, inputTokens: 0, outputTokens: 0, costUsd: null, errors: 0, models: new Set() };
  for (const span of trace.spans) {
    if (isErrorSpan(span)) totals.errors += 1;
    if (!isLlmSpan(span)) continue;
    const facts = llmFacts(span);
    totals.llmCalls += 1;
    totals.inputTokens += facts.inputTokens || 0;
    totals.outputTokens += facts.outputTokens || 0;
    if (facts.costUsd !== null) totals.costUsd = (totals.costUsd || 0) + facts.costUsd;
    const model = facts.responseModel || facts.requestModel;
    if (model) totals.models.add(model);
  }
  return totals;
}

const CONTENT_KEYS = new Set([
  "gen_ai.input.messages",
  "gen_ai.output.messages",
  "gen_ai.system_instructions",
  "gen_ai.tool.definitions",
]);

// Attribute groups in display order; a key goes to the first group that accepts it.
const GROUPS = [
  ["GenAI request", (k) =>
    k.startsWith("gen_ai.request.") || k.startsWith("openai.request.") ||
    ["gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.conversation.id", "gen_ai.output.type",
      "gen_ai.embeddings.dimension.count", "openai.api.type"].includes(k)],
  ["GenAI response", (k) =>
    k.startsWith("gen_ai.response.") || k.startsWith("openai.response.") || k.startsWith("llmtel.stream.")],
  ["GenAI usage", (k) => k.startsWith("gen_ai.usage.") || k === "llmtel.usage.source"],
  ["GenAI cost", (k) => k.startsWith("llmtel.cost.")],
  ["GenAI tool", (k) => k.startsWith("gen_ai.tool.") && !CONTENT_KEYS.has(k)],
  ["GenAI content", (k) => CONTENT_KEYS.has(k) || k === "llmtel.content.truncated"],
  ["Error", (k) => k === "error" || k === "error.type" || k.startsWith("otel.status") || k.startsWith("exception.")],
  ["Run", (k) => k.startsWith("llmtel.run.") || k === "llmtel.step" || k === "session.id" || k === "user.id"],
  ["HTTP", (k) => /^(http|url|server|client|network|net|user_agent)\./.test(k)],
  ["Other", () => true],
];

const HIDDEN = new Set(["span.kind", "internal.span.format"]);

/** [[group name, [[key, value], ...]], ...] for a span's tags, non-empty groups only, keys sorted. */
export function groupAttributes(tags) {
  const groups = new Map(GROUPS.map(([name]) => [name, []]));
  for (const tag of tags || []) {
    if (HIDDEN.has(tag.key)) continue;
    const [name] = GROUPS.find(([, test]) => test(tag.key));
    groups.get(name).push([tag.key, tag.value]);
  }
  return [...groups.entries()]
    .filter(([, entries]) => entries.length)
    .map(([name, entries]) => [name, entries.sort((a, b) => a[0].localeCompare(b[0]))]);
}
