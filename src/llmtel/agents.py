"""``llmtel.agent``: an ``invoke_agent`` span around each invocation of an agent that runs in this process.

The span follows the GenAI conventions for in-process agents: named ``invoke_agent {name}``, kind INTERNAL, with
the agent's name and description, the model it is set up with (when not given, the one the model calls it made
itself all asked for), and ``error.type`` with an error status when the
invocation raises. The model calls and tool runs made inside nest under it, and as it ends it sums them up: their
tokens in ``gen_ai.usage.input_tokens`` / ``output_tokens``, as the conventions' agent span has them, and their
count and cost in ``llmtel.agent.*`` (as a run's span does in ``llmtel.run.*``). Agents nest: a call counts in
every agent and run it is inside.

What the agent was asked and what it answered (and its instructions) are content: recorded as
``gen_ai.input.messages``, ``gen_ai.output.messages`` and ``gen_ai.system_instructions`` only when content capture
is on with a span mode, each text redacted and bounded as the model calls' content is. What is not given is taken
from the model calls the agent made itself, as they captured it: the instructions, input and tool definitions
(``gen_ai.tool.definitions``) of the first, the output of the last that answered (none when the agent failed).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, overload

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from llmtel import pipeline, scope_metrics
from llmtel import semconv as sc
from llmtel.genai.content import ContentPolicy, active_policy, content_json, json_ready, omit_fields
from llmtel.logs.handler import exception_text
from llmtel.genai.debug import active_debug_view, format_agent
from llmtel.pipeline import F, CallTotals, TotalsKeys, _Entry, _Scope, seconds_since_start

_UNSET: Any = object()  # not given (None is an answer an agent can give)

AGENT_TOTALS = TotalsKeys(sc.LLMTEL_AGENT_LLM_CALLS, sc.LLMTEL_AGENT_TOOL_CALLS, sc.GEN_AI_USAGE_INPUT_TOKENS,
                          sc.GEN_AI_USAGE_OUTPUT_TOKENS, sc.LLMTEL_AGENT_COST_USD, sc.LLMTEL_AGENT_COST_STATUS)


class _AgentEntry(_Entry):
    """One invocation: its span, the totals of the calls made inside, what it was asked and what it answered;
    ``withheld``: none of that content recorded whatever the policy (an Agents SDK run that keeps sensitive data
    out of its traces)."""

    __slots__ = ("name", "model", "instructions", "input", "output", "totals", "started", "withheld")

    def __init__(self, agent: Agent) -> None:
        attributes: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_AGENT}
        known = ((sc.GEN_AI_AGENT_NAME, agent.name), (sc.GEN_AI_AGENT_DESCRIPTION, agent.description),
                 (sc.GEN_AI_REQUEST_MODEL, agent.model), (sc.GEN_AI_DATA_SOURCE_ID, agent.data_source_id),
                 (sc.GEN_AI_CONVERSATION_ID, agent.conversation_id))
        attributes.update((key, value) for key, value in known if value is not None)
        name = f"{sc.OP_INVOKE_AGENT} {agent.name}" if agent.name else sc.OP_INVOKE_AGENT
        span = pipeline._tracer.start_span(name, kind=SpanKind.INTERNAL, attributes=attributes)
        self.totals = CallTotals(agent=True, agent_name=agent.name)
        super().__init__(span, trace.set_span_in_context(span, pipeline.counted_in(self.totals)))
        self.name = agent.name
        self.model = agent.model
        self.started = time.perf_counter()
        self.instructions = agent.instructions
        self.input = agent.input
        self.output = _UNSET
        self.withheld = False

    def finish(self, exc: BaseException | None) -> None:
        """Sum up the calls made inside, record the content (the answer only when the agent succeeded) and the
        invocation's metric points, end. Without a model given, the agent's is the one its own calls asked for,
        when they all asked for the same."""
        model = self.model
        try:
            totals = self.totals
            if model is None:  # not given: the one its own calls asked for, when they agree
                model = totals.own_model()
            scope_metrics.recorder.agent(self.name, model, time.perf_counter() - self.started,
                                         totals.own_calls(), totals.own_tools, exc)
        except Exception:  # noqa: BLE001 - the agent's span keeps the rest
            pipeline.warn_once("agent-metrics", "llmtel: could not record an agent invocation's metrics")
        try:
            if self.span.is_recording():
                self.span.set_attributes(self.totals.attributes(AGENT_TOTALS))
                if self.model is None and model is not None:
                    self.span.set_attribute(sc.GEN_AI_REQUEST_MODEL, model)
                policy = active_policy()
                if policy.on_span and not self.withheld:
                    output = self.output if exc is None else _UNSET
                    heard = calls_content(totals, answered=exc is None and self.output is _UNSET)
                    self.span.set_attributes(content_attributes(self.instructions, self.input, output, policy, heard))
        except Exception:  # noqa: BLE001 - the agent's span keeps the rest
            pipeline.warn_once("agent", "llmtel: could not sum up or record the content of an agent's run")
        view = active_debug_view()
        if view is not None:
            view.show(self._console_view, exc)  # made inside the view's guard: whatever fails there is logged
        super().finish(exc)

    def _console_view(self, exc: BaseException | None) -> str:
        """The debug view's lines (``LLMTEL_DEBUG``): the sums of the calls and tools inside, or the error."""
        error = None if exc is None else f"{type(exc).__name__}: {active_policy().clean_error(exception_text(exc))}"
        return format_agent(self.name, seconds_since_start(self.span), self.totals.attributes(AGENT_TOTALS), error)


class Agent(_Scope):
    """``llmtel.agent(name, ...)``: context manager and decorator for one invocation of an agent (see ``agent``)."""

    def __init__(
        self,
        name: str | None = None,
        *,
        description: str | None = None,
        model: str | None = None,
        instructions: str | None = None,
        conversation_id: str | None = None,
        data_source_id: str | None = None,
        input: Any = None,  # noqa: A002 - what the agent is asked, as the conventions call it
    ) -> None:
        given = (("name", name), ("description", description), ("model", model), ("instructions", instructions),
                 ("conversation_id", conversation_id), ("data_source_id", data_source_id))
        for label, value in given:
            if value is not None and not isinstance(value, str):
                raise TypeError(f"llmtel.agent: {label} must be a string, got {value!r}")
        if name is not None and not name.strip():
            raise ValueError("llmtel.agent: name must not be empty (leave it out for an agent without a name)")
        super().__init__()
        self.name = name
        self.description = description
        self.model = model
        self.instructions = instructions
        self.conversation_id = conversation_id
        self.data_source_id = data_source_id
        self.input = input

    def _fresh(self, name: str | None = None) -> Agent:
        """A new copy, not entered, without content (named ``name`` when given)."""
        return Agent(name or self.name, description=self.description, model=self.model,
                     instructions=self.instructions, conversation_id=self.conversation_id,
                     data_source_id=self.data_source_id)

    def _begin(self) -> _Entry:
        return _AgentEntry(self)

    def _entry(self, method: str) -> _AgentEntry:
        """The invocation ``method`` writes to: the one this task or thread entered (see ``_Scope``)."""
        entry = self._current_entry()
        if entry is None:
            raise RuntimeError(f"llmtel.agent: {method}() belongs inside the agent's `with` block")
        return entry  # type: ignore[return-value]

    def set_input(self, value: Any) -> None:
        """What the agent was asked: a text, or chat-style messages (recorded only when content is captured)."""
        self._entry("set_input").input = value

    def set_output(self, value: Any) -> None:
        """What the agent answered: a text, or messages (recorded only when content is captured and the agent
        succeeded)."""
        self._entry("set_output").output = value

    def __call__(self, func: F) -> F:
        if not callable(func):
            raise TypeError(f"llmtel.agent: decorates a function, got {func!r}")
        if self.name is None:  # bare ``@llmtel.agent``: named after the function
            return self._fresh(func.__name__)(func)
        return super().__call__(func)


@overload
def agent(name: F) -> F: ...


@overload
def agent(
    name: str | None = None, *, description: str | None = None, model: str | None = None,
    instructions: str | None = None, conversation_id: str | None = None, data_source_id: str | None = None,
    input: Any = None,  # noqa: A002
) -> Agent: ...


def agent(
    name: Any = None, *, description: str | None = None, model: str | None = None,
    instructions: str | None = None, conversation_id: str | None = None, data_source_id: str | None = None,
    input: Any = None,  # noqa: A002
) -> Any:
    """An ``invoke_agent`` span around an invocation of an agent running in this process.

    ``with llmtel.agent("support", model="gpt-4o-mini", input=question) as a:`` runs the agent's loop inside it
    (``a.set_output(answer)`` records what it answered); ``@llmtel.agent`` or ``@llmtel.agent("planner")`` on a
    function, coroutine function or generator function makes every call an invocation (its content is what its
    own model calls captured: see the module's docstring). As it
    ends, the span sums up the LLM calls and tool runs made inside: tokens, count and cost. ``model`` is the
    model the agent is set up with (without it, the model its own calls asked for, if they agree);
    ``conversation_id`` and ``data_source_id`` are the conventions' (a run's
    conversation id is on every span inside it already). ``input`` and ``set_output`` take a text or chat-style
    messages (mappings or models with ``role`` and ``content``)."""
    if callable(name):  # bare ``@llmtel.agent``
        return Agent(None)(name)
    return Agent(name, description=description, model=model, instructions=instructions,
                 conversation_id=conversation_id, data_source_id=data_source_id, input=input)


def calls_content(totals: CallTotals, answered: bool) -> dict[str, list[dict[str, Any]]]:
    """What an agent's own model calls captured of its content, by attribute name (as they recorded it: redacted
    and bounded by their policy): the instructions, input and tool definitions of the first call that was asked
    something, and (``answered``: the agent succeeded without being given its answer) the output of the last call
    that answered. Empty when content was not captured on the calls' spans."""
    content: dict[str, list[dict[str, Any]]] = {}
    asked = totals.own_asked
    if asked is not None:
        fields = ((sc.GEN_AI_SYSTEM_INSTRUCTIONS, asked.system_instructions),
                  (sc.GEN_AI_INPUT_MESSAGES, asked.input_messages), (sc.GEN_AI_TOOL_DEFINITIONS, asked.tool_definitions))
        content.update((name, value) for name, value in fields if value is not None)
    if answered and totals.own_answered is not None:
        content[sc.GEN_AI_OUTPUT_MESSAGES] = totals.own_answered.output_messages
    return content


def content_attributes(instructions: str | None, asked: Any, answered: Any, policy: ContentPolicy,
                       heard: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """The invocation's content as the conventions' JSON-string attributes (what is given of it, else what its
    own model calls ``heard``, see ``calls_content``), each text redacted and bounded by ``policy``, the fields it
    leaves out kept as their length and short SHA-256; with ``llmtel.content.truncated`` when a text was cut."""
    captured: dict[str, list[dict[str, Any]]] = dict(heard) if heard else {}
    if instructions is not None:
        captured[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = [policy.text_part(instructions)]
    if asked is not None:
        captured[sc.GEN_AI_INPUT_MESSAGES] = messages(asked, "user", policy)
    if answered is not _UNSET and answered is not None:
        captured[sc.GEN_AI_OUTPUT_MESSAGES] = [{**message, "finish_reason": "stop"}
                                               for message in messages(answered, "assistant", policy)]
    attributes: dict[str, Any] = {name: content_json(value)
                                  for name, value in omit_fields(captured, policy.fields).items()}
    parts = [part for name, value in captured.items() if name != sc.GEN_AI_TOOL_DEFINITIONS
             for item in value for part in item.get("parts", (item,))]
    if any("truncated" in part for part in parts):
        attributes[sc.LLMTEL_CONTENT_TRUNCATED] = True
    return attributes


def messages(value: Any, role: str, policy: ContentPolicy) -> list[dict[str, Any]]:
    """``value`` as the conventions' messages: a text is one message from ``role``; a message (a mapping or model
    with a ``role`` or ``content``) or a list of them keeps each one's role, its content turned into text parts;
    anything else is one message of ``role`` carrying its JSON text."""
    if isinstance(value, str):
        return [{"role": role, "parts": [policy.text_part(value)]}]
    plain = json_ready(value)
    if _is_message(plain):
        plain = [plain]
    if isinstance(plain, list) and plain and all(_is_message(item) for item in plain):
        return [{"role": str(item.get("role") or role), "parts": _parts(item.get("content"), policy)}
                for item in plain]
    return [{"role": role, "parts": [policy.text_part(_text(plain))]}]


def _is_message(value: Any) -> bool:
    return isinstance(value, Mapping) and ("role" in value or "content" in value)


def _parts(content: Any, policy: ContentPolicy) -> list[dict[str, Any]]:
    """A message's content as text parts: its text, the texts of its text parts, anything else as JSON text."""
    if content is None:
        return []
    items = content if isinstance(content, list) else [content]
    parts = []
    for item in items:
        if isinstance(item, Mapping) and isinstance(item.get("text"), str):  # {"type": "text", "text": ...}
            parts.append(policy.text_part(item["text"]))
        else:
            parts.append(policy.text_part(_text(item)))
    return parts


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


__all__ = ["Agent", "agent"]
