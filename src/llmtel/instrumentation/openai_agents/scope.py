"""The hooks on the Agents SDK's ``Scope``: where its traces and spans become current, and stop being current.

Every trace and span the SDK marks as current goes through ``Scope.set_current_trace`` / ``set_current_span``,
and back through ``reset_current_*`` with the token those returned, in the task that set it. Hooking there
rather than registering a ``TracingProcessor`` means the app's own ``set_trace_processors([...])`` cannot drop
us, uninstrumenting takes us out cleanly, and the span llmtel starts is made current (attached to the
OpenTelemetry Context) exactly while the SDK's is, so the model calls and HTTP requests inside nest under it.
The SDK's stand-in spans, used while its own tracing is disabled, go through ``Scope`` the same way: llmtel
traces the agents whether or not the SDK exports its traces anywhere.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context

from llmtel import pipeline
from llmtel.instrumentation.openai_agents import spans, streamed
from llmtel.instrumentation.patching import Hook
from llmtel.pipeline import _Entry


class _Held:
    """What an SDK trace or span made current holds until it is reset: the entry and what ending it needs."""

    __slots__ = ("token", "entry", "attached", "at_start", "target", "error")

    def __init__(self, token: Any, entry: _Entry, attached: object, at_start: BaseException | None,
                 target: Any) -> None:
        self.token = token  # kept, so its id is not reused while held (the SDK's tokens are not hashable)
        self.entry = entry
        self.attached = attached  # the OpenTelemetry Context token
        self.at_start = at_start  # the exception being handled when it started: not its failure
        self.target = target  # the SDK's trace or span
        self.error: Any = None  # an error set on a stand-in span of the SDK's, which keeps none itself


_held: dict[int, _Held] = {}  # by id of the SDK's token
_by_target: dict[int, _Held] = {}  # the same, by id of the SDK's trace or span


def _setter(begin: Callable[[Any], _Entry | None]) -> Hook:
    """A hook for ``Scope.set_current_*``: the SDK's call first, then the entry ``begin`` makes of the trace or
    span, made current."""

    def set_current(original: Callable[..., Any], cls: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        token = original(cls, *args, **kwargs)
        try:
            target = args[0] if args else next(iter(kwargs.values()), None)
            entry = begin(target) if target is not None else None
            if entry is not None:
                held = _Held(token, entry, otel_context.attach(entry.context), sys.exc_info()[1], target)
                _held[id(token)] = _by_target[id(target)] = held
                entry.start()
        except Exception:  # noqa: BLE001 - the agent runs on untraced
            pipeline.warn_once("openai-agents-start", "llmtel: could not trace an OpenAI Agents SDK span")
        return token

    return set_current


def reset_current(original: Callable[..., Any], cls: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A hook for ``Scope.reset_current_*``: the SDK's call, then the entry held for its token ended (failed if an
    exception is unwinding through it or the SDK recorded an error on it) and the Context put back."""
    token = args[0] if args else next(iter(kwargs.values()), None)
    held = _held.pop(id(token), None)
    if held is None:
        return original(cls, *args, **kwargs)
    _by_target.pop(id(held.target), None)
    in_flight = sys.exc_info()[1]
    try:
        result = original(cls, *args, **kwargs)
    except BaseException:  # a token from another Context (an abandoned generator): end ours, leave the Context
        _end(held, in_flight)
        raise
    _end(held, in_flight)
    otel_context.detach(held.attached)  # type: ignore[arg-type]
    return result


def record_error(original: Callable[..., Any], span: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A hook for the SDK's stand-in span's ``set_error`` (which drops the error): kept for the entry's failure."""
    result = original(span, *args, **kwargs)
    held = _by_target.get(id(span))
    if held is not None and held.target is span:
        held.error = args[0] if args else next(iter(kwargs.values()), None)
    return result


def note_tool_call_id(original: Callable[..., Any], cls: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A hook for ``ToolContext.from_agent_context``: the SDK makes a tool's context, which carries the model's id
    for the call, inside the tool's function span (whose span data does not): the tool's span takes the id."""
    tool_context = original(cls, *args, **kwargs)
    try:
        entry = current_entry()
        if entry is not None:
            spans.note_tool_call_id(entry, getattr(tool_context, "tool_call_id", None))
    except Exception:  # noqa: BLE001 - the tool runs on, its span without the id
        pipeline.warn_once("openai-agents-call-id", "llmtel: could not read an OpenAI Agents SDK tool call's id")
    return tool_context


async def note_mcp_call(original: Callable[..., Any], cls: Any, args: tuple[Any, ...],
                        kwargs: dict[str, Any]) -> Any:
    """A hook for ``MCPUtil.invoke_mcp_tool``, which the SDK's MCP tools call inside their function span: the span
    is an MCP tool's (``extension``) from the start, so even when the call fails, before the SDK would say so on the
    span data (``mcp_data``, set only once the server has answered)."""
    try:
        entry = current_entry()
        if entry is not None:
            spans.mark_mcp_tool(entry)
    except Exception:  # noqa: BLE001 - the tool runs on, its type read from the span data as it ends
        pipeline.warn_once("openai-agents-mcp", "llmtel: could not tell an OpenAI Agents SDK MCP tool call")
    return await original(cls, *args, **kwargs)


def current_entry() -> _Entry | None:
    """The entry llmtel holds for the SDK's current span; None when it holds none (a kind that adds nothing)."""
    from agents.tracing.scope import Scope

    current = Scope.get_current_span()
    held = _by_target.get(id(current))
    return held.entry if held is not None and held.target is current else None


def _end(held: _Held, in_flight: BaseException | None) -> None:
    failure = None
    try:
        spans.end_span(held.entry, held.target)
        stored = streamed.stored_failure() if spans.ends_with_the_run(held.target) else None
        failure = spans.failure(held.target, in_flight, held.at_start, held.error, stored)
    except Exception:  # noqa: BLE001 - the span still ends
        pipeline.warn_once("openai-agents-end", "llmtel: could not read an OpenAI Agents SDK span as it ended")
    try:
        held.entry.finish(failure)
    except Exception:  # noqa: BLE001
        pipeline.warn_once("openai-agents-finish", "llmtel: could not end an OpenAI Agents SDK span")


# Scope's classmethods and the hook each gets (``set_error`` of the stand-in span is hooked apart: another class).
HOOKS: tuple[tuple[str, Hook], ...] = (
    ("set_current_trace", _setter(spans.begin_trace)),
    ("reset_current_trace", reset_current),
    ("set_current_span", _setter(spans.begin_span)),
    ("reset_current_span", reset_current),
)
