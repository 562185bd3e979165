"""The failure of a streamed run (``Runner.run_streamed``), which no exception carries as its spans end.

A plain run raises its failure (``MaxTurnsExceeded``, say) through its agent and the workflow. A streamed run's
loop runs in a task of its own and ends its agent span and trace normally: it leaves the failure on its
``RunResultStreaming`` (``_stored_exception``), or, when it runs out of turns, only the state that says so
(``current_turn`` past ``max_turns``, not handled by a ``max_turns`` error handler), from which ``stream_events``
makes the exception the app sees, after the spans have ended. So the result each streamed run makes is noted
here as it is made (a hook on its ``__post_init__``), and the loop's task reads its failure off it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

# The streamed result last made in this Context: its loop's task, made after it, inherits the Context and so
# finds it (the caller's Context keeps it too, so the result is only taken in the task that runs its loop).
_result: ContextVar[weakref.ref[Any] | None] = ContextVar("llmtel_openai_agents_streamed_result", default=None)


def note_streamed_result(original: Callable[..., Any], result: Any, args: tuple[Any, ...],
                         kwargs: dict[str, Any]) -> Any:
    """A hook for ``RunResultStreaming.__post_init__``: the SDK's call, then the result noted in this Context."""
    returned = original(result, *args, **kwargs)
    try:
        _result.set(weakref.ref(result))
    except TypeError:  # a result that takes no weak reference: its run's failures are read as before
        pass
    return returned


def current_result() -> Any:
    """The streamed result whose loop is running in this task; None outside a streamed run's loop."""
    ref = _result.get()
    result = ref() if ref is not None else None
    if result is None:
        return None
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no event loop running in this thread
        return None
    loop_tasks = (getattr(result, "run_loop_task", None), getattr(result, "_sandbox_wrapped_run_loop_task", None))
    return result if task is not None and any(task is loop_task for loop_task in loop_tasks) else None


def stored_failure() -> BaseException | None:
    """What the streamed run running in this task will raise from ``stream_events``: the exception its result
    keeps, else ``MaxTurnsExceeded`` once it has run out of turns with no handler taking over (as the SDK's
    ``RunResultStreaming._check_errors`` decides it); None outside a streamed run or when it has not failed."""
    result = current_result()
    if result is None:
        return None
    stored = getattr(result, "_stored_exception", None)
    if isinstance(stored, BaseException):
        return stored
    return _max_turns_exceeded(result)


def _max_turns_exceeded(result: Any) -> BaseException | None:
    """The SDK's ``MaxTurnsExceeded`` with the message it raises, when the run is past its last turn unhandled."""
    max_turns, turn = getattr(result, "max_turns", None), getattr(result, "current_turn", None)
    if not isinstance(max_turns, int) or not isinstance(turn, int) or turn <= max_turns:
        return None
    if getattr(result, "_max_turns_handled", False):
        return None
    from agents.exceptions import MaxTurnsExceeded

    return MaxTurnsExceeded(f"Max turns ({max_turns}) exceeded")
