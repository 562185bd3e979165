"""A small app for end-to-end tests: spans, a log line inside a span, a metric, two outbound HTTP calls.

Run directly (``python pipeline.py URL``) it calls ``llmtel.instrument()`` first; with ``--no-setup`` it
leaves set-up to ``opentelemetry-instrument``. It prints one JSON line of what it did for the test to check.
With ``--no-threads-at-exit``, no thread can be started once the interpreter exits (as on Python 3.12.0 and
3.12.1), when llmtel's exit hook delivers what is still buffered.
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
    if "--no-threads-at-exit" in flags:
        import atexit
        import threading

        def refuse_new_threads() -> None:  # registered after llmtel's exit hook, so it runs before it
            def start(self: threading.Thread) -> None:
                raise RuntimeError("can't create new thread at interpreter shutdown")

            threading.Thread.start = start  # type: ignore[method-assign]

        atexit.register(refuse_new_threads)

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
