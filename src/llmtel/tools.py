"""``llmtel.tool``: an ``execute_tool`` span around each run of a tool a model asked for.

The span follows the GenAI conventions: named ``execute_tool {name}``, kind INTERNAL, with the tool's name, type,
description and call id (which ties it to the model's tool call), and ``error.type`` with an error status when
the tool raises. What the tool was given and what it returned are content: recorded only when content capture
is on with a span mode (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``, or ``instrument(capture_content=)``),
each string redacted and bounded as the model calls' content is, and left out as a length and short SHA-256 when
``LLMTEL_CONTENT_FIELDS`` leaves out ``tool_calls`` (arguments) or ``tool_results`` (results).
"""

from __future__ import annotations

import functools
import inspect
import json
import time
from collections.abc import Callable
from typing import Any, overload

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from llmtel import pipeline, scope_metrics
from llmtel import semconv as sc
from llmtel.genai.content import ContentPolicy, active_policy, json_ready, omitted
from llmtel.logs.handler import exception_text
from llmtel.genai.debug import active_debug_view, format_tool
from llmtel.pipeline import F, _decorate, _Entry, _Scope, seconds_since_start

_UNSET: Any = object()  # no result known (None is a value a tool can return)


class _ToolEntry(_Entry):
    """One run of a tool: its span, what it was given, and what it returned once it has."""

    __slots__ = ("name", "type", "agent", "call_id", "arguments", "result", "call", "started")

    def __init__(self, tool: Tool) -> None:
        attributes: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL, sc.GEN_AI_TOOL_NAME: tool.name}
        known = ((sc.GEN_AI_TOOL_CALL_ID, tool.call_id), (sc.GEN_AI_TOOL_DESCRIPTION, tool.description),
                 (sc.GEN_AI_TOOL_TYPE, tool.type))
        attributes.update((key, value) for key, value in known if value is not None)
        span = pipeline._tracer.start_span(f"{sc.OP_EXECUTE_TOOL} {tool.name}", kind=SpanKind.INTERNAL,
                                           attributes=attributes)
        self.agent = pipeline.note_tool_call()  # in the totals of the runs and agents it runs inside
        super().__init__(span, trace.set_span_in_context(span))
        self.name: str = tool.name  # type: ignore[assignment] - checked by ``Tool._begin``
        self.type = tool.type
        self.call_id = tool.call_id
        self.arguments = tool.arguments
        self.call = tool._call  # a decorated function's (signature, args, kwargs): bound only if captured
        self.result = _UNSET
        self.started = time.perf_counter()

    def finish(self, exc: BaseException | None) -> None:
        """Record the arguments (and the result, when the tool succeeded) if content is captured, and the run's
        duration as a metric point, then end."""
        try:
            scope_metrics.recorder.tool(self.name, self.type, self.agent, time.perf_counter() - self.started, exc)
        except Exception:  # noqa: BLE001 - the tool's span keeps the rest
            pipeline.warn_once("tool-metrics", "llmtel: could not record a tool run's duration")
        try:
            policy = active_policy()
            if policy.on_span and self.span.is_recording():
                arguments = self.arguments if self.call is None else _bound_arguments(*self.call)
                if arguments is not None:
                    self.span.set_attribute(sc.GEN_AI_TOOL_CALL_ARGUMENTS, captured(arguments, policy, "tool_calls"))
                if exc is None and self.result is not _UNSET:
                    self.span.set_attribute(sc.GEN_AI_TOOL_CALL_RESULT, captured(self.result, policy, "tool_results"))
        except Exception:  # noqa: BLE001 - the tool's span keeps the rest
            pipeline.warn_once("tool", "llmtel: could not record a tool's arguments or result")
        view = active_debug_view()
        if view is not None:
            view.show(self._console_view, exc)
        super().finish(exc)

    def _console_view(self, exc: BaseException | None) -> str:
        """The debug view's lines (``LLMTEL_DEBUG``): arguments and result shown whatever is captured, cleaned."""
        policy = active_policy()
        arguments = self.arguments if self.call is None else _bound_arguments(*self.call)
        result = None if exc is not None or self.result is _UNSET else console_text(self.result, policy)
        error = None if exc is None else f"{type(exc).__name__}: {policy.clean_error(exception_text(exc))}"
        return format_tool(
            self.name, seconds_since_start(self.span), call_id=self.call_id,
            arguments=None if arguments is None else console_text(arguments, policy), result=result, error=error,
        )


class Tool(_Scope):
    """``llmtel.tool(name, ...)``: context manager and decorator for one run of a tool (see ``tool``)."""

    def __init__(
        self,
        name: str | None,
        *,
        call_id: str | None = None,
        description: str | None = None,
        type: str | None = "function",  # noqa: A002 - the convention's own name for it
        arguments: Any = None,
    ) -> None:
        for label, value in (("name", name), ("call_id", call_id), ("description", description), ("type", type)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"llmtel.tool: {label} must be a string, got {value!r}")
        if name is not None and not name.strip():
            raise ValueError("llmtel.tool: name must not be empty")
        super().__init__()
        self.name = name
        self.call_id = call_id
        self.description = description
        self.type = type
        self.arguments = arguments
        self._call: tuple[inspect.Signature | None, tuple[Any, ...], dict[str, Any]] | None = None

    def _fresh(self) -> Tool:
        return Tool(self.name, call_id=self.call_id, description=self.description, type=self.type)

    def _begin(self) -> _Entry:
        if self.name is None:
            raise ValueError("llmtel.tool: a tool run needs a name: llmtel.tool(\"search\", ...)")
        return _ToolEntry(self)

    def set_result(self, value: Any) -> None:
        """What the tool returned, for its span (recorded only when content is captured and the tool succeeded)."""
        entry = self._current_entry()  # the run this task or thread entered (see ``_Scope``)
        if entry is None:
            raise RuntimeError("llmtel.tool: set_result() belongs inside the tool's `with` block")
        entry.result = value  # type: ignore[attr-defined]

    def __call__(self, func: F) -> F:
        if not callable(func):
            raise TypeError(f"llmtel.tool: decorates a function, got {func!r}")
        named = self if self.name is not None else Tool(
            func.__name__, call_id=self.call_id, description=self.description, type=self.type
        )
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            return _decorate(named._fresh, func)  # one span over the iteration; no arguments or result
        signature = _signature(func)

        def entered(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tool:
            fresh = named._fresh()
            fresh._call = (signature, args, kwargs)
            return fresh

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with entered(args, kwargs) as this:
                    result = await func(*args, **kwargs)
                    this.set_result(result)
                    return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with entered(args, kwargs) as this:
                result = func(*args, **kwargs)
                this.set_result(result)
                return result

        return wrapper  # type: ignore[return-value]


@overload
def tool(name: F) -> F: ...


@overload
def tool(
    name: str | None = None, *, call_id: str | None = None, description: str | None = None,
    type: str | None = "function", arguments: Any = None,  # noqa: A002
) -> Tool: ...


def tool(
    name: Any = None, *, call_id: str | None = None, description: str | None = None,
    type: str | None = "function", arguments: Any = None,  # noqa: A002
) -> Any:
    """An ``execute_tool`` span around a tool's run.

    ``with llmtel.tool(call.function.name, call_id=call.id, arguments=call.function.arguments) as t:`` runs the
    model's tool call inside it (``t.set_result(value)`` records what it returned); ``@llmtel.tool`` or
    ``@llmtel.tool("search", description=...)`` on a function or coroutine function makes every call a run,
    its bound arguments and return value its content (a generator function's run spans its iteration, without
    content). ``type`` is the convention's ``function`` (run by the app), ``extension`` or ``datastore``.
    Arguments given as JSON text are recorded as the value they encode."""
    if callable(name):  # bare ``@llmtel.tool``
        return Tool(None)(name)
    return Tool(name, call_id=call_id, description=description, type=type, arguments=arguments)


def _signature(func: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):  # builtins and the like: their arguments are recorded by position
        return None


def _bound_arguments(signature: inspect.Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A call's arguments by parameter name (``self`` and ``cls`` left out), as passed."""
    if signature is not None:
        try:
            bound = signature.bind(*args, **kwargs).arguments
            return {key: value for key, value in bound.items() if key not in ("self", "cls")}
        except TypeError:  # the call itself will fail the same way
            pass
    return {"args": list(args), "kwargs": kwargs} if kwargs else list(args)


def _decoded(value: Any) -> Any:
    """JSON text (a model's tool-call arguments usually are) as the value it holds; anything else as it is."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            pass
    return value


def console_text(value: Any, policy: ContentPolicy) -> str:
    """``value`` as JSON text for the debug view: every string redacted and bounded by ``policy``, none left out."""
    return json.dumps(policy.value(json_ready(_decoded(value))), ensure_ascii=False, default=str)


def captured(value: Any, policy: ContentPolicy, field: str) -> str:
    """``value`` as the JSON text of a content attribute: JSON text decoded first, every string redacted and
    bounded by ``policy``; only its length and short SHA-256 when ``field`` is left out of the policy's fields."""
    cleaned = policy.value(json_ready(_decoded(value)))
    kept = cleaned if field in policy.fields else {"omitted": omitted(cleaned)}
    return json.dumps(kept, ensure_ascii=False, default=str)


__all__ = ["Tool", "tool"]
