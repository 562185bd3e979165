"""What each of the Agents SDK's traces and spans becomes in llmtel's terms, read from the SDK's own span data.

Pure functions over the SDK's objects (read by attribute, so a test can hand in plain stand-ins; the one look
beyond them: whether a custom span was entered by the SDK's own code, read from the caller's frames):

- a trace (one ``Runner.run``, or the app's ``agents.trace(...)`` block) is a workflow run (``llmtel.run``: an
  ``invoke_workflow`` span named after the trace's workflow name, a run id in the Context and in baggage, the
  calls' totals as it ends, the trace's metadata as the run's attributes); inside an ``llmtel.run`` of the
  app's, it keeps that run's id, session, user and attributes;
- an agent span is an ``invoke_agent {name}`` span (``llmtel.agent``), summing the model calls and tools inside;
- a function span (a function tool, or an MCP server's tool) is an ``execute_tool {name}`` span (``llmtel.tool``),
  with the call's id (from the tool context the SDK makes inside it), and its arguments and result as content
  when content capture is on (never inside a run that keeps sensitive data out of its traces: ``sensitive``,
  which keeps its agents' content out too);
- a custom span (``agents.custom_span``) is a step (``llmtel.step``), except the hidden stand-in the SDK opens
  itself to mask the caller's span while a run's tracing is off (``RunConfig(tracing_disabled=True)``);
- guardrail and handoff spans are plain INTERNAL spans: ``guardrail {name}`` (``llmtel.guardrail.*``, whether
  its tripwire fired) and ``handoff {to agent}`` (``llmtel.handoff.*``);
- a generation span of a model reached other than through the openai client (LiteLLM, any-llm), and the response
  span of an any-llm model's Responses API call, is that model call's GenAI span (``generations``);
- everything else (the SDK's task and turn spans, its OpenAI models' generation and response spans, speech and
  MCP listing spans) adds nothing: the model calls inside are the OpenAI instrumentation's spans, nested under the
  agent's.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from llmtel import pipeline
from llmtel import semconv as sc
from llmtel.agents import Agent, _AgentEntry
from llmtel.genai.content import json_ready
from llmtel.instrumentation.openai_agents import sensitive
from llmtel.instrumentation.openai_agents.generations import begin_generation, begin_response
from llmtel.pipeline import Run, Step, _Entry
from llmtel.tools import _UNSET, Tool, _ToolEntry

DEFAULT_WORKFLOW_NAME = "Agent workflow"  # the SDK's own default, for a trace that has no name
NOOP_TRACE_ID = "no-op"  # the id of the SDK's stand-in trace (and stand-in spans) while its tracing is disabled
# The names of the custom spans the SDK opens with ``disabled=True`` only to mask the caller's span: ``Agent run``
# (``TraceCtxManager`` and ``run_streamed``'s loop, with ``RunConfig(tracing_disabled=True)``), ``Voice pipeline``.
MASK_SPAN_NAMES = frozenset({"Agent run", "Voice pipeline"})
# Modules between the code that enters an SDK span and our hook: the span's ``__enter__``/``start``, ``Scope``,
# ``contextlib`` (``ExitStack.enter_context``) and llmtel's own wrappers.
_PASS_THROUGH_MODULES = ("agents.tracing.spans", "agents.tracing.scope", "contextlib", "llmtel.")
EXTENSION = "extension"  # ``gen_ai.tool.type`` of an MCP server's tool: an agent-side extension of the model


class AgentsSpanError(Exception):
    """An error the Agents SDK recorded on its span (a failed tool, a failed run) that did not reach us as an
    exception: the span's ``error.type``, and its message (``message: error``) as the exception's."""


def begin_trace(sdk_trace: Any) -> _Entry | None:
    """The workflow run a trace starts (None for the SDK's no-op trace, which has neither name nor id)."""
    trace_id = getattr(sdk_trace, "trace_id", None)
    if trace_id == NOOP_TRACE_ID:
        return None
    name = getattr(sdk_trace, "name", None) or DEFAULT_WORKFLOW_NAME
    metadata = metadata_attributes(getattr(sdk_trace, "metadata", None))
    entry = _workflow(str(name), _text(getattr(sdk_trace, "group_id", None)), metadata)._begin()
    if isinstance(trace_id, str) and entry.span.is_recording():
        entry.span.set_attribute(sc.LLMTEL_OPENAI_AGENTS_TRACE_ID, trace_id)
    return entry


def _workflow(name: str, group_id: str | None, metadata: dict[str, Any]) -> Run:
    """A run for the trace, with its metadata as the run's attributes (on every span inside); inside a run of the
    app's, one that keeps its identity (id, session, user, turn) and attributes."""
    outer = pipeline.current_run()
    if outer is None:
        return Run(name, conversation_id=group_id, **metadata)
    return Run(name, run_id=outer.run_id, session_id=outer.session_id, user_id=outer.user_id,
               conversation_id=group_id or outer.conversation_id, turn=outer.turn,
               propagate_identity=outer.propagate_identity, **{**outer.attributes, **metadata})


def metadata_attributes(metadata: Any) -> dict[str, Any]:
    """A trace's metadata as attributes: ``llmtel.openai_agents.metadata.{key}`` for each key that is a non-blank
    text; a text, number or boolean kept as it is, anything else as its JSON text."""
    if not isinstance(metadata, Mapping):
        return {}
    return {sc.LLMTEL_OPENAI_AGENTS_METADATA_PREFIX + key: _attribute_value(value)
            for key, value in metadata.items() if _text(key) and value is not None}


def _attribute_value(value: Any) -> str | bool | int | float:
    if isinstance(value, (str, bool, int, float)):
        return value
    return json.dumps(json_ready(value), ensure_ascii=False, sort_keys=True, default=str)


def begin_span(sdk_span: Any) -> _Entry | None:
    """The entry an SDK span starts, by the kind of its span data; None for a kind that adds nothing."""
    data = getattr(sdk_span, "span_data", None)
    kind = getattr(data, "type", None)
    if kind == "agent":
        entry = Agent(_text(data.name) or None)._begin()
        if isinstance(entry, _AgentEntry) and sensitive.withheld(entry.context):
            entry.withheld = True  # the run keeps sensitive data out of its traces: no content on its agents
        return entry
    if kind == "function":
        return Tool(_text(data.name) or "tool", type=EXTENSION if data.mcp_data else "function")._begin()
    if kind == "custom":
        return None if is_mask_span(sdk_span) else Step(_text(data.name) or "custom")._begin()
    if kind == "guardrail":
        name = _text(data.name) or "guardrail"
        return _marker(f"{sc.OP_GUARDRAIL} {name}", {sc.LLMTEL_GUARDRAIL_NAME: name})
    if kind == "handoff":
        origin = _text(data.from_agent)
        return _marker(sc.OP_HANDOFF, {sc.LLMTEL_HANDOFF_FROM_AGENT: origin} if origin else {})
    if kind == "generation":
        return begin_generation(data)
    if kind == "response":
        return begin_response(data)
    return None


def is_mask_span(sdk_span: Any) -> bool:
    """Whether a custom span is the SDK's stand-in that masks the caller's span while a run's tracing is off: a
    no-op span, with one of the SDK's mask names and no data, entered by the SDK's own code. It stands for nothing
    the app did (a step for it would replace the app's own step), so it starts nothing; the same span entered by
    the app is a step as any other."""
    data = sdk_span.span_data
    return (getattr(sdk_span, "span_id", None) == NOOP_TRACE_ID and getattr(data, "name", None) in MASK_SPAN_NAMES
            and not getattr(data, "data", None) and _entered_by_the_sdk())


def _entered_by_the_sdk(depth: int = 16) -> bool:
    """Whether the nearest caller outside the span's own machinery (``__enter__``, ``Scope``, ``contextlib``,
    llmtel's hooks) is a module of the SDK's ``agents`` package."""
    frame = sys._getframe(1)
    while frame is not None and depth > 0:
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(_PASS_THROUGH_MODULES):
            return module == "agents" or module.startswith("agents.")
        frame, depth = frame.f_back, depth - 1
    return False


def _marker(name: str, attributes: dict[str, Any]) -> _Entry:
    """A plain INTERNAL span for an SDK step no GenAI convention describes."""
    span = pipeline._tracer.start_span(name, kind=SpanKind.INTERNAL, attributes=attributes)
    return _Entry(span, trace.set_span_in_context(span))


def note_tool_call_id(entry: _Entry, call_id: Any) -> None:
    """The model's id for a tool call onto its tool's span (``gen_ai.tool.call.id``), once: the first tool context
    made inside the span is the call's own."""
    if isinstance(entry, _ToolEntry) and entry.call_id is None and _text(call_id):
        entry.call_id = call_id
        if entry.span.is_recording():
            entry.span.set_attribute(sc.GEN_AI_TOOL_CALL_ID, call_id)


def mark_mcp_tool(entry: _Entry) -> None:
    """A tool span found to be an MCP server's tool: ``gen_ai.tool.type=extension`` on the span, and on its
    duration metric point (recorded from ``entry.type`` as it ends)."""
    if isinstance(entry, _ToolEntry) and entry.type != EXTENSION:
        entry.type = EXTENSION
        if entry.span.is_recording():
            entry.span.set_attribute(sc.GEN_AI_TOOL_TYPE, EXTENSION)


def end_span(entry: _Entry, sdk_span: Any) -> None:
    """Copy onto ``entry`` what the SDK learnt while the span ran: a tool's arguments and result, whether a
    guardrail's tripwire fired, the agent a handoff went to."""
    data = getattr(sdk_span, "span_data", None)
    kind = getattr(data, "type", None)
    if kind == "function" and isinstance(entry, _ToolEntry):
        if not sensitive.withheld(entry.context):  # the SDK keeps them out of such a run's span data too
            entry.arguments = data.input  # JSON text: recorded as the value it encodes
            entry.result = data.output if data.output is not None else _UNSET
        if data.mcp_data:  # the SDK says it only once an MCP tool has returned
            mark_mcp_tool(entry)
    elif kind == "guardrail" and entry.span.is_recording():
        entry.span.set_attribute(sc.LLMTEL_GUARDRAIL_TRIGGERED, bool(data.triggered))
    elif kind == "handoff" and entry.span.is_recording():
        target = _text(data.to_agent)
        if target:
            entry.span.set_attribute(sc.LLMTEL_HANDOFF_TO_AGENT, target)
            entry.span.update_name(f"{sc.OP_HANDOFF} {target}")


def failure(sdk_object: Any, in_flight: BaseException | None, at_start: BaseException | None,
            kept_error: Any = None, stored: BaseException | None = None) -> BaseException | None:
    """Why the span failed, if it did: the exception unwinding through it as it ends (not one that was already
    being handled when it started, nor a generator's close), else ``stored``, the exception a streamed run keeps
    for ``stream_events`` to raise later (what a plain run would have raised through it), else the error the SDK
    recorded on it (or, for a stand-in span that keeps none, ``kept_error``: the one set on it)."""
    if (in_flight is not None and in_flight is not at_start
            and not isinstance(in_flight, (GeneratorExit, StopIteration, StopAsyncIteration))):
        return in_flight
    if stored is not None:
        return stored
    return recorded_error(getattr(sdk_object, "error", None) or kept_error)


def ends_with_the_run(sdk_object: Any) -> bool:
    """Whether a run's failure is this trace's or span's too: the trace (it has no span data) and agent spans,
    which a plain run's exception unwinds through."""
    data = getattr(sdk_object, "span_data", None)
    return data is None or getattr(data, "type", None) == "agent"


def recorded_error(error: Any) -> AgentsSpanError | None:
    """The SDK's ``SpanError`` (``{"message": ..., "data": {...}}``) as an exception; None when there is none."""
    if not isinstance(error, Mapping):
        return None
    message = _text(error.get("message")) or "error"
    data = error.get("data")
    detail = data.get("error") if isinstance(data, Mapping) else None
    return AgentsSpanError(f"{message}: {detail}" if detail else message)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
