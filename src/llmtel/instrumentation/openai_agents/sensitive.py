"""The Agents SDK's own privacy switch, honoured: a run whose traces must not include sensitive data
(``RunConfig(trace_include_sensitive_data=False)``, or with no config that says,
``OPENAI_AGENTS_TRACE_INCLUDE_SENSITIVE_DATA`` set to anything but ``1``/``true``/``yes``/``on``) is traced by
llmtel without content, whatever llmtel's content capture says.

The runner's ``run`` and ``run_streamed`` are hooked (``Runner.run``, ``run_sync`` and ``run_streamed`` all go
through them): for as long as such a run runs, its OpenTelemetry context carries ``WITHHELD``, which every span
made inside inherits, the tasks it starts included. Its agents, tools and model calls (the openai client's, whose
records emission empties under the mark, and LiteLLM's or any-llm's) then keep their metadata (names, model,
tokens, cost, timing) and no messages, instructions, tool definitions, arguments or results. Once set it stays set for what runs inside: a nested run (an agent used as a tool) that includes data
is still part of the outer run's trace.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context

from llmtel import pipeline
from llmtel.genai.content import CONTENT_WITHHELD as WITHHELD
from llmtel.genai.content import CaptureMode, ContentPolicy

_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})  # what the SDK reads as true in its environment variable
ENV_VAR = "OPENAI_AGENTS_TRACE_INCLUDE_SENSITIVE_DATA"
_FIELD = "trace_include_sensitive_data"
_UNSAID: Any = object()


def includes_sensitive_data(run_config: Any) -> bool:
    """Whether a run's traces may include sensitive data, as the SDK decides it: the config's
    ``trace_include_sensitive_data`` (a config given as a dict: its key), else the SDK's default, read from
    ``OPENAI_AGENTS_TRACE_INCLUDE_SENSITIVE_DATA`` (true unless set to something other than 1/true/yes/on)."""
    if isinstance(run_config, Mapping):
        value = run_config.get(_FIELD, _UNSAID)
    else:
        value = getattr(run_config, _FIELD, _UNSAID)
    return _sdk_default() if value is _UNSAID else bool(value)  # the SDK tests the value as a truth


def _sdk_default() -> bool:
    """The SDK's own default for a run config that does not say (its function, else the same reading of the
    environment variable)."""
    try:
        from agents.run_config import _default_trace_include_sensitive_data
    except ImportError:
        import os

        return os.getenv(ENV_VAR, "true").strip().lower() in _TRUE_WORDS
    return bool(_default_trace_include_sensitive_data())


def withheld(context: Context | None = None) -> bool:
    """Whether ``context`` (default: the current one) is inside a run that keeps sensitive data out of traces."""
    return bool(otel_context.get_value(WITHHELD, context))


def withheld_policy(policy: ContentPolicy) -> ContentPolicy:
    """``policy`` capturing nothing (not even for the debug view), its redactor and bounds kept for error texts."""
    return dataclasses.replace(policy, mode=CaptureMode.NO_CONTENT, collect=False)


def _mark(kwargs: dict[str, Any]) -> object | None:
    """The run's context marked (the token to detach it) when its config keeps sensitive data out; None when it
    does not, or when it runs inside a run marked already."""
    try:
        if withheld() or includes_sensitive_data(kwargs.get("run_config")):
            return None
        return otel_context.attach(otel_context.set_value(WITHHELD, True))
    except Exception:  # noqa: BLE001 - the run goes on, traced as the content policy says
        pipeline.warn_once("openai-agents-sensitive", "llmtel: could not read an OpenAI Agents SDK run's config")
        return None


async def run_withheld(original: Callable[..., Any], runner: Any, args: tuple[Any, ...],
                       kwargs: dict[str, Any]) -> Any:
    """A hook for ``AgentRunner.run``: the run, inside a marked context when its config keeps data out."""
    token = _mark(kwargs)
    try:
        return await original(runner, *args, **kwargs)
    finally:
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]


def run_streamed_withheld(original: Callable[..., Any], runner: Any, args: tuple[Any, ...],
                          kwargs: dict[str, Any]) -> Any:
    """A hook for ``AgentRunner.run_streamed``: marked while it sets the run up and starts its loop's task, which
    takes a copy of the context (so the mark) with it."""
    token = _mark(kwargs)
    try:
        return original(runner, *args, **kwargs)
    finally:
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]
