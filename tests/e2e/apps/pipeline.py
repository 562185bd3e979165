"""A small app for end-to-end tests: spans, a log line inside a span, a metric, two outbound HTTP calls.

Run directly (``python pipeline.py URL``) it calls ``llmtel.instrument()`` first; with ``--no-setup`` it
leaves set-up to ``opentelemetry-instrument``. It prints one JSON line of what it did for the test to check.
"""

import json
import logging
import sys
import time

url = sys.argv[1]
flags = set(sys.argv[2:])

if "--no-setup" not in flags:
    import llmtel

    handle = llmtel.instrument()
    if "--twice" in flags:
        assert llmtel.instrument() is handle

import httpx2
import requests
from opentelemetry import metrics, trace

log = logging.getLogger("app.pipeline")
tracer = trace.get_tracer("app")
runs = metrics.get_meter("app").create_counter("app.runs", unit="{run}")

with tracer.start_as_current_span("app.run") as root:
    with tracer.start_as_current_span("app.step"):
        log.warning("step done", extra={"run_id": "run-42"})
        status_httpx2 = httpx2.get(url + "/probe-httpx2").status_code
        status_requests = requests.get(url + "/probe-requests", timeout=5).status_code
    runs.add(1, {"outcome": "ok"})
    ctx = root.get_span_context()

print(
    json.dumps(
        {
            "trace_id": format(ctx.trace_id, "032x"),
            "statuses": [status_httpx2, status_requests],
            "work_done_at": time.time(),
        }
    ),
    flush=True,
)
