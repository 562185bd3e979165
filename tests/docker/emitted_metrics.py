"""What llmtel really emits as metrics, recorded through its own emission code (GenAI calls, runs, agents, tools)
into the SDK and read back."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Histogram, InMemoryMetricReader, Sum
from opentelemetry.sdk.trace import TracerProvider

from llmtel.cost import PriceBook
from llmtel.genai.emit import GenAITelemetry
from llmtel.genai.record import GenAICall
from llmtel.scope_metrics import ScopeMetrics
from tests.docker.otlp_to_prometheus import Kind


@dataclass(frozen=True)
class EmittedMetric:
    """One OTLP metric as llmtel exports it: name, unit, type, attribute keys and histogram boundaries."""

    name: str
    unit: str
    kind: Kind
    attributes: frozenset[str]
    bounds: tuple[float, ...]


def _record_calls(telemetry: GenAITelemetry) -> None:
    """Finish a priced streamed chat call, an embeddings call and a failed chat call."""
    streamed = GenAICall(operation="chat", provider="openai", request_model="gpt-4o-mini", server_address="api.openai.com",
                         server_port=443, stream=True)
    span = telemetry.start(streamed)
    streamed.first_chunk_perf = streamed.start_perf + 0.2
    streamed.end_perf = streamed.start_perf + 0.9
    streamed.response_model = "gpt-4o-mini-2024-07-18"
    streamed.input_tokens, streamed.output_tokens = 120, 30
    telemetry.finish(streamed, span)

    embeddings = GenAICall(operation="embeddings", provider="openai", request_model="text-embedding-3-small")
    span = telemetry.start(embeddings)
    embeddings.response_model, embeddings.input_tokens = "text-embedding-3-small", 8
    telemetry.finish(embeddings, span)

    failed = GenAICall(operation="chat", provider="openai", request_model="gpt-4o-mini")
    span = telemetry.start(failed)
    telemetry.finish(failed, span, error=TimeoutError("no answer"))


def _record_scopes(scopes: ScopeMetrics) -> None:
    """End a priced run and a failed run without calls (with the totals their spans would carry), a continued run,
    an agent invocation and two tool runs, one failed."""
    from llmtel import semconv as sc

    scopes.run("answer-question", 2.5, {sc.LLMTEL_RUN_COST_USD: 0.004, sc.LLMTEL_RUN_COST_STATUS: "priced"}, None)
    scopes.run("answer-question", 0.1, {}, ValueError("no question"))
    scopes.run("answer", 0.3, {}, None, workflow=False)
    scopes.agent("helpdesk", "gpt-4o-mini", 1.5, 2, 1, None)
    scopes.tool("lookup_order", "function", "helpdesk", 0.05, None)
    scopes.tool("lookup_order", "function", None, 0.05, TimeoutError("slow"))


def record_emitted_metrics() -> dict[str, EmittedMetric]:
    """Every metric llmtel's GenAI emission produces, by OTLP name, read back from the SDK."""
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    tracer_provider = TracerProvider()
    prices = PriceBook({"gpt-4o-mini-2024-07-18": {"input": 0.15, "output": 0.6},
                        "text-embedding-3-small": {"input": 0.02, "output": 0.0}})
    telemetry = GenAITelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider, prices=prices)
    _record_calls(telemetry)
    _record_scopes(ScopeMetrics(meter_provider.get_meter("llmtel.pipeline")))
    data = reader.get_metrics_data()
    meter_provider.shutdown()
    tracer_provider.shutdown()
    found: dict[str, EmittedMetric] = {}
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points = list(metric.data.data_points)
                if isinstance(metric.data, Histogram):
                    kind, bounds = Kind.HISTOGRAM, tuple(points[0].explicit_bounds)
                elif isinstance(metric.data, Sum) and metric.data.is_monotonic:
                    kind, bounds = Kind.COUNTER, ()
                else:
                    kind, bounds = Kind.GAUGE, ()
                keys = frozenset(key for point in points for key in point.attributes)
                found[metric.name] = EmittedMetric(metric.name, metric.unit or "", kind, keys, bounds)
    return found
