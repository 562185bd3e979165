"""Benchmark the durable export path against the stock BatchSpanProcessor, in the same run.

Per-span cost on the application's thread (a whole span: start, end and the processor's ``on_end``, with
the export threads competing for the interpreter lock as they do in an app), with the collector up and
down; what arrived of a burst; and how long ``shutdown()`` takes with the collector down or black-holed.

Run: ``.venv/bin/python bench/bench_export.py`` (``--quick`` skips timing the stock shutdown, which takes
tens of seconds with the collector down). Only loopback: the real OTLP receiver, or a closed port.
"""

from __future__ import annotations

import argparse
import logging
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from llmtel.config import SpoolSettings, resolve_settings
from llmtel.export.resilient import ResilientExport
from llmtel.receiver import Fault, OTLPReceiver

SPANS = 5_000
ROUNDS = 3


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Batches as large as the queue and a long delay: the export threads stay idle while ``on_end`` is timed.
IDLE_BSP = {
    "OTEL_BSP_MAX_QUEUE_SIZE": str(SPANS + 1),
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": str(SPANS + 1),
    "OTEL_BSP_SCHEDULE_DELAY": "600000",
}


def ours(
    endpoint: str, spool_dir: str, shutdown_timeout: float = 2.0, environ: dict[str, str] | None = None
) -> tuple[TracerProvider, ResilientExport]:
    settings = resolve_settings(environ={}, endpoint=endpoint)
    export = ResilientExport(
        SpoolSettings(True, spool_dir, 64 << 20), shutdown_timeout=shutdown_timeout, environ=environ or {}
    )
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(export.span_processor(settings.traces))
    return provider, export


def stock(endpoint: str, idle: bool = False) -> TracerProvider:
    provider = TracerProvider(shutdown_on_exit=False)
    exporter = OTLPSpanExporter(endpoint=endpoint + "/v1/traces")
    if idle:
        processor = BatchSpanProcessor(exporter, SPANS + 1, 600_000, max_export_batch_size=SPANS + 1)
    else:
        processor = BatchSpanProcessor(exporter)
    provider.add_span_processor(processor)
    return provider


def per_span_us(provider: TracerProvider, n: int = SPANS) -> float:
    tracer = provider.get_tracer("bench")
    start = time.perf_counter()
    for i in range(n):
        with tracer.start_as_current_span("work", attributes={"i": i, "k": "v"}):
            pass
    return (time.perf_counter() - start) / n * 1e6


def on_end_us(provider: TracerProvider, spans: list[Any]) -> float:
    """The processor's ``on_end`` alone, over already-finished spans."""
    on_end = provider._active_span_processor.on_end
    start = time.perf_counter()
    for span in spans:
        on_end(span)
    return (time.perf_counter() - start) / len(spans) * 1e6


def finished_spans(n: int) -> list[Any]:
    collected: list[Any] = []
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(
        type(
            "Keep",
            (),
            {
                "on_start": lambda *a, **k: None,
                "_on_ending": lambda *a: None,
                "on_end": lambda self, s: collected.append(s),
                "shutdown": lambda self: None,
                "force_flush": lambda self, t=None: True,
            },
        )()
    )
    per_span_us(provider, n)
    return collected


def bounded(call: Callable[[], Any], limit: float) -> float | None:
    """Seconds ``call`` took, or None if it had not returned after ``limit`` seconds (left running)."""
    start = time.monotonic()
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(limit)
    return None if thread.is_alive() else time.monotonic() - start


def fmt(seconds: float | None, limit: float) -> str:
    return f"> {limit:.0f} s (still running)" if seconds is None else f"{seconds:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args, _ = parser.parse_known_args()
    logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)  # the stock exporter's retry chatter
    logging.getLogger("llmtel.export").setLevel(logging.ERROR)
    spool_root = tempfile.mkdtemp(prefix="llmtel-bench-")
    dead = f"http://127.0.0.1:{closed_port()}"

    print(f"per-span cost on the application's thread, {SPANS:,} spans per run, median of {ROUNDS} (µs/span)")
    with OTLPReceiver() as receiver:
        baseline = TracerProvider(shutdown_on_exit=False)
        results: dict[str, list[float]] = {}
        arrived: dict[str, list[int]] = {}
        spans = finished_spans(SPANS)
        for k in range(ROUNDS):  # interleaved, so drift on a shared machine hits every variant alike
            results.setdefault("no processor", []).append(per_span_us(baseline))
            provider = stock(receiver.http_endpoint, idle=True)
            results.setdefault("on_end alone: stock BatchSpanProcessor", []).append(on_end_us(provider, spans))
            provider.shutdown()
            provider, _ = ours(receiver.http_endpoint, f"{spool_root}/on_end{k}", environ=IDLE_BSP)
            results.setdefault("on_end alone: llmtel durable", []).append(on_end_us(provider, spans))
            provider.shutdown()
            receiver.store.clear()
            for label, endpoint in (("up", receiver.http_endpoint), ("down", dead)):
                receiver.store.clear()
                provider = stock(endpoint)
                results.setdefault(f"stock BatchSpanProcessor, collector {label}", []).append(per_span_us(provider))
                if label == "up":
                    provider.force_flush()
                    arrived.setdefault("stock", []).append(len(receiver.store.spans()))
                threading.Thread(target=provider.shutdown, daemon=True).start()  # may take long when down

                receiver.store.clear()
                provider, export = ours(endpoint, f"{spool_root}/{label}{k}")
                results.setdefault(f"llmtel durable, collector {label}", []).append(per_span_us(provider))
                provider.shutdown()
                if label == "up":
                    arrived.setdefault("llmtel", []).append(len(receiver.store.spans()))
        width = max(map(len, results))
        base = statistics.median(results["no processor"])
        for label, values in results.items():
            median = statistics.median(values)
            extra = "" if label.startswith("on_end") else f"   (+{median - base:5.1f} over no processor)"
            print(f"  {label:<{width}}  {median:6.1f}{extra}")
        print(f"of a {SPANS:,}-span burst with the collector up, arrived (per round):")
        for label, counts in arrived.items():
            print(f"  {label:<7} {counts}")

        print("shutdown() after 1,000 spans")
        provider, _ = ours(dead, f"{spool_root}/shutdown-refused")
        per_span_us(provider, 1000)
        took = bounded(provider.shutdown, 60)
        print(f"  llmtel durable, connection refused (deadline 2 s): {fmt(took, 60)}")
        receiver.set_fault(Fault.blackhole())
        provider, export = ours(receiver.http_endpoint, f"{spool_root}/shutdown-blackhole")
        per_span_us(provider, 1000)
        took = bounded(provider.shutdown, 60)
        kept = export.stats()["traces"].spool_items
        print(f"  llmtel durable, black-holed (deadline 2 s): {fmt(took, 60)}, {kept:,} spans kept in the spool")
        receiver.clear_fault()
        if not args.quick:
            provider = stock(dead)
            per_span_us(provider, 1000)
            took = bounded(provider.shutdown, 45)
            print(f"  stock BatchSpanProcessor, connection refused: {fmt(took, 45)}, all spans lost")


if __name__ == "__main__":
    main()
