"""``llmtel demo``: an instrumented pipeline run against local stand-ins, with no API key and no network.

It starts llmtel's OTLP receiver and a stand-in model server on loopback, runs a small multi-step pipeline
under ``llmtel.instrument()``, shuts telemetry down, and reports what actually arrived over OTLP.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

from llmtel.receiver import OTLPReceiver, ReceivedSpan

_log = logging.getLogger("llmtel.demo.pipeline")
_log.setLevel(logging.INFO)  # the root logger defaults to WARNING; the demo wants its step lines

DOCUMENTS = (
    "OpenTelemetry traces show each step of a pipeline as a span.",
    "Logs carry the trace id so a run can be searched as one unit.",
    "Token counts and cost belong on the span of the model call.",
)


class _ModelHandler(BaseHTTPRequestHandler):
    """Answers POST /v1/chat/completions with a fixed reply and remembers the traceparent it was sent."""

    protocol_version = "HTTP/1.1"
    seen_traceparents: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        type(self).seen_traceparents.append(self.headers.get("traceparent", ""))
        question = request.get("messages", [{}])[-1].get("content", "")
        body = json.dumps(
            {
                "id": "chatcmpl-demo-1",
                "object": "chat.completion",
                "model": request.get("model", "demo-model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": f"Answer to: {question[:40]}"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence per-request lines
        return


@contextmanager
def model_server() -> Iterator[str]:
    """A stand-in chat-completions server on an ephemeral loopback port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ModelHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="llmtel-demo-model", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_pipeline(model_url: str, question: str) -> str:
    """retrieve → call model → parse, each step a span with a log line before and after."""
    import httpx2
    from opentelemetry import metrics, trace

    tracer = trace.get_tracer("llmtel.demo")
    requests_counter = metrics.get_meter("llmtel.demo").create_counter("demo.pipeline.runs", unit="{run}")
    with tracer.start_as_current_span("pipeline.run", attributes={"pipeline.question.length": len(question)}):
        with tracer.start_as_current_span("step.retrieve"):
            _log.info("retrieve started", extra={"step": "retrieve"})
            words = set(question.lower().split())
            hits = [d for d in DOCUMENTS if words & set(d.lower().split())]
            _log.info("retrieve finished", extra={"step": "retrieve", "documents": len(hits)})
        with tracer.start_as_current_span("step.call_model"):
            _log.info("model call started", extra={"step": "call_model"})
            with httpx2.Client(base_url=model_url, timeout=5.0) as client:
                reply = client.post(
                    "/v1/chat/completions",
                    json={"model": "demo-model", "messages": [{"role": "user", "content": question}]},
                ).json()
            _log.info("model call finished", extra={"step": "call_model"})
        with tracer.start_as_current_span("step.parse"):
            answer = reply["choices"][0]["message"]["content"]
            _log.info("parse finished", extra={"step": "parse", "answer_length": len(answer)})
        requests_counter.add(1)
    return answer


@dataclass(frozen=True, slots=True)
class DemoResult:
    trace_id: str
    spans: list[ReceivedSpan]
    log_count: int
    correlated_logs: int
    metric_names: list[str]
    traceparent_propagated: bool
    answer: str


def run_demo(protocol: str = "http/protobuf", out: TextIO | None = None) -> DemoResult:
    """Run the whole demo in this process and return what the receiver got."""
    import llmtel

    with OTLPReceiver() as receiver, model_server() as model_url:
        endpoint = receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint
        telemetry = llmtel.instrument(
            service_name="llmtel-demo",
            endpoint=endpoint,
            protocol=protocol,
            metric_export_interval=3600,  # one export, at shutdown
        )
        answer = run_pipeline(model_url, "How do logs find their trace?")
        telemetry.shutdown(timeout=10)
        store = receiver.store
        store.wait_for(lambda s: bool(s.spans()), timeout=5)
        spans = sorted(store.spans(), key=lambda s: s.start_ns)
        root = next((s for s in spans if s.name == "pipeline.run"), None)
        trace_id = root.trace_id if root else ""
        logs = store.logs()
        result = DemoResult(
            trace_id=trace_id,
            spans=[s for s in spans if s.trace_id == trace_id],
            log_count=len(logs),
            correlated_logs=sum(1 for rec in logs if rec.trace_id == trace_id),
            metric_names=sorted({p.name for p in store.metric_points()}),
            traceparent_propagated=any(trace_id in tp for tp in _ModelHandler.seen_traceparents),
            answer=answer,
        )
    if out is not None:
        _print_summary(result, protocol, out)
    return result


def _print_summary(result: DemoResult, protocol: str, out: TextIO) -> None:
    by_id = {s.span_id: s for s in result.spans}

    def depth(span: ReceivedSpan) -> int:
        level = 0
        while span.parent_span_id in by_id:
            span = by_id[span.parent_span_id]
            level += 1
        return level

    print(f"llmtel demo: pipeline answered {result.answer!r}", file=out)
    print(f"OTLP protocol: {protocol}; everything below was received over a loopback socket.", file=out)
    print(f"trace {result.trace_id}: {len(result.spans)} spans", file=out)
    for span in result.spans:
        ms = (span.end_ns - span.start_ns) / 1e6
        print(f"  {'  ' * depth(span)}{span.name}  ({ms:.1f} ms)", file=out)
    print(f"logs: {result.log_count} received, {result.correlated_logs} carry this trace id", file=out)
    print(f"metrics: {', '.join(result.metric_names) or 'none'}", file=out)
    print(f"W3C traceparent reached the model server: {'yes' if result.traceparent_propagated else 'no'}", file=out)
