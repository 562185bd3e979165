"""``llmtel.prompt``: marks the LLM calls made inside as made from a named, versioned prompt template.

Each GenAI call span started inside gets the conventions' ``gen_ai.prompt.name`` and ``gen_ai.prompt.version``,
so traces can be compared across prompt versions (in TraceQL, ``{ span.gen_ai.prompt.version = "3" }``). No
span of its own: the attributes belong on the calls. A call that names its own template (a Responses API stored
prompt) keeps that one.
"""

from __future__ import annotations

from opentelemetry import trace

from llmtel import pipeline
from llmtel.pipeline import _Entry, _Scope


class _PromptEntry(_Entry):
    """One entry: the Context that carries the prompt; the current span stays current."""

    __slots__ = ()

    def __init__(self, name: str, version: str | None) -> None:
        super().__init__(trace.INVALID_SPAN, pipeline.with_prompt(name, version))

    def finish(self, exc: BaseException | None) -> None:
        """Nothing to record or end: the calls inside carry the prompt, and the app's exception goes on."""


class Prompt(_Scope):
    """``llmtel.prompt(name, version=...)``: context manager and decorator (see ``prompt``)."""

    def __init__(self, name: str, version: str | int | None = None) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"llmtel.prompt: name must be a non-empty string, got {name!r}")
        if isinstance(version, bool) or not isinstance(version, (str, int, type(None))):
            raise TypeError(f"llmtel.prompt: version must be a string or a whole number, got {version!r}")
        super().__init__()
        self.name = name
        self.version = None if version is None else str(version)

    def _fresh(self) -> Prompt:
        return Prompt(self.name, self.version)

    def _begin(self) -> _Entry:
        return _PromptEntry(self.name, self.version)


def prompt(name: str, version: str | int | None = None) -> Prompt:
    """Mark the LLM calls made inside as made from prompt template ``name`` at ``version``:
    ``with llmtel.prompt("answer-question", version="3"):`` or ``@llmtel.prompt("summarise", version=2)`` on a
    function, coroutine function, generator function or async generator function. Prompts nest: the innermost
    one holds, its version with it (an inner prompt without a version has none)."""
    return Prompt(name, version)

