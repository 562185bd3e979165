"""``llmtel demo``: an instrumented LLM pipeline run against local stand-ins, with no API key and no network.

It starts llmtel's OTLP receiver and the fake OpenAI server on loopback, runs retrieve → call the model with
a tool → stream the answer → parse, using the real ``openai`` client under ``llmtel.instrument()``, shuts
telemetry down, and reports what actually arrived over OTLP: the span tree, tokens, cost and correlated logs.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any, TextIO

from llmtel import semconv as sc
from llmtel.receiver import OTLPReceiver, ReceivedSpan
from llmtel.testing import ChatReply, FakeOpenAI, ToolCall, Usage

_log = logging.getLogger("llmtel.demo.pipeline")
_log.setLevel(logging.INFO)  # the root logger defaults to WARNING; the demo wants its step lines

MODEL = "gpt-4o-mini"
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
    """What the stand-in model answers, call by call: a tool call, then the final answer (streamed)."""
    fake.enqueue(
        ChatReply(
            tool_calls=[ToolCall("call_demo_1", "word_count", json.dumps({"text": DOCUMENTS[1]}))],
            finish_reason="tool_calls",
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


def run_pipeline(base_url: str, question: str) -> dict[str, Any]:
    """retrieve → call model with a tool → stream the answer → parse; each step a span, logged before/after."""
    import openai
    from opentelemetry import trace

    client = openai.OpenAI(base_url=base_url, api_key="sk-demo-not-a-real-key", max_retries=1)
    tracer = trace.get_tracer("llmtel.demo")
    with tracer.start_as_current_span("pipeline.run", attributes={"pipeline.question.length": len(question)}):
        with tracer.start_as_current_span("step.retrieve"):
            _log.info("retrieve started", extra={"step": "retrieve"})
            vectors = client.embeddings.create(model="text-embedding-3-small", input=[question, *DOCUMENTS]).data
            scores = [_cosine(vectors[0].embedding, v.embedding) for v in vectors[1:]]
            context = DOCUMENTS[max(range(len(scores)), key=scores.__getitem__)]
            _log.info("retrieve finished", extra={"step": "retrieve", "documents": len(DOCUMENTS)})

        messages: list[dict[str, Any]] = [
            {"role": "system", "content": f"Answer from this context: {context}"},
            {"role": "user", "content": question},
        ]
        with tracer.start_as_current_span("step.call_model"):
            _log.info("model call started", extra={"step": "call_model"})
            first = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
            call = first.choices[0].message.tool_calls[0]
            with tracer.start_as_current_span(
                f"execute_tool {call.function.name}",
                attributes={sc.GEN_AI_OPERATION_NAME: "execute_tool", "gen_ai.tool.name": call.function.name,
                            "gen_ai.tool.call.id": call.id},
            ):
                result = len(json.loads(call.function.arguments)["text"].split())
            messages += [
                first.choices[0].message.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": call.id, "content": str(result)},
            ]
            _log.info("model asked for a tool", extra={"step": "call_model", "tool": call.function.name})

        with tracer.start_as_current_span("step.stream_answer"):
            pieces = []
            stream = client.chat.completions.create(
                model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True}
            )
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces.append(chunk.choices[0].delta.content)
            _log.info("answer streamed", extra={"step": "stream_answer", "chunks": len(pieces)})

        with tracer.start_as_current_span("step.parse"):
            parsed = json.loads("".join(pieces))
            _log.info("answer parsed", extra={"step": "parse", "confidence": parsed["confidence"]})
    return parsed


@dataclass(frozen=True, slots=True)
class DemoResult:
    trace_id: str
    spans: list[ReceivedSpan]
    log_count: int
    correlated_logs: int
    metric_names: list[str]
    traceparent_propagated: bool
    answer: dict[str, Any]

    @property
    def llm_spans(self) -> list[ReceivedSpan]:
        return [s for s in self.spans if sc.GEN_AI_PROVIDER_NAME in s.attributes]


def run_demo(protocol: str = "http/protobuf", out: TextIO | None = None) -> DemoResult:
    """Run the whole demo in this process and return what the receiver got."""
    import llmtel

    with OTLPReceiver() as receiver, FakeOpenAI() as fake:
        script_model(fake)
        endpoint = receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint
        telemetry = llmtel.instrument(
            service_name="llmtel-demo",
            endpoint=endpoint,
            protocol=protocol,
            metric_export_interval=3600,  # one export, at shutdown
        )
        answer = run_pipeline(fake.base_url, "How do logs find their trace?")
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
            traceparent_propagated=any(trace_id in r.headers.get("traceparent", "") for r in fake.requests),
            answer=answer,
        )
    if out is not None:
        _print_summary(result, protocol, out)
    return result


def _describe(span: ReceivedSpan) -> str:
    attrs = span.attributes
    if sc.GEN_AI_PROVIDER_NAME not in attrs:
        return ""
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


def _print_summary(result: DemoResult, protocol: str, out: TextIO) -> None:
    by_id = {s.span_id: s for s in result.spans}

    def depth(span: ReceivedSpan) -> int:
        level = 0
        while span.parent_span_id in by_id:
            span = by_id[span.parent_span_id]
            level += 1
        return level

    llm = result.llm_spans
    tokens_in = sum(s.attributes.get(sc.GEN_AI_USAGE_INPUT_TOKENS, 0) for s in llm)
    tokens_out = sum(s.attributes.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS, 0) for s in llm)
    cost = sum(s.attributes.get(sc.LLMTEL_COST_USD, 0.0) for s in llm)
    print(f"llmtel demo: the pipeline answered {result.answer['answer']!r}", file=out)
    print(f"OTLP protocol: {protocol}; everything below was received over a loopback socket.", file=out)
    print(f"trace {result.trace_id}: {len(result.spans)} spans, {len(llm)} of them LLM calls", file=out)
    for span in result.spans:
        ms = (span.end_ns - span.start_ns) / 1e6
        print(f"  {'  ' * depth(span)}{span.name}  ({ms:.1f} ms){_describe(span)}", file=out)
    print(f"tokens: {tokens_in} in, {tokens_out} out; cost ${cost:.6f}", file=out)
    print(f"logs: {result.log_count} received, {result.correlated_logs} carry this trace id", file=out)
    print(f"metrics: {', '.join(result.metric_names) or 'none'}", file=out)
    print(f"W3C traceparent reached the model server: {'yes' if result.traceparent_propagated else 'no'}", file=out)
