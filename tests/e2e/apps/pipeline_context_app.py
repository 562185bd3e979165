"""A pipeline run in a real process: ``llmtel.run`` with two steps, an outbound httpx2 call, log lines.

Prints one JSON line with the run id and what the app itself saw on its log records.
"""

import json
import logging
import sys

import llmtel

url = sys.argv[1]
llmtel.instrument()

import httpx2  # noqa: E402  (after instrument(), as an app would import its HTTP client)

log = logging.getLogger("app.ingest")
seen = []


class Capture(logging.Handler):
    def emit(self, record):
        seen.append({"message": record.getMessage(), "run_id": record.run_id, "step": record.step})


log.addHandler(Capture())

with llmtel.run("ingest", session_id="s-1", user_id="u-1") as run:
    with llmtel.step("fetch"):
        status = httpx2.get(url + "/probe-pipeline").status_code
        log.warning("fetched", extra={"status": status})
    with llmtel.step("index"):
        log.warning("indexed %d documents", 2)

print(json.dumps({"run_id": run.run_id, "status": status, "seen": seen}), flush=True)
