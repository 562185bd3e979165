"""An app for the spool tests: emit spans and log lines under ``llmtel.instrument()``.

``--spans N --logs M --tag T``: emit N spans named ``work-T`` and M log lines ``line-T i``.
``--hold``: once everything is in the spool, print a JSON report and sleep until killed.
``--drain``: wait until no spool segment is left in ``LLMTEL_SPOOL_DIR`` (another process's leftovers were
sent), then exit normally. ``--flush``: report what ``handle.force_flush()`` returned.
"""

import argparse
import json
import logging
import os
import pathlib
import time

import llmtel
from opentelemetry import trace

parser = argparse.ArgumentParser()
parser.add_argument("--spans", type=int, default=0)
parser.add_argument("--logs", type=int, default=0)
parser.add_argument("--tag", default="a")
parser.add_argument("--hold", action="store_true")
parser.add_argument("--drain", action="store_true")
parser.add_argument("--flush", action="store_true")
args = parser.parse_args()

handle = llmtel.instrument()
tracer = trace.get_tracer("spool-app")
log = logging.getLogger("app")
for i in range(args.spans):
    with tracer.start_as_current_span(f"work-{args.tag}", attributes={"i": i}):
        pass
for i in range(args.logs):
    log.warning("line-%s %d", args.tag, i)


def wait_until(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


report = {"work_done_at": time.time(), "pid": os.getpid()}
if args.hold:
    stats = handle.export_stats
    report["all_spooled"] = wait_until(
        lambda: stats()["traces"].spooled == args.spans and stats()["logs"].spooled == args.logs
    )
    print(json.dumps(report), flush=True)
    time.sleep(3600)
if args.drain:
    spool = pathlib.Path(os.environ["LLMTEL_SPOOL_DIR"])
    report["drained"] = wait_until(lambda: not list(spool.glob("*/*.seg")))
    report["stats"] = {signal: s.delivered for signal, s in handle.export_stats().items()}
if args.flush:
    report["flushed"] = handle.force_flush(2.0)
    report["work_done_at"] = time.time()
print(json.dumps(report), flush=True)
