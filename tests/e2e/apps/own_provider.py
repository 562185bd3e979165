"""An app that set up its own TracerProvider before calling ``llmtel.instrument()``: it must be kept."""

import json

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

import llmtel  # noqa: E402

handle = llmtel.instrument()
with trace.get_tracer("app").start_as_current_span("mine"):
    pass
print(
    json.dumps(
        {
            "same_provider": trace.get_tracer_provider() is provider,
            "kept": list(handle.kept),
            "in_memory_spans": [s.name for s in exporter.get_finished_spans()],
        }
    ),
    flush=True,
)
