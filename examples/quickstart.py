"""Quickstart: one ``llmtel.instrument()`` call, then an ordinary app whose spans, logs and HTTP calls
are exported over OTLP (to http://localhost:4318 unless OTEL_EXPORTER_OTLP_ENDPOINT says otherwise).

    python examples/quickstart.py            # with the docker/ stack running, see it in Jaeger
"""

import logging

import llmtel

llmtel.instrument(service_name="quickstart")

from opentelemetry import trace  # noqa: E402

log = logging.getLogger("quickstart")
tracer = trace.get_tracer("quickstart")

with tracer.start_as_current_span("answer-question"):
    log.warning("this log line carries the span's trace id")
