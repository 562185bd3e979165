"""Service A: a run that calls service B over HTTP, once with httpx2 and once with requests."""

import json
import logging
import sys

import llmtel

url = sys.argv[1]
llmtel.instrument()

import httpx2  # noqa: E402  (after instrument(), as an app would import its HTTP clients)
import requests  # noqa: E402

log = logging.getLogger("service_a")
log.setLevel(logging.INFO)

with llmtel.run("service_a.request", session_id="s-9", user_id="u-9", propagate_identity=True) as run:
    with llmtel.step("call_b"):
        first = httpx2.post(url + "/work", content=b"{}").json()
        second = requests.post(url + "/work", data=b"{}", timeout=10).json()
        log.info("b answered")

print(json.dumps({"run_id": run.run_id, "answers": [first, second]}), flush=True)
