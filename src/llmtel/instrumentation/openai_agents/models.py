"""The hooks on the SDK's LiteLLM and any-llm models (``LitellmModel``, ``AnyLLMModel``): what their span data
does not say, their methods were asked.

``get_response`` and ``stream_response`` get the tools and handoffs the call offers the model, and which of the two
it is; each hook notes that (``generations.note_request``) for the span the call starts inside. A streamed call's
events pass through its hook on their way to the run: the first one is the call's first chunk, every one counted,
and a stream the run closes early is noted as closed. The models' modules import their provider's library (LiteLLM
is large and slow to import), so each is hooked only once the app imports it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

from llmtel import pipeline
from llmtel.instrumentation.openai_agents import generations, scope
from llmtel.instrumentation.openai_agents.generations import ModelCallEntry, ModelRequest
from llmtel.instrumentation.patching import Hook

# The positions of ``tools`` and ``handoffs`` in ``Model.get_response`` / ``stream_response`` (after ``self``).
_TOOLS, _HANDOFFS = 3, 5


def request_of(args: tuple[Any, ...], kwargs: dict[str, Any], streamed: bool) -> ModelRequest:
    """The request a model method's arguments make, in the order ``agents.Model`` declares them."""
    tools = args[_TOOLS] if len(args) > _TOOLS else kwargs.get("tools")
    handoffs = args[_HANDOFFS] if len(args) > _HANDOFFS else kwargs.get("handoffs")
    return ModelRequest(tuple(tools or ()), tuple(handoffs or ()), streamed)


async def noted_response(original: Callable[..., Any], model: Any, args: tuple[Any, ...],
                         kwargs: dict[str, Any]) -> Any:
    """A hook for a model's ``get_response``: the call, with its request noted while it runs."""
    token = _note(args, kwargs, streamed=False)
    try:
        return await original(model, *args, **kwargs)
    finally:
        if token is not None:
            generations.forget_request(token)


def noted_stream(original: Callable[..., Any], model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A hook for a model's ``stream_response``: its events, timed as they pass (see ``timed_events``)."""
    events = original(model, *args, **kwargs)
    try:
        request = request_of(args, kwargs, streamed=True)
    except Exception:  # noqa: BLE001 - the stream goes through untimed
        pipeline.warn_once("openai-agents-model-request", "llmtel: could not read an OpenAI Agents SDK model call")
        return events
    return timed_events(events, request)


def _note(args: tuple[Any, ...], kwargs: dict[str, Any], streamed: bool) -> Any:
    try:
        return generations.note_request(request_of(args, kwargs, streamed))
    except Exception:  # noqa: BLE001 - the call is traced without what it was asked
        pipeline.warn_once("openai-agents-model-request", "llmtel: could not read an OpenAI Agents SDK model call")
        return None


async def timed_events(events: AsyncIterator[Any], request: ModelRequest) -> AsyncIterator[Any]:
    """A streamed call's events as the model yields them: the request noted while the first is awaited (the
    call's span starts then), that event's arrival its first chunk, each event counted on the call's span (the
    SDK's current span while its model yields), and the stream noted as closed when the run closes it early."""
    async with contextlib.aclosing(events) as stream:  # type: ignore[type-var]
        token = generations.note_request(request)
        try:
            first = await stream.__anext__()
        except StopAsyncIteration:
            return
        finally:
            generations.forget_request(token)
        entry = _current_call()
        try:
            if entry is not None:
                entry.note_event()
            yield first
            async for event in stream:
                if entry is not None:
                    entry.note_event()
                yield event
        except GeneratorExit:
            if entry is not None:
                entry.note_closed()
            raise


def _current_call() -> ModelCallEntry | None:
    """The model call whose span is the SDK's current one (inside the model's stream, between its events)."""
    try:
        entry = scope.current_entry()
    except Exception:  # noqa: BLE001 - the stream goes on, untimed
        pipeline.warn_once("openai-agents-model-stream", "llmtel: could not time an OpenAI Agents SDK model stream")
        return None
    return entry if isinstance(entry, ModelCallEntry) else None


# Each model method hooked and its hook.
HOOKS: Final[tuple[tuple[str, Hook], ...]] = (("get_response", noted_response), ("stream_response", noted_stream))
