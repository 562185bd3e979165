"""Emit telemetry towards a collector that is down, then time ``shutdown(timeout=...)`` and process exit."""

import json
import logging
import sys
import time

import llmtel
from opentelemetry import metrics, trace

explicit = "--explicit" in sys.argv
handle = llmtel.instrument()
tracer = trace.get_tracer("app")
counter = metrics.get_meter("app").create_counter("app.items")
for i in range(200):
    with tracer.start_as_current_span("work"):
        counter.add(1)
        logging.getLogger("app").warning("item %d", i)
result = {"work_done_at": time.time()}
if explicit:
    start = time.monotonic()
    result["shutdown_ok"] = handle.shutdown(timeout=0.5)
    result["shutdown_seconds"] = time.monotonic() - start
print(json.dumps(result), flush=True)
