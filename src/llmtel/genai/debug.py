"""Debug view (``LLMTEL_DEBUG=true``): each finished GenAI call, tool run and agent invocation printed readably
on stderr, for development.

It consumes the provider-neutral ``GenAICall`` when the call finishes: model, latency, tokens, cost, finish
reasons, the full prompt and response, and the diagnosis of a failure; a tool run's arguments and result; an
agent's sums of the calls and tools inside. What is shown here is collected for the console only; it is exported
over OTLP only when content capture is on as well. ``format_call``, ``format_tool`` and ``format_agent`` are pure
functions; ``DebugView`` is the thin part that writes.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from llmtel import semconv as sc
from llmtel.cost import Cost
from llmtel.genai.record import GenAICall

_logger = logging.getLogger("llmtel.genai")
_INDENT = "    "


def _parts(*subsets: tuple[int | None, str]) -> str:
    """`` (400 cached, 20 audio)``: the subsets of a token count that there were some of."""
    named = [f"{count} {name}" for count, name in subsets if count]
    return f" ({', '.join(named)})" if named else ""


def _ms(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds * 1000:.1f} ms"


def _indent(text: str) -> str:
    return text.replace("\n", "\n" + _INDENT + "  ")


def _part_text(part: dict[str, Any]) -> str:
    kind = part.get("type")
    if kind in ("text", "refusal", "reasoning"):
        text = str(part.get("content", ""))
        if "truncated" in part:
            text += f" [... {part['truncated'].get('length')} chars in all]"
        return text if kind == "text" else f"({kind}) {text}"
    if kind == "tool_call":
        arguments = json.dumps(part.get("arguments"), ensure_ascii=False, default=str)
        return f"tool call {part.get('name')}({arguments}) id={part.get('id')}"
    if kind == "tool_call_response":
        response = json.dumps(part.get("response"), ensure_ascii=False, default=str)
        return f"tool result id={part.get('id')}: {response}"
    if kind in ("blob", "uri", "file"):
        return f"[{part.get('modality', kind)} {part.get('mime_type') or part.get('uri') or ''}]".replace(" ]", "]")
    return f"[{kind}]"


def _messages(label: str, messages: list[dict[str, Any]] | None) -> list[str]:
    lines = []
    for message in messages or ():
        role = message.get("role", "?")
        texts = [_part_text(p) for p in message.get("parts", ()) if isinstance(p, dict)]
        lines.append(f"{_INDENT}{label} {role}: {_indent(' | '.join(texts)) if texts else '(empty)'}")
    return lines


def format_call(call: GenAICall, cost: Cost | None = None) -> str:
    """A few readable lines about one finished call (no trailing newline)."""
    model = call.request_model or "?"
    if call.response_model and call.response_model != call.request_model:
        model = f"{model} -> {call.response_model}"
    head = f"[llmtel] {call.operation} {model} ({call.provider}) {_ms(call.duration)}"
    if call.time_to_first_chunk is not None:
        head += f", first chunk {_ms(call.time_to_first_chunk)}"
    lines = [head]

    usage = []
    if call.input_tokens is not None:
        usage.append(f"{call.input_tokens} in" + _parts((call.cache_read_tokens, "cached"),
                                                        (call.cache_write_tokens, "written to the cache"),
                                                        (call.input_audio_tokens, "audio"),
                                                        (call.input_image_tokens, "image")))
    if call.output_tokens is not None:
        usage.append(f"{call.output_tokens} out" + _parts((call.reasoning_tokens, "reasoning"),
                                                          (call.output_audio_tokens, "audio")))
    details = [f"tokens: {', '.join(usage) if usage else 'not reported'}"]
    if call.hosted_tool_calls:
        tools = (f"{count} {kind.replace('_', ' ')}" for kind, count in call.hosted_tool_calls.items())
        details.append(f"tools: {', '.join(tools)}")
    if cost is not None and cost.usd is None:
        details.append(f"cost: {cost.status}")
    elif cost is not None:
        partial = " (partially priced)" if cost.status == "partially_priced" else ""
        details.append(f"cost: ${cost.usd:.6f}{partial}")
    if call.finish_reasons:
        details.append(f"finish: {','.join(call.finish_reasons)}")
    if call.response_id:
        details.append(f"id: {call.response_id}")
    lines.append(_INDENT + "  ".join(details))

    if call.system_instructions:
        texts = [_part_text(p) for p in call.system_instructions]
        lines.append(f"{_INDENT}> system: {_indent(' | '.join(texts))}")
    lines.extend(_messages(">", call.input_messages))
    lines.extend(_messages("<", call.output_messages))
    if call.error_type is not None:
        lines.append(f"{_INDENT}! error: {call.error_type}: {call.error_message or ''}".rstrip())
        if call.diagnosis is not None:
            lines.append(f"{_INDENT}! {call.diagnosis.mode}: {call.diagnosis.hint}")
    return "\n".join(lines)


def format_tool(
    name: str, seconds: float | None, *, call_id: str | None = None, arguments: str | None = None,
    result: str | None = None, error: str | None = None,
) -> str:
    """A few readable lines about one finished tool run; ``arguments`` and ``result`` as JSON text, cleaned."""
    head = f"[llmtel] {sc.OP_EXECUTE_TOOL} {name} {_ms(seconds)}"
    if call_id:
        head += f"  call id: {call_id}"
    lines = [head]
    if arguments is not None:
        lines.append(f"{_INDENT}> arguments: {_indent(arguments)}")
    if result is not None:
        lines.append(f"{_INDENT}< result: {_indent(result)}")
    if error is not None:
        lines.append(f"{_INDENT}! error: {error}")
    return "\n".join(lines)


def format_agent(name: str | None, seconds: float | None, totals: Mapping[str, Any], error: str | None = None) -> str:
    """A few readable lines about one finished agent invocation, with the sums of its span (``AGENT_TOTALS``)."""
    head = f"[llmtel] {sc.OP_INVOKE_AGENT} {name or '(unnamed)'} {_ms(seconds)}"
    calls = totals.get(sc.LLMTEL_AGENT_LLM_CALLS, 0)
    tools = totals.get(sc.LLMTEL_AGENT_TOOL_CALLS, 0)
    details = [f"{calls} LLM call{'' if calls == 1 else 's'}", f"{tools} tool run{'' if tools == 1 else 's'}"]
    if sc.GEN_AI_USAGE_INPUT_TOKENS in totals or sc.GEN_AI_USAGE_OUTPUT_TOKENS in totals:
        details.append(f"tokens: {totals.get(sc.GEN_AI_USAGE_INPUT_TOKENS, 0)} in, "
                       f"{totals.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS, 0)} out")
    usd = totals.get(sc.LLMTEL_AGENT_COST_USD)
    status = totals.get(sc.LLMTEL_AGENT_COST_STATUS)
    if usd is not None:
        details.append(f"cost: ${usd:.6f}" + (" (partially priced)" if status == "partially_priced" else ""))
    elif status is not None:
        details.append(f"cost: {status}")
    lines = [head, _INDENT + "  ".join(details)]
    if error is not None:
        lines.append(f"{_INDENT}! error: {error}")
    return "\n".join(lines)


class DebugView:
    """The ``debug_view`` consumer behind ``LLMTEL_DEBUG``: prints each call, with the cost emission computed,
    to ``stream`` (stderr by default, looked up at write time). Never raises."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self._warned = False

    def __call__(self, call: GenAICall, cost: Cost | None = None) -> None:
        self.show(format_call, call, cost)

    def show(self, formatter: Callable[..., str], *args: Any, **kwargs: Any) -> None:
        """Write what ``formatter`` makes of the arguments. Never raises."""
        try:
            text = formatter(*args, **kwargs)
            stream = self.stream or sys.stderr
            stream.write(text + "\n")
            stream.flush()
        except Exception:  # noqa: BLE001 - a debug aid must never break the call
            if not self._warned:
                self._warned = True
                _logger.warning("llmtel: the debug view could not print a call (logged once)", exc_info=True)


# The view in force for tool runs and agent invocations, which happen outside a provider's calls: set when
# instrumenting with the debug view on, cleared when uninstrumenting.
_active: list[DebugView] = []


def use_debug_view(view: DebugView | None) -> None:
    """Make ``view`` the one tool runs and agents print to (None: they print nothing)."""
    _active[:] = [] if view is None else [view]


def active_debug_view() -> DebugView | None:
    """The debug view in force, if the debug view is on."""
    return _active[0] if _active else None
