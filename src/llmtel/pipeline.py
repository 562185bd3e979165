"""Pipeline context: ``llmtel.run`` and ``llmtel.step``, and the span processor that spreads them.

A *run* is one execution of a pipeline: a root span plus a run id (and optional session, user and
conversation ids) kept in the OpenTelemetry Context under a private key and in W3C baggage. A *step* is a
named stage inside it: a child span, a "step started" / "step finished" log record pair, and the step's
name in the Context. ``PipelineSpanProcessor`` copies the run's values and the current step onto every
span started inside (LLM calls, HTTP clients, the app's own spans).

Everything lives in the OpenTelemetry Context, which is a ``contextvars`` value: asyncio tasks inherit it,
and a thread sees it when started through ``contextvars.copy_context().run``.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, NamedTuple, TypeVar, overload

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import Span, SpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmtel import scope_metrics, semconv
from llmtel._version import __version__

F = TypeVar("F", bound=Callable[..., Any])

try:
    _tracer = trace.get_tracer("llmtel.pipeline", __version__)  # a proxy: follows whichever provider is global
except Exception:  # noqa: BLE001 - an app's global provider that fails to make tracers must not fail the import
    _tracer = trace.NoOpTracer()
log = logging.getLogger("llmtel.pipeline")
if log.level == logging.NOTSET:  # records must exist although the root logger defaults to WARNING
    log.setLevel(logging.INFO)

_GENAI_SCOPE = "llmtel"  # instrumentation scope of GenAI call spans (llmtel.genai.emit)

# One private key holds everything (run, step, prebuilt attributes): one lookup per span start.
_STATE_KEY = otel_context.create_key("llmtel.pipeline")


class _State:
    """What the Context carries inside a run, step, agent or prompt. Immutable once built."""

    __slots__ = ("run", "step", "span_attributes", "log_fields", "tallies", "prompt")

    def __init__(
        self, run: Run | None, step: str | None, span_attributes: dict[str, Any],
        tallies: tuple[CallTotals, ...] = (), log_fields: dict[str, str] | None = None,
        prompt: tuple[str, str | None] | None = None,
    ) -> None:
        self.run = run
        self.step = step
        self.span_attributes = span_attributes  # copied onto every span started under this state
        # the totals every LLM call and tool run made under this state counts in: the innermost run's or
        # agent's first, then those of the runs and agents around it
        self.tallies = tallies
        self.prompt = prompt  # (name, version) of the prompt template the LLM calls here are made from
        self.log_fields = log_fields if log_fields is not None else {
            semconv.LOG_RUN_ID: run.run_id if run else "",
            semconv.LOG_STEP: step or "",
            semconv.LOG_SESSION_ID: (run.session_id or "") if run else "",
            semconv.LOG_USER_ID: (run.user_id or "") if run else "",
        }


_EMPTY_LOG_FIELDS = {semconv.LOG_RUN_ID: "", semconv.LOG_STEP: "", semconv.LOG_SESSION_ID: "", semconv.LOG_USER_ID: ""}


def _state(context: otel_context.Context | None = None) -> _State | None:
    return otel_context.get_value(_STATE_KEY, context)  # type: ignore[return-value]


def current_run() -> Run | None:
    """The run the calling code is inside, or None."""
    state = _state()
    return state.run if state else None


def current_step() -> str | None:
    """The name of the innermost step the calling code is inside, or None."""
    state = _state()
    return state.step if state else None


def log_fields(context: otel_context.Context | None = None) -> dict[str, str]:
    """``run_id``, ``step``, ``session_id``, ``user_id`` of the current context ("" when absent)."""
    state = _state(context)
    if state is not None:
        return state.log_fields
    values = baggage.get_all(context)
    if not values:
        return _EMPTY_LOG_FIELDS
    return {
        semconv.LOG_RUN_ID: str(values.get(semconv.LLMTEL_RUN_ID, "")),
        semconv.LOG_STEP: "",
        semconv.LOG_SESSION_ID: str(values.get(semconv.SESSION_ID, "")),
        semconv.LOG_USER_ID: str(values.get(semconv.USER_ID, "")),
    }


_warned: set[str] = set()


def warn_once(key: str, message: str) -> None:
    """Log ``message`` with the exception being handled, the first time ``key`` goes wrong (a scope's extras
    failing: its span keeps the rest, and the app never notices)."""
    if key not in _warned:
        _warned.add(key)
        log.warning(message, exc_info=True)


def seconds_since_start(span: trace.Span) -> float | None:
    """How long ago ``span`` started (an SDK span knows its start time; a non-recording one does not)."""
    start = getattr(span, "start_time", None)
    return None if not isinstance(start, int) else (time.time_ns() - start) / 1e9


def _fail(span: trace.Span, exc: BaseException) -> None:
    """The run or step failed with ``exc``: its message and stack trace are masked as a logged exception's are."""
    from llmtel.logs.handler import exception_attributes  # not at import: the log bridge imports this module
    from llmtel.logs.redaction import log_redactor

    masked = exception_attributes(exc, log_redactor())
    message = masked[semconv.EXCEPTION_MESSAGE]
    span.record_exception(exc, attributes={semconv.EXCEPTION_MESSAGE: message,
                                           semconv.EXCEPTION_STACKTRACE: masked[semconv.EXCEPTION_STACKTRACE]})
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"))
    span.set_attribute(semconv.ERROR_TYPE, type(exc).__qualname__)


class _Entry:
    """One entry into a run or step: its span and the Context to attach while the code inside runs."""

    __slots__ = ("span", "context")

    def __init__(self, span: trace.Span, context: otel_context.Context) -> None:
        self.span = span
        self.context = context

    def start(self) -> None:
        """Called once, with ``context`` attached, before the code inside runs; a run has nothing to add."""

    def finish(self, exc: BaseException | None) -> None:
        """Record a failure and end the span; called once, with ``context`` attached."""
        try:
            if exc is not None:
                _fail(self.span, exc)
        except Exception:  # noqa: BLE001 - the app's exception goes on, not one of ours
            warn_once("fail", "llmtel: could not record a failure on a span")
        finally:
            self.span.end()


class _RunEntry(_Entry):
    """One entry into a run: as it ends, its span gets the totals of the LLM calls and tool runs made inside, and
    its duration and cost are recorded as metric points (``scope_metrics``)."""

    __slots__ = ("run", "totals", "started")

    def __init__(self, run: Run, span: trace.Span, context: otel_context.Context, totals: CallTotals) -> None:
        super().__init__(span, context)
        self.run = run
        self.totals = totals  # this entry's own: a run entered again inside itself has one per entry
        self.started = time.perf_counter()

    def finish(self, exc: BaseException | None) -> None:
        try:
            totals = self.totals.attributes()
            if self.span.is_recording():
                self.span.set_attributes(totals)
            scope_metrics.recorder.run(self.run.name, time.perf_counter() - self.started, totals, exc,
                                       workflow=self.run.kind is SpanKind.INTERNAL)
        except Exception:  # noqa: BLE001 - the run's span keeps the rest
            warn_once("run", "llmtel: could not sum up a run's LLM calls or record its metrics")
        super().finish(exc)


class TotalsKeys(NamedTuple):
    """The attributes a span sums its LLM calls and tool runs up in (a run's, an agent's)."""

    llm_calls: str
    tool_calls: str
    input_tokens: str
    output_tokens: str
    cost_usd: str
    cost_status: str


RUN_TOTALS = TotalsKeys(semconv.LLMTEL_RUN_LLM_CALLS, semconv.LLMTEL_RUN_TOOL_CALLS, semconv.LLMTEL_RUN_INPUT_TOKENS,
                        semconv.LLMTEL_RUN_OUTPUT_TOKENS, semconv.LLMTEL_RUN_COST_USD, semconv.LLMTEL_RUN_COST_STATUS)


class CallTotals:
    """Running sums of the LLM calls and tool runs made inside one run or agent: a few numbers whatever the number
    of calls (a run can last as long as the process), updated under a lock because calls start and end on any
    thread. An agent's also counts the calls and tool runs it made itself (``own``: not those of the sub-agents it
    called), for the conventions' per-invocation counts, the model those calls asked for, while they agree, and
    (content captured) the first of them that was asked something and the last that answered."""

    __slots__ = ("_lock", "started", "ended", "tools", "input_tokens", "output_tokens", "usd", "whole", "billed",
                 "agent", "agent_name", "own_started", "own_ended", "own_tools", "own_models", "own_asked",
                 "own_answered")

    def __init__(self, agent: bool = False, agent_name: str | None = None) -> None:
        self._lock = threading.Lock()
        self.started = 0
        self.ended = 0
        self.tools = 0  # tool runs started (``llmtel.tool``)
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.usd: float | None = None
        self.whole = True  # every ended call billed is priced in full
        self.billed = False  # some ended call was billed (had a cost, priced or not)
        self.agent = agent  # an agent invocation's totals (a run's otherwise)
        self.agent_name = agent_name
        self.own_started = self.own_ended = self.own_tools = 0
        self.own_models: set[str] = set()  # the request models of the calls it made itself
        # Of the calls it made itself whose content was captured (``llmtel.genai.record.GenAICall``, kept whole: two
        # references, whatever the number of calls): the first to end that had input, the last that had output.
        self.own_asked: Any = None
        self.own_answered: Any = None

    def start(self, own: bool = False) -> None:
        with self._lock:
            self.started += 1
            if own:
                self.own_started += 1

    def tool(self, own: bool = False) -> None:
        with self._lock:
            self.tools += 1
            if own:
                self.own_tools += 1

    def own_calls(self) -> int:
        """The model calls this agent made itself (started, or ended where starts are not seen)."""
        with self._lock:
            return max(self.own_started, self.own_ended)

    def own_model(self) -> str | None:
        """The model every call this agent made itself asked for; None when they asked for different ones, or
        when it made none."""
        with self._lock:
            return next(iter(self.own_models)) if len(self.own_models) == 1 else None

    def end(self, input_tokens: int | None, output_tokens: int | None, cost: Any, own: bool = False,
            model: str | None = None, content: Any = None) -> None:
        """A call ended with these counts and this ``llmtel.cost.Cost`` (None: not billed, as a failure without
        usage, or no prices at all), having asked for ``model``; ``content``: the call's record, when its content
        was captured for spans."""
        with self._lock:
            self.ended += 1
            if own:
                self.own_ended += 1
                if model is not None and len(self.own_models) < 2:  # two are enough to know they differ
                    self.own_models.add(model)
                if content is not None:
                    if self.own_asked is None and content.input_messages is not None:
                        self.own_asked = content
                    if content.output_messages is not None and content.error_type is None:
                        self.own_answered = content
            if input_tokens is not None:
                self.input_tokens = (self.input_tokens or 0) + input_tokens
            if output_tokens is not None:
                self.output_tokens = (self.output_tokens or 0) + output_tokens
            if cost is not None:
                self.billed = True
                if cost.usd is not None:
                    self.usd = (self.usd or 0.0) + cost.usd
                if cost.status != "priced":
                    self.whole = False

    def attributes(self, keys: TotalsKeys = RUN_TOTALS) -> dict[str, Any]:
        """The span's attributes, named by ``keys``: the tool runs started, the calls started, the tokens and usd
        of those ended, and the usd's status: ``priced`` when it is the whole cost, ``partially_priced`` when some
        call has no price (unknown model, no usage, a search without a price) or had not ended (a lower bound),
        ``unpriced`` when no call has a price. Nothing of calls without calls, nor of tools without tools."""
        with self._lock:
            attributes: dict[str, Any] = {keys.tool_calls: self.tools} if self.tools else {}
            started = max(self.started, self.ended)  # a tracer provider without the span processor counts no starts
            if not started:
                return attributes
            attributes[keys.llm_calls] = started
            sums = ((keys.input_tokens, self.input_tokens), (keys.output_tokens, self.output_tokens),
                    (keys.cost_usd, self.usd))
            attributes.update((key, value) for key, value in sums if value is not None)
            whole = self.whole and self.ended == started
            if self.usd is not None:
                attributes[keys.cost_status] = "priced" if whole else "partially_priced"
            elif self.billed or not whole:
                attributes[keys.cost_status] = "unpriced"
            return attributes


def _owner(tallies: tuple[CallTotals, ...]) -> CallTotals | None:
    """The innermost agent's totals among ``tallies`` (innermost first): the agent a call or tool run belongs to."""
    for totals in tallies:
        if totals.agent:
            return totals
    return None


def note_llm_call(
    tallies: tuple[CallTotals, ...], input_tokens: int | None, output_tokens: int | None, cost: Any,
    model: str | None = None, content: Any = None,
) -> None:
    """An LLM call that asked for ``model`` ended: counted in each of ``tallies`` (its run's or agent's, and those
    around it), and as its innermost agent's own (with ``content``, its record when its content was captured for
    spans: what the agent was asked and answered, when not given)."""
    owner = _owner(tallies)
    for totals in tallies:
        totals.end(input_tokens, output_tokens, cost, totals is owner, model, content if totals is owner else None)


def note_tool_call() -> str | None:
    """A tool run starts in the current Context: counted in the totals of the runs and agents it is inside, and as
    its innermost agent's own. Returns that agent's name (None outside agents, or for an agent without one)."""
    state = _state()
    if state is None:
        return None
    owner = _owner(state.tallies)
    for totals in state.tallies:
        totals.tool(totals is owner)
    return None if owner is None else owner.agent_name


def _state_or_received(context: otel_context.Context | None) -> _State:
    """The state ``context`` holds; without one (no local run), a state keeping the values a receiving service
    takes from the run's baggage in force."""
    state = _state(context)
    if state is None:
        fields = log_fields(context)
        values = baggage.get_all(context)
        found = {key: values[key] for key in semconv.BAGGAGE_KEYS if key in values}
        state = _State(None, None, found, (), fields)
    return state


def counted_in(totals: CallTotals, context: otel_context.Context | None = None) -> otel_context.Context:
    """``context`` (default: the current one) with ``totals`` counting the LLM calls and tool runs made under it,
    besides the totals they count in already; the run, step, prompt and baggage-derived values stay as they are."""
    state = _state_or_received(context)
    state = _State(state.run, state.step, state.span_attributes, (totals, *state.tallies), state.log_fields,
                   state.prompt)
    return otel_context.set_value(_STATE_KEY, state, context)


def with_prompt(name: str, version: str | None, context: otel_context.Context | None = None) -> otel_context.Context:
    """``context`` (default: the current one) with the LLM calls made under it marked as made from prompt
    template ``name`` at ``version`` (an inner prompt replaces an outer one, version included)."""
    state = _state_or_received(context)
    state = _State(state.run, state.step, state.span_attributes, state.tallies, state.log_fields, (name, version))
    return otel_context.set_value(_STATE_KEY, state, context)


class _StepEntry(_Entry):
    """One entry into a step: its span under the current run and step, and its start / finish log records.

    Without a local run, the run values received in baggage stay in force (as agents and prompts keep them), so
    the step's span, the spans under it and their log records keep the caller's run id, session and user."""

    __slots__ = ("started",)

    def __init__(self, name: str) -> None:
        parent = _state_or_received(None)
        attrs = {**parent.span_attributes, semconv.LLMTEL_STEP: name}
        fields = {**parent.log_fields, semconv.LOG_STEP: name}
        ctx = otel_context.set_value(_STATE_KEY, _State(parent.run, name, attrs, parent.tallies, fields,
                                                        prompt=parent.prompt))
        span = _tracer.start_span(
            f"step {name}", context=ctx, kind=SpanKind.INTERNAL, attributes={semconv.LLMTEL_STEP: name}
        )
        super().__init__(span, trace.set_span_in_context(span, ctx))
        self.started = time.perf_counter()

    def start(self) -> None:
        """Log "step started"."""
        log.info("step started")

    def finish(self, exc: BaseException | None) -> None:
        """Log "step finished" (duration, outcome), then record a failure and end the span."""
        duration_ms = round((time.perf_counter() - self.started) * 1000, 3)
        try:
            if exc is None:
                log.info("step finished", extra={semconv.LOG_DURATION_MS: duration_ms, semconv.LOG_OUTCOME: "ok"})
            else:
                log.error(
                    "step finished",
                    exc_info=(type(exc), exc, exc.__traceback__),
                    extra={semconv.LOG_DURATION_MS: duration_ms, semconv.LOG_OUTCOME: "error"},
                )
        finally:
            super().finish(exc)


class _GeneratorEntry:
    """One entry held over a generator's whole life, attached only while the generator's own code runs.

    ``with`` it around each resume of the inner generator: its Context is attached there and detached
    before the item goes to the consumer. The entry finishes when the inner generator returns or raises
    inside such a block, or, for the block under ``closing()``, when that block ends.
    """

    __slots__ = ("entry", "token", "ending")

    def __init__(self, entry: _Entry) -> None:
        self.entry = entry
        self.token: object = None
        self.ending = False

    def open(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Start the entry and create the inner generator, inside the entry's Context."""
        with self:
            self.entry.start()
            return func(*args, **kwargs)

    def closing(self) -> _GeneratorEntry:
        """The block that closes the inner generator early: the entry finishes there, however it ends."""
        self.ending = True
        return self

    def __enter__(self) -> None:
        self.token = otel_context.attach(self.entry.context)

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            if isinstance(exc, (StopIteration, StopAsyncIteration)):
                self.entry.finish(None)
            elif exc is not None or self.ending:
                self.entry.finish(exc)
        finally:
            otel_context.detach(self.token)  # type: ignore[arg-type]


def _wrap_generator(fresh: Callable[[], _Scope], func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        entry = _GeneratorEntry(fresh()._begin())  # runs at the first next(): the run or step starts here
        gen = entry.open(func, args, kwargs)
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            try:
                with entry:
                    item = gen.throw(to_throw) if to_throw is not None else gen.send(to_send)
            except StopIteration as stop:
                return stop.value
            try:
                to_send, to_throw = (yield item), None
            except GeneratorExit:  # the consumer closed us early: close the inner generator; an ok end
                with entry.closing():
                    gen.close()
                raise
            except BaseException as exc:  # thrown in by the consumer: the inner generator gets it
                to_send, to_throw = None, exc

    return wrapper


def _wrap_async_generator(fresh: Callable[[], _Scope], func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        entry = _GeneratorEntry(fresh()._begin())
        agen = entry.open(func, args, kwargs)
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            try:
                with entry:
                    item = await (agen.athrow(to_throw) if to_throw is not None else agen.asend(to_send))
            except StopAsyncIteration:
                return
            try:
                to_send, to_throw = (yield item), None
            except GeneratorExit:
                with entry.closing():
                    await agen.aclose()
                raise
            except BaseException as exc:
                to_send, to_throw = None, exc

    return wrapper


def _decorate(fresh: Callable[[], _Scope], func: F) -> F:
    """Wrap a function, coroutine, generator or async generator function: each call in a fresh run or step."""
    if inspect.isasyncgenfunction(func):
        return _wrap_async_generator(fresh, func)  # type: ignore[return-value]
    if inspect.isgeneratorfunction(func):
        return _wrap_generator(fresh, func)  # type: ignore[return-value]
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            async with fresh():
                return await func(*args, **kwargs)

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with fresh():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


_S = TypeVar("_S", bound="_Scope")


class _Frame:
    """One ``with`` entry into a scope object: the object, its entry, and the token that detaches its Context."""

    __slots__ = ("scope", "entry", "token")

    def __init__(self, scope: _Scope, entry: _Entry, token: object) -> None:
        self.scope: _Scope | None = scope  # None once exited: a frame left behind in another Context never matches
        self.entry = entry
        self.token = token


# The scope entries made in the current Context (asyncio task, thread), innermost last. One object can be entered
# by several tasks or threads at once (a module-level ``llmtel.step("fetch")``): each ``with`` exits, and each
# ``set_output`` writes to, the entry made in its own Context, not the latest made anywhere.
_ENTERED: ContextVar[tuple[_Frame, ...]] = ContextVar("llmtel.pipeline.entered", default=())


def _function_name(func: Any, kind: str) -> str:
    """The name a bare ``@llmtel.run`` / ``@llmtel.step`` gives the function it decorates (as agents and tools)."""
    name = getattr(func, "__name__", None)
    if not isinstance(name, str) or not name.strip():
        raise TypeError(f"llmtel.{kind}: {func!r} has no name to use; give one: @llmtel.{kind}(\"name\")")
    return name


def _checked_name(name: Any, kind: str) -> str:
    """``name`` if it is a non-blank string; a clear error otherwise (a name is what a run or step is known by)."""
    if not isinstance(name, str):
        raise TypeError(f"llmtel.{kind}: name must be a string, got {name!r} "
                        f"(as a decorator: @llmtel.{kind} or @llmtel.{kind}(\"name\"))")
    if not name.strip():
        raise ValueError(f"llmtel.{kind}: name must not be empty")
    return name


class _Scope:
    """What runs and steps share: a context manager (sync and async) and a decorator for functions,
    coroutines, generators and async generators, each call of which is a fresh entry.

    One object may be entered by several asyncio tasks or threads at once, and again inside itself: each entry
    is kept in the Context it was made in (``_ENTERED``), so each ``with`` ends its own.

    A decorated generator (sync or async) is one entry over its whole iteration: it starts at the first
    ``next``, finishes when the generator is exhausted, closed or raises. Its Context is attached only
    while the generator's own code runs (around each resume) and detached at every ``yield``, so the
    consumer never runs inside it.
    """

    def __init__(self) -> None:
        # every entry not exited yet, whatever its Context: the fallback when an entry is exited in another Context
        self._open: list[_Frame] = []

    def _fresh(self: _S) -> _S:
        """A new copy, not entered: what each call of a decorated function enters."""
        raise NotImplementedError

    def _begin(self) -> _Entry:
        """Start a new entry: its span and its Context, not attached yet."""
        raise NotImplementedError

    def __call__(self, func: F) -> F:
        if not callable(func):
            raise TypeError(f"llmtel.{type(self).__name__.lower()}: decorates a function, got {func!r}")
        return _decorate(self._fresh, func)

    def _own_frame(self) -> _Frame | None:
        """This object's innermost entry made in the current Context, if any."""
        for frame in reversed(_ENTERED.get()):
            if frame.scope is self:
                return frame
        return None

    def _current_entry(self) -> _Entry | None:
        """The entry ``set_input`` / ``set_output`` / ``set_result`` write to: the innermost one made in the
        current Context; else (a thread started without a copied Context) the only one open, if just one is."""
        frame = self._own_frame()
        if frame is None:
            open_ = self._open
            frame = open_[0] if len(open_) == 1 else None
        return None if frame is None else frame.entry

    def __enter__(self: _S) -> _S:
        entry = self._begin()
        frame = _Frame(self, entry, otel_context.attach(entry.context))
        self._open.append(frame)
        _ENTERED.set((*_ENTERED.get(), frame))
        entry.start()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        frame = self._own_frame()
        if frame is not None:  # dropped, with any frame exited elsewhere (a few entries: a short scan)
            _ENTERED.set(tuple(f for f in _ENTERED.get() if f is not frame and f.scope is not None))
        else:  # entered in another Context (a generator resumed elsewhere): the latest entry, as ever
            frame = self._open[-1]
        self._open.remove(frame)
        frame.scope = None
        if isinstance(exc, GeneratorExit):  # a generator abandoned by its consumer: an ok end, as when decorated
            exc = None
        try:
            frame.entry.finish(exc)
        finally:
            otel_context.detach(frame.token)  # type: ignore[arg-type]

    async def __aenter__(self: _S) -> _S:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)


class Run(_Scope):
    """``llmtel.run(name, ...)``: context manager and decorator for one pipeline run.

    As a context manager it yields itself; ``run.run_id`` is the id in use (and ``session_id`` / ``user_id`` the
    identity, given or inherited). As a decorator (on a function, coroutine function, generator function or
    async generator function), every call is a new run, with a new id unless ``run_id`` was given; a
    generator's run spans its whole iteration.
    """

    def __init__(
        self,
        name: str,
        *,
        run_id: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        conversation_id: str | None = None,
        turn: int | None = None,
        propagate_identity: bool = False,
        **attributes: Any,
    ) -> None:
        if turn is not None and (isinstance(turn, bool) or not isinstance(turn, int) or turn < 1):
            raise ValueError(f"turn: expected a whole number from 1 (the conversation's n-th turn), got {turn!r}")
        super().__init__()
        self.name = _checked_name(name, "run")
        self.turn = turn
        self.propagate_identity = propagate_identity
        self.kind = SpanKind.INTERNAL
        self.parent_context: otel_context.Context | None = None  # set by continue_run: the caller's context
        self.last_call: Any = None  # span of the latest GenAI call started in this run (for feedback)
        self._given_run_id = run_id
        self._given_identity = (session_id, user_id)
        self.run_id = run_id or ""
        self.session_id = session_id  # as given until entered; then in force (given, else the enclosing run's)
        self.user_id = user_id
        self.conversation_id = conversation_id
        self.attributes = attributes
        self.span: trace.Span | None = None
        self.span_attributes: dict[str, Any] = {}
        self.llm_calls = CallTotals()  # the LLM calls and tool runs made inside its latest entry, for its span

    def _fresh(self) -> Run:
        return Run(
            self.name,
            run_id=self._given_run_id,
            session_id=self._given_identity[0],
            user_id=self._given_identity[1],
            conversation_id=self.conversation_id,
            turn=self.turn,
            propagate_identity=self.propagate_identity,
            **self.attributes,
        )

    def _inherit_identity(self, outer: _State) -> None:
        """Session and user ids in force: those given, else the enclosing run's (or, with no run here, those
        received in baggage), so a nested run's spans and logs keep the identity its baggage carries on."""
        session_id, user_id = self._given_identity
        fields = outer.log_fields
        self.session_id = session_id if session_id is not None else fields[semconv.LOG_SESSION_ID] or None
        self.user_id = user_id if user_id is not None else fields[semconv.LOG_USER_ID] or None

    def _begin(self) -> _Entry:
        self.run_id = self._given_run_id or uuid.uuid4().hex
        outer = _state_or_received(self.parent_context)  # calls inside count in the runs and agents around it too
        self._inherit_identity(outer)
        attrs: dict[str, Any] = {k: v for k, v in self.attributes.items() if v is not None}
        attrs[semconv.LLMTEL_RUN_ID] = self.run_id
        if self.session_id is not None:
            attrs[semconv.SESSION_ID] = self.session_id
        if self.user_id is not None:
            attrs[semconv.USER_ID] = self.user_id
        if self.conversation_id is not None:
            attrs[semconv.GEN_AI_CONVERSATION_ID] = self.conversation_id
        if self.turn is not None:
            attrs[semconv.LLMTEL_SESSION_TURN] = self.turn
        self.span_attributes = attrs  # built once; the span processor passes it to set_attributes as is
        self.last_call = None
        totals = self.llm_calls = CallTotals()
        tallies = (totals, *outer.tallies)
        ctx = otel_context.set_value(_STATE_KEY, _State(self, None, attrs, tallies, prompt=outer.prompt),
                                     self.parent_context)
        ctx = baggage.set_baggage(semconv.LLMTEL_RUN_ID, self.run_id, ctx)
        # Baggage goes on every outgoing request, model APIs included: identities only when asked for.
        if self.propagate_identity and self.session_id is not None:
            ctx = baggage.set_baggage(semconv.SESSION_ID, self.session_id, ctx)
        if self.propagate_identity and self.user_id is not None:
            ctx = baggage.set_baggage(semconv.USER_ID, self.user_id, ctx)
        own = {**attrs, semconv.LLMTEL_RUN_NAME: self.name}
        if self.kind is SpanKind.INTERNAL:  # started here, not continued from a caller: a GenAI workflow
            own[semconv.GEN_AI_OPERATION_NAME] = semconv.OP_INVOKE_WORKFLOW
            own[semconv.GEN_AI_WORKFLOW_NAME] = self.name
        # started under ``ctx`` so the parent (if any) is the current span and the processor sees this run
        span = _tracer.start_span(self.name, context=ctx, kind=self.kind, attributes=own)
        self.span = span
        return _RunEntry(self, span, trace.set_span_in_context(span, ctx), totals)

    def feedback_target(self) -> Any:
        """Trace / span / response ids to attach feedback to: the run's latest LLM call, else the run's span.

        Usable inside the run and after it ended; hand ``.as_dict()`` to the UI and back to
        ``llmtel.record_feedback(**ids, score=...)``."""
        from llmtel.feedback import target_of_span

        span = self.last_call if self.last_call is not None else self.span
        if span is None:
            raise ValueError("feedback_target: the run has not started; nothing to attach feedback to")
        return target_of_span(span)


@overload
def run(name: F) -> F: ...


@overload
def run(
    name: str, *, run_id: str | None = None, session_id: str | None = None, user_id: str | None = None,
    conversation_id: str | None = None, turn: int | None = None, propagate_identity: bool = False,
    **attributes: Any,
) -> Run: ...


def run(
    name: Any,
    *,
    run_id: str | None = None,
    session_id: str | None = None,
    user_id: str | None = None,
    conversation_id: str | None = None,
    turn: int | None = None,
    propagate_identity: bool = False,
    **attributes: Any,
) -> Any:
    """Start a pipeline run: ``with llmtel.run("ingest", session_id=...) as r:`` or ``@llmtel.run("ingest")``
    (bare ``@llmtel.run`` names the run after the function, as ``@llmtel.agent`` and ``@llmtel.tool`` do).

    As a decorator it takes functions, coroutine functions, generator functions and async generator
    functions; each call is a new run. A generator's run spans its whole iteration (from the first ``next``
    until it is exhausted, closed or raises), and its context is attached only while the generator's own
    code runs, never across ``yield``.
    The run gets a root INTERNAL span named ``name``; its id (a new uuid4 hex unless ``run_id`` is given),
    session, user and conversation ids and ``attributes`` go onto every span started inside. The run id
    travels in W3C baggage to the services the run calls; session and user ids only with
    ``propagate_identity=True``, because baggage reaches every outgoing request, third-party APIs included.
    ``turn`` (1, 2, ...) numbers the run within its session's conversation: ``llmtel.session.turn`` on every
    span of the run. It is the caller's to give (the app knows the conversation; a counter kept in one
    process would be wrong as soon as a session's turns are served by several processes).
    A run nested in another keeps the outer run's session and user ids unless given its own.
    ``name`` must be a non-empty string (TypeError / ValueError otherwise).
    """
    if callable(name):  # bare ``@llmtel.run``
        func = name
        return Run(_function_name(func, "run"), run_id=run_id, session_id=session_id, user_id=user_id,
                   conversation_id=conversation_id, turn=turn, propagate_identity=propagate_identity,
                   **attributes)(func)
    return Run(
        name,
        run_id=run_id,
        session_id=session_id,
        user_id=user_id,
        conversation_id=conversation_id,
        turn=turn,
        propagate_identity=propagate_identity,
        **attributes,
    )


class Step(_Scope):
    """``llmtel.step(name)``: context manager and decorator for functions, coroutines and generators.

    A decorated generator (sync or async) is one step over its whole iteration; the consumer never runs
    inside the step (see ``_Scope``).
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = _checked_name(name, "step")

    def _fresh(self) -> Step:
        return Step(self.name)

    def _begin(self) -> _Entry:
        return _StepEntry(self.name)


@overload
def step(name: F) -> F: ...


@overload
def step(name: str) -> Step: ...


def step(name: Any) -> Any:
    """A named step: ``with llmtel.step("retrieve"):`` or ``@llmtel.step("retrieve")`` on a function,
    coroutine function, generator function or async generator function; bare ``@llmtel.step`` names the step
    after the function (as ``@llmtel.agent`` and ``@llmtel.tool`` do). ``name`` must be a non-empty string."""
    if callable(name):  # bare ``@llmtel.step``
        return Step(_function_name(name, "step"))(name)
    return Step(name)


class PipelineSpanProcessor(SpanProcessor):
    """Copies the current run's values and step onto every span as it starts. Everything else is a no-op.

    Inside a run: one Context lookup and one ``set_attributes`` with a dict built when the run (or step)
    was entered. With no local run but run baggage (the receiving side of a service call): the run id,
    session id and user id from baggage.
    """

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        state = otel_context.get_value(_STATE_KEY, parent_context)
        if state is not None:
            span.set_attributes(state.span_attributes)  # type: ignore[attr-defined]
            if state.tallies:
                scope = span.instrumentation_scope  # cheaper than looking into the span's attributes
                if scope is not None and scope.name == _GENAI_SCOPE:
                    if state.run is not None:
                        state.run.last_call = span  # the run's latest LLM call, for feedback_target()
                    owner = _owner(state.tallies)
                    for totals in state.tallies:  # counted in its run's or agent's totals, and those around it
                        totals.start(totals is owner)
            return
        values = baggage.get_all(parent_context)
        if values:
            found: Mapping[str, Any] = {k: values[k] for k in semconv.BAGGAGE_KEYS if k in values}
            if found:
                span.set_attributes(found)
