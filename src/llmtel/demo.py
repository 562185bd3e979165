"""``llmtel demo``: an instrumented LLM pipeline, shown in the trace viewer, with no API key and no network.

It sends to a viewer already listening (``llmtel serve`` or Jaeger behind a Collector, on the default ports),
or else starts the viewer in-process, storing into ``llmtel serve``'s database so the trace can be browsed
afterwards. It starts the fake OpenAI server on loopback (unless ``real``), runs retrieve (embeddings) → call
the model with a tool (the first attempt is rate-limited and the ``openai`` client retries) → stream the
answer → parse, under ``llmtel.instrument()``, then reads the trace back from the viewer's query API and
reports what arrived: the span tree, tokens, cost, correlated logs, and the trace's URL.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from llmtel import semconv as sc
from llmtel.agents import AGENT_TOTALS
from llmtel.pipeline import RUN_TOTALS, TotalsKeys
from llmtel.testing import CHAT_COMPLETIONS, ChatReply, ErrorReply, FakeOpenAI, ToolCall, Usage

_log = logging.getLogger("llmtel.demo.pipeline")
_log.setLevel(logging.INFO)  # the root logger defaults to WARNING; the demo wants its own lines

DEFAULT_VIEWER_URL = "http://127.0.0.1:16686"
DEFAULT_OTLP_ENDPOINTS = {"http/protobuf": "http://127.0.0.1:4318", "grpc": "http://127.0.0.1:4317"}
MODEL = "gpt-4o-mini"
EMBEDDING_MODEL = "text-embedding-3-small"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
DOCUMENTS = (
    "OpenTelemetry traces show each step of a pipeline as a span.",
    "Logs carry the trace id so a run can be searched as one unit.",
    "Token counts and cost belong on the span of the model call.",
)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "word_count",
            "description": "Count the words of a text.",
            "parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
        },
    }
]


def script_model(fake: FakeOpenAI) -> None:
    """What the stand-in model answers, request by request: a rate limit, the tool call, the streamed answer."""
    fake.enqueue(ErrorReply.rate_limited(retry_after=0.05, model=MODEL), endpoint=CHAT_COMPLETIONS)  # retried
    fake.enqueue(
        ChatReply(
            tool_calls=[ToolCall("call_demo_1", "word_count", json.dumps({"text": DOCUMENTS[1]}))],
            model=RESPONSE_MODEL,
            usage=Usage(prompt=420, completion=18, cached=256),
        )
    )
    fake.enqueue(
        ChatReply(
            '{"answer": "Every log line carries the trace id of its run.", "confidence": 0.9}',
            model=RESPONSE_MODEL,
            usage=Usage(prompt=512, completion=24, cached=384),
        )
    )


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)) or 1.0)


def run_pipeline(client: Any, question: str) -> tuple[dict[str, Any], str]:
    """retrieve → (an agent:) call model with a tool → stream the answer → parse; returns (answer, trace id)."""
    import llmtel

    with llmtel.run("demo-pipeline", session_id="demo-session", question_length=len(question)) as run:
        with llmtel.step("retrieve"):
            vectors = client.embeddings.create(model=EMBEDDING_MODEL, input=[question, *DOCUMENTS]).data
            scores = [_cosine(vectors[0].embedding, v.embedding) for v in vectors[1:]]
            best = max(range(len(scores)), key=scores.__getitem__)
            context = DOCUMENTS[best]
            _log.info("retrieved the closest document", extra={"documents": len(DOCUMENTS), "best": best})

        messages: list[dict[str, Any]] = [
            {"role": "system", "content": f"Answer from this context: {context} Reply as JSON with the keys "
                                          '"answer" (one sentence) and "confidence" (0 to 1).'},
            {"role": "user", "content": question},
        ]
        # the model and its tool, as an agent: its span sums up the calls and the tool run made inside
        with llmtel.agent("answerer", model=MODEL, input=question) as answerer:
            with llmtel.step("call_model"):
                first = client.chat.completions.create(
                    model=MODEL, messages=messages, tools=TOOLS,
                    tool_choice={"type": "function", "function": {"name": "word_count"}},
                )
                call = first.choices[0].message.tool_calls[0]
                with llmtel.tool(call.function.name, call_id=call.id, arguments=call.function.arguments) as tool:
                    result = len(str(json.loads(call.function.arguments).get("text", "")).split())
                    tool.set_result(result)
                messages += [
                    first.choices[0].message.model_dump(exclude_none=True),
                    {"role": "tool", "tool_call_id": call.id, "content": str(result)},
                ]
                _log.info("the model asked for a tool", extra={"tool": call.function.name, "result": result})

            with llmtel.step("stream_answer"):
                pieces = []
                stream = client.chat.completions.create(
                    model=MODEL, messages=messages, tools=TOOLS, tool_choice="none", stream=True,
                    stream_options={"include_usage": True}, response_format={"type": "json_object"},
                )
                for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        pieces.append(chunk.choices[0].delta.content)
                answerer.set_output("".join(pieces))
                _log.info("answer streamed", extra={"chunks": len(pieces)})

        with llmtel.step("parse"):
            parsed = json.loads("".join(pieces))
            _log.info("answer parsed", extra={"confidence": parsed.get("confidence")})
    assert run.span is not None
    return parsed, format(run.span.get_span_context().trace_id, "032x")


# -- what arrived -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoSpan:
    """One span as the viewer's query API returned it."""

    span_id: str
    parent_span_id: str | None
    name: str
    start_us: int
    duration_us: int
    attributes: dict[str, Any]

    @property
    def is_llm(self) -> bool:
        return sc.GEN_AI_PROVIDER_NAME in self.attributes


@dataclass(frozen=True, slots=True)
class DemoResult:
    trace_id: str
    spans: list[DemoSpan]  # in start order
    spans_sent: int
    logs_sent: int
    logs_stored: int | None  # None: the viewer has no log API (Jaeger)
    traceparent_propagated: bool | None  # None: the real API (nothing to inspect)
    answer: dict[str, Any]
    trace_url: str
    where: str  # which viewer received the trace

    @property
    def llm_spans(self) -> list[DemoSpan]:
        return [s for s in self.spans if s.is_llm]

    @property
    def complete(self) -> bool:
        """Whether everything sent arrived, correlated: the check behind the command's exit status."""
        logs_ok = self.logs_stored is None or self.logs_stored == self.logs_sent
        return (
            self.spans_sent > 0 and len(self.spans) == self.spans_sent and bool(self.llm_spans) and logs_ok
            and self.traceparent_propagated is not False
        )


def _tag_value(tag: dict[str, Any]) -> Any:
    value = tag.get("value")
    if isinstance(value, str) and value.startswith("["):  # arrays travel as JSON strings
        try:
            return tuple(json.loads(value))
        except ValueError:
            return value
    return value


def _get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback URLs we build
        return json.loads(response.read())


def fetch_trace(api_url: str, trace_id: str) -> list[DemoSpan]:
    """The trace's spans from a Jaeger-compatible query API (``[]`` if it is not there yet)."""
    try:
        data = _get_json(f"{api_url}/api/traces/{trace_id}")["data"] or []
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return []
        raise
    spans = []
    for trace in data:
        for span in trace.get("spans", []):
            parents = [r["spanID"] for r in span.get("references", []) if r.get("refType") == "CHILD_OF"]
            attributes = {t["key"]: _tag_value(t) for t in span.get("tags", [])}
            spans.append(DemoSpan(span["spanID"], parents[0] if parents else None, span["operationName"],
                                  int(span["startTime"]), int(span["duration"]), attributes))
    return sorted(spans, key=lambda s: s.start_us)


def fetch_log_count(api_url: str, trace_id: str) -> int | None:
    """How many log records the viewer stored for the trace; None if it has no log API (e.g. Jaeger)."""
    try:
        return len(_get_json(f"{api_url}/api/llmtel/traces/{trace_id}/logs")["data"] or [])
    except urllib.error.HTTPError:
        return None


def viewer_listening(api_url: str, otlp_endpoint: str) -> bool:
    """Whether a trace viewer answers its query API at ``api_url`` and something accepts OTLP at the endpoint."""
    try:
        services = _get_json(f"{api_url}/api/services", timeout=1.0)
    except (OSError, ValueError):
        return False
    if not isinstance(services, dict) or "data" not in services:
        return False
    parts = urlsplit(otlp_endpoint if "://" in otlp_endpoint else f"http://{otlp_endpoint}")
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4318), timeout=1.0):
            return True
    except OSError:
        return False


def _span_counter() -> Any:
    """A span processor counting the spans this process ends, per trace (to compare with what arrived)."""
    from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

    class SpanCounter(SpanProcessor):
        def __init__(self) -> None:
            self.by_trace: Counter[str] = Counter()
            self._lock = threading.Lock()

        def on_end(self, span: ReadableSpan) -> None:
            if span.context is not None:
                with self._lock:
                    self.by_trace[format(span.context.trace_id, "032x")] += 1

    return SpanCounter()


class _LogCounter(logging.Handler):
    """Counts the log records written in each trace (llmtel stamps ``trace_id`` on every record)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_trace: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.by_trace[str(getattr(record, sc.LOG_TRACE_ID, ""))] += 1


def _wait_for_trace(api_url: str, trace_id: str, spans_sent: int, timeout: float) -> list[DemoSpan]:
    """Poll the query API until the whole trace is there (an external viewer may store asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            spans = fetch_trace(api_url, trace_id)
        except (OSError, ValueError, KeyError) as error:  # the viewer went away or answered nonsense
            _log.warning("could not read trace %s from %s: %s", trace_id, api_url, error)
            spans = []
        if len(spans) >= spans_sent or time.monotonic() >= deadline:
            return spans
        time.sleep(0.1)  # an external viewer gives no signal when it has stored a trace: poll its API


def run_demo(
    protocol: str = "http/protobuf",
    out: TextIO | None = None,
    *,
    real: bool = False,
    viewer_url: str = DEFAULT_VIEWER_URL,
    otlp_endpoint: str | None = None,
    db: str | Path | None = None,
    keep_serving: bool = False,
    stop: threading.Event | None = None,
    timeout: float = 10.0,
) -> DemoResult:
    """Run the demo in this process; return what the viewer received.

    A viewer already answering at ``viewer_url`` (with OTLP at ``otlp_endpoint``) gets the trace; otherwise
    the demo starts one in-process on ``db`` (default: ``llmtel serve``'s database), on ephemeral ports — or,
    with ``keep_serving``, on the default ports until ``stop`` is set (Ctrl-C in the command). ``timeout``
    bounds the wait for the whole trace to be queryable.
    """
    import openai

    import llmtel
    from opentelemetry import trace

    otlp_endpoint = otlp_endpoint or DEFAULT_OTLP_ENDPOINTS[protocol]
    with ExitStack() as stack:
        from llmtel.viewer import default_db_path

        own_viewer = None
        if viewer_listening(viewer_url, otlp_endpoint):
            api_url, endpoint, where = viewer_url.rstrip("/"), otlp_endpoint, f"the viewer running at {viewer_url}"
        else:
            from llmtel.viewer import DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT, DEFAULT_UI_PORT, Viewer

            db = db if db is not None else default_db_path()
            ports = (DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT, DEFAULT_UI_PORT) if keep_serving else (0, 0, 0)
            own_viewer = stack.enter_context(Viewer(db=db, grpc_port=ports[0], http_port=ports[1], ui_port=ports[2]))
            api_url = own_viewer.ui_url
            endpoint = own_viewer.otlp_grpc_endpoint if protocol == "grpc" else own_viewer.otlp_http_endpoint
            where = f"the demo's own viewer (database {db})"

        fake = None
        if real:
            client = openai.OpenAI(max_retries=2)
        else:
            fake = stack.enter_context(FakeOpenAI())
            script_model(fake)
            client = openai.OpenAI(base_url=fake.base_url, api_key="sk-demo-not-a-real-key", max_retries=2)

        telemetry = llmtel.instrument(
            service_name="llmtel-demo",
            endpoint=endpoint,
            protocol=protocol,
            metric_export_interval=3600,  # one export, at shutdown
        )
        spans_sent, logs_sent = _span_counter(), _LogCounter()
        provider = trace.get_tracer_provider()
        if hasattr(provider, "add_span_processor"):
            provider.add_span_processor(spans_sent)
        logging.getLogger().addHandler(logs_sent)
        try:
            answer, trace_id = run_pipeline(client, "How do logs find their trace?")
        finally:
            telemetry.shutdown(timeout=10)
            logging.getLogger().removeHandler(logs_sent)

        if own_viewer is not None:
            own_viewer.flush()
        spans = _wait_for_trace(api_url, trace_id, spans_sent.by_trace[trace_id], timeout)
        try:
            logs_stored = fetch_log_count(api_url, trace_id)
        except (OSError, ValueError, KeyError):
            logs_stored = 0
        if own_viewer is None:
            trace_url = f"{api_url}/trace/{trace_id}"  # llmtel serve's and Jaeger's UI alike
        elif keep_serving:
            trace_url = own_viewer.trace_url(trace_id)
        else:  # where `llmtel serve` will show it
            trace_url = f"{DEFAULT_VIEWER_URL}/trace/{trace_id}"
        result = DemoResult(
            trace_id=trace_id,
            spans=spans,
            spans_sent=spans_sent.by_trace[trace_id],
            logs_sent=logs_sent.by_trace[trace_id],
            logs_stored=logs_stored,
            traceparent_propagated=None if fake is None else any(
                trace_id in r.headers.get("traceparent", "") for r in fake.requests
            ),
            answer=answer,
            trace_url=trace_url,
            where=where,
        )
        if out is not None:
            _print_summary(result, protocol, real, out)
            if own_viewer is not None and not keep_serving:
                print(_browse_later(db, trace_url, default_db_path()), file=out)
            elif own_viewer is not None:
                print(f"open it: {trace_url}  (serving until Ctrl-C)", file=out, flush=True)
            else:
                print(f"open it: {trace_url}", file=out)
        if own_viewer is not None and keep_serving:
            stop = stop or threading.Event()
            while not stop.wait(0.5):
                pass
    return result


def _browse_later(db: str | Path, trace_url: str, default_db: Path) -> str:
    """How to see the trace after the demo's own viewer has stopped: ``llmtel serve`` on the same database, or,
    for ``:memory:`` (which no later process can open), that the trace is gone with the demo."""
    if str(db) == ":memory:":
        return ("the trace was stored in memory only and is gone when the demo exits: "
                "run with --keep-serving to browse it, or with --db FILE to keep it")
    serve = "llmtel serve" if Path(db) == default_db else f"llmtel serve --db {db}"
    return f"browse it later: `{serve}`, then open {trace_url}"


def _totals(attrs: dict[str, Any], keys: TotalsKeys) -> str:
    """A run's or agent's span: the totals of its LLM calls and tool runs, as ``keys`` names them."""
    totals = [f"{attrs[keys.llm_calls]} LLM calls"] if keys.llm_calls in attrs else []
    if keys.tool_calls in attrs:
        runs = attrs[keys.tool_calls]
        totals.append(f"{runs} tool run{'' if runs == 1 else 's'}")
    if keys.input_tokens in attrs:
        totals.append(f"{attrs[keys.input_tokens]} in")
    if keys.output_tokens in attrs:
        totals.append(f"{attrs[keys.output_tokens]} out")
    if keys.cost_usd in attrs:
        partial = "" if attrs.get(keys.cost_status) == "priced" else " or more"
        totals.append(f"${attrs[keys.cost_usd]:.6f}{partial}")
    return "  [" + ", ".join(totals) + "]"


def _describe(span: DemoSpan) -> str:
    attrs = span.attributes
    for keys in (RUN_TOTALS, AGENT_TOTALS):  # a run's or an agent's span: its calls' totals
        if keys.llm_calls in attrs:
            return _totals(attrs, keys)
    if not span.is_llm:
        status = attrs.get("http.response.status_code", attrs.get("http.status_code"))
        return f"  [HTTP {status}]" if status is not None else ""
    bits = []
    if sc.GEN_AI_USAGE_INPUT_TOKENS in attrs:
        bits.append(f"{attrs[sc.GEN_AI_USAGE_INPUT_TOKENS]} in")
    if sc.GEN_AI_USAGE_OUTPUT_TOKENS in attrs:
        bits.append(f"{attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS]} out")
    if sc.GEN_AI_RESPONSE_FINISH_REASONS in attrs:
        bits.append("finish=" + ",".join(attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS]))
    if sc.LLMTEL_COST_USD in attrs:
        bits.append(f"${attrs[sc.LLMTEL_COST_USD]:.6f}")
    if sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in attrs:
        bits.append(f"first chunk {attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] * 1000:.1f} ms")
    return "  [" + ", ".join(bits) + "]"


def _print_summary(result: DemoResult, protocol: str, real: bool, out: TextIO) -> None:
    by_id = {s.span_id: s for s in result.spans}

    def depth(span: DemoSpan) -> int:
        level = 0
        while span.parent_span_id in by_id:
            span = by_id[span.parent_span_id]
            level += 1
        return level

    llm = result.llm_spans
    tokens_in = sum(s.attributes.get(sc.GEN_AI_USAGE_INPUT_TOKENS, 0) for s in llm)
    tokens_out = sum(s.attributes.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS, 0) for s in llm)
    costs = [s.attributes[sc.LLMTEL_COST_USD] for s in llm if sc.LLMTEL_COST_USD in s.attributes]
    model = "the real OpenAI API" if real else "the fake OpenAI server on loopback"
    answer = result.answer.get("answer", result.answer)
    print(f"llmtel demo: the pipeline answered {answer!r} (model: {model})", file=out)
    print(f"sent over OTLP ({protocol}) to {result.where}; read back from its query API:", file=out)
    print(f"trace {result.trace_id}: {len(result.spans)} of {result.spans_sent} spans arrived, "
          f"{len(llm)} of them LLM calls", file=out)
    for span in result.spans:
        print(f"  {'  ' * depth(span)}{span.name}  ({span.duration_us / 1000:.1f} ms){_describe(span)}", file=out)
    cost = f"${sum(costs):.6f}" if costs else "unknown (no prices for this model)"
    print(f"tokens: {tokens_in} in, {tokens_out} out; cost {cost}", file=out)
    retried = [s for s in result.spans if _describe(s) == "  [HTTP 429]"]
    if retried:
        print(f"rate limited: {len(retried)} request(s) answered HTTP 429; the openai client retried them inside "
              "the same LLM span", file=out)
    if result.logs_stored is None:
        print(f"logs: {result.logs_sent} written in this trace (this viewer has no log API to check them)", file=out)
    else:
        print(f"logs: {result.logs_sent} written in this trace, {result.logs_stored} stored with its trace id",
              file=out)
    if result.traceparent_propagated is not None:
        reached = "yes" if result.traceparent_propagated else "no"
        print(f"W3C traceparent reached the model server: {reached}", file=out)
    if not result.complete:
        print("INCOMPLETE: not everything that was sent arrived (see the counts above)", file=out)
