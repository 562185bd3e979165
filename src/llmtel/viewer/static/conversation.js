// Captured GenAI content (system instructions, tool definitions, input and output messages) as a conversation.
// Content arrives as JSON text in span attributes; any shape is shown, unknown ones as formatted JSON.

import { h } from "./dom.js";
import { asList, parseJsonish } from "./tracemodel.js";

/** Pretty JSON for objects, the text itself for strings. */
export function prettyValue(value) {
  if (typeof value === "string") {
    const parsed = parseJsonish(value, null);
    if (parsed !== null && typeof parsed === "object") return JSON.stringify(parsed, null, 2);
    return value;
  }
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

function truncationNote(marker) {
  if (!marker || typeof marker !== "object") return null;
  const bits = ["truncated"];
  if (marker.length !== undefined) bits.push(`${Number(marker.length).toLocaleString()} chars in full`);
  if (marker.sha256) bits.push(`sha256 ${marker.sha256}`);
  return h("div", { class: "truncated-note", title: "The captured text was cut to LLMTEL_CONTENT_MAX_LENGTH" }, bits.join(" · "));
}

/** Text content that may be a string, a {preview, truncated} marker, or anything else. */
function textBlock(content, marker) {
  if (content && typeof content === "object" && !Array.isArray(content) && ("preview" in content || "truncated" in content)) {
    return [h("div", { class: "msg-text" }, String(content.preview ?? "")), truncationNote(content.truncated || content)];
  }
  if (typeof content === "string") return [h("div", { class: "msg-text" }, content), truncationNote(marker)];
  if (content === undefined || content === null) return [h("div", { class: "msg-text muted" }, "(empty)"), truncationNote(marker)];
  return [h("pre", { class: "code" }, prettyValue(content)), truncationNote(marker)];
}

function codeBlock(value) {
  if (value && typeof value === "object" && !Array.isArray(value) && "preview" in value && "truncated" in value) {
    return [h("pre", { class: "code" }, String(value.preview)), truncationNote(value.truncated)];
  }
  return h("pre", { class: "code" }, prettyValue(value));
}

function renderPart(part, toolNames) {
  if (typeof part === "string") return h("div", { class: "part text" }, textBlock(part));
  if (!part || typeof part !== "object") return h("div", { class: "part text" }, textBlock(String(part)));
  const type = part.type || "unknown";
  switch (type) {
    case "text":
      return h("div", { class: "part text" }, textBlock(part.content, part.truncated));
    case "reasoning":
    case "thinking":
      return h(
        "details",
        { class: "part reasoning" },
        h("summary", null, "Reasoning"),
        textBlock(part.content, part.truncated),
      );
    case "tool_call":
    case "server_tool_call":
      return h(
        "div",
        { class: "part tool-call" },
        h(
          "div",
          { class: "tool-head" },
          h("span", { class: "tool-icon", "aria-hidden": "true" }, "ƒ"),
          h("span", { class: "tool-label" }, "Tool call"),
          h("span", { class: "tool-name mono" }, part.name || (part.server_tool_call && part.server_tool_call.type) || "?"),
          part.id ? h("span", { class: "tool-id mono muted" }, part.id) : null,
        ),
        part.arguments !== undefined ? codeBlock(part.arguments) : null,
      );
    case "tool_call_response":
    case "server_tool_call_response": {
      const name = part.id && toolNames.get(part.id);
      return h(
        "div",
        { class: "part tool-result" },
        h(
          "div",
          { class: "tool-head" },
          h("span", { class: "tool-icon", "aria-hidden": "true" }, "↩"),
          h("span", { class: "tool-label" }, "Tool result"),
          name ? h("span", { class: "tool-name mono" }, name) : null,
          part.id ? h("span", { class: "tool-id mono muted" }, part.id) : null,
        ),
        codeBlock(part.response ?? part.result ?? part.content ?? null),
      );
    }
    case "blob":
    case "uri":
    case "file":
    case "image":
    case "audio": {
      const label = [part.modality, part.mime_type, part.uri, part.file_id].filter(Boolean).join(" · ") || type;
      return h("div", { class: "part media" }, h("span", { class: "chip" }, type), " ", label);
    }
    default:
      return h("div", { class: "part other" }, h("span", { class: "chip" }, type), codeBlock(part));
  }
}

function collectToolNames(messageLists) {
  const names = new Map();
  for (const messages of messageLists) {
    if (!Array.isArray(messages)) continue;
    for (const message of messages) {
      for (const part of (message && Array.isArray(message.parts) && message.parts) || []) {
        if (part && part.type === "tool_call" && part.id) names.set(part.id, part.name);
      }
    }
  }
  return names;
}

function renderMessage(message, toolNames, { output = false } = {}) {
  if (!message || typeof message !== "object") return h("div", { class: "msg" }, textBlock(message));
  const role = String(message.role || (output ? "assistant" : "unknown"));
  const parts = Array.isArray(message.parts)
    ? message.parts
    : message.content !== undefined
      ? [{ type: "text", content: message.content }]
      : [];
  return h(
    "div",
    { class: ["msg", `role-${role.replace(/[^a-z_-]/gi, "")}`, output ? "output" : null], dataset: { role } },
    h(
      "div",
      { class: "msg-head" },
      h("span", { class: "role" }, role),
      message.name ? h("span", { class: "mono muted" }, message.name) : null,
      message.finish_reason ? h("span", { class: "chip finish", title: "finish reason" }, message.finish_reason) : null,
    ),
    parts.length ? parts.map((part) => renderPart(part, toolNames)) : h("div", { class: "msg-text muted" }, "(no parts)"),
  );
}

function renderMessages(value, toolNames, options, finishReasons = []) {
  const parsed = parseJsonish(value, null);
  if (!Array.isArray(parsed)) return h("pre", { class: "code" }, typeof value === "string" ? value : prettyValue(value));
  return parsed.map((message, index) => {
    // an output message without its own finish_reason takes the span's (one per choice, in order)
    const withReason =
      options.output && message && typeof message === "object" && !message.finish_reason && finishReasons[index]
        ? { ...message, finish_reason: finishReasons[index] }
        : message;
    return renderMessage(withReason, toolNames, options);
  });
}

function renderToolDefinitions(value) {
  const parsed = parseJsonish(value, null);
  if (!Array.isArray(parsed)) return h("pre", { class: "code" }, prettyValue(value));
  return parsed.map((tool) => {
    const fn = tool && typeof tool === "object" ? tool.function || tool : {};
    return h(
      "details",
      { class: "tool-def" },
      h(
        "summary",
        null,
        h("span", { class: "tool-name mono" }, fn.name || tool.type || "tool"),
        fn.description ? h("span", { class: "muted" }, ` — ${fn.description}`) : null,
      ),
      h("pre", { class: "code" }, prettyValue(fn.parameters !== undefined ? fn.parameters : tool)),
    );
  });
}

/** The conversation of one span, from its tag map; null when no content was captured. */
export function renderConversation(tags) {
  const system = tags["gen_ai.system_instructions"];
  const tools = tags["gen_ai.tool.definitions"];
  const input = tags["gen_ai.input.messages"];
  const output = tags["gen_ai.output.messages"];
  if ([system, tools, input, output].every((v) => v === undefined)) return null;
  const toolNames = collectToolNames([parseJsonish(input, null), parseJsonish(output, null)]);
  const systemParts = parseJsonish(system, null);
  return h(
    "div",
    { class: "conversation" },
    system !== undefined
      ? h(
          "div",
          { class: "msg role-system" },
          h("div", { class: "msg-head" }, h("span", { class: "role" }, "system instructions")),
          Array.isArray(systemParts) ? systemParts.map((p) => renderPart(p, toolNames)) : textBlock(system),
        )
      : null,
    tools !== undefined
      ? h(
          "div",
          { class: "tool-defs" },
          h("div", { class: "conv-label" }, `Tools offered (${(parseJsonish(tools, null) || []).length || "?"})`),
          renderToolDefinitions(tools),
        )
      : null,
    input !== undefined ? [h("div", { class: "conv-label" }, "Input"), renderMessages(input, toolNames, {})] : null,
    output !== undefined
      ? [
          h("div", { class: "conv-label" }, "Output"),
          renderMessages(output, toolNames, { output: true }, asList(tags["gen_ai.response.finish_reasons"]).map(String)),
        ]
      : null,
  );
}
