"""Benchmark the local viewer (``llmtel serve``): OTLP ingest throughput into SQLite, and query latency over
the HTTP API with 1,000,000 stored spans.

Run: ``.venv/bin/python bench/bench_viewer.py [--spans 1000000] [--rate 10000] [--seconds 10]``.

1. Ingest over OTLP/HTTP from a separate process (pre-encoded protobuf requests of 512 spans, like the SDK's
   batch processor sends), as fast as it goes and paced at ``--rate`` spans/s; the baseline is the same
   sender against the in-memory test receiver (no SQLite). Every span must be stored: none dropped.
2. Load ``--spans`` spans (10-span LLM pipeline traces over 7 days, 5 services, 4 models) straight into a
   store file, then time each API query (median and worst of repeated runs) against the 200 ms budget.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

SERVICES = ["rag-api", "summarizer", "chatbot", "batch-eval", "ingest-worker"]
MODELS = ["gpt-4o-mini", "gpt-4o", "o4-mini", "text-embedding-3-small"]
SPANS_PER_TRACE = 10
BATCH = 512
DAY_NS = 86_400 * 10**9


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def _trace_spans(rng: random.Random, start_ns: int, service_index: int, serial: int) -> list[Span]:
    """One pipeline trace: run -> 4 steps -> 2 LLM calls + 1 embeddings call, each with its HTTP span."""
    trace_id = rng.getrandbits(128).to_bytes(16, "big")
    ids = [rng.getrandbits(64).to_bytes(8, "big") for _ in range(SPANS_PER_TRACE)]
    run_id = f"run-{serial:08d}"
    common = [_kv("llmtel.run.id", run_id), _kv("session.id", f"session-{serial % 5000:05d}")]
    error = serial % 47 == 0  # 2% of traces, spread over the services
    spans = []

    def add(index: int, parent: int | None, name: str, offset_ms: float, duration_ms: float, attrs: list[KeyValue],
            kind: int = 1, status: int = 0) -> None:
        spans.append(
            Span(
                trace_id=trace_id,
                span_id=ids[index],
                parent_span_id=ids[parent] if parent is not None else b"",
                name=name,
                kind=kind,
                start_time_unix_nano=start_ns + int(offset_ms * 1e6),
                end_time_unix_nano=start_ns + int((offset_ms + duration_ms) * 1e6),
                attributes=common + attrs,
                status=Status(code=status),
            )
        )

    model = MODELS[serial % 3]
    llm_ms = rng.lognormvariate(6.0, 0.6)  # ~400 ms median

    def llm(index: int, parent: int, operation: str, model_name: str, offset: float, ms: float) -> None:
        attrs = [
            _kv("gen_ai.operation.name", operation),
            _kv("gen_ai.provider.name", "openai"),
            _kv("gen_ai.request.model", model_name),
            _kv("gen_ai.response.model", model_name + "-2024-07-18"),
            _kv("gen_ai.usage.input_tokens", rng.randint(50, 3000)),
            _kv("gen_ai.usage.output_tokens", rng.randint(0, 500)),
            _kv("llmtel.cost.usd", rng.random() / 1000),
            _kv("llmtel.cost.status", "priced"),
            _kv("server.address", "api.openai.com"),
            _kv("server.port", 443),
        ]
        add(index, parent, f"{operation} {model_name}", offset, ms, attrs, kind=3)
        http_status = 500 if error and operation == "chat" else 200
        add(index + 1, index, "POST", offset + 1, ms - 2,
            [_kv("http.request.method", "POST"), _kv("http.response.status_code", http_status),
             _kv("url.full", "https://api.openai.com/v1/chat/completions")], kind=3)

    total = 30 + llm_ms * 2 + 40
    add(0, None, "pipeline.run", 0, total, [_kv("llmtel.run.name", "answer-question")],
        status=2 if error else 0)
    add(1, 0, "step retrieve", 1, 28, [_kv("llmtel.step", "retrieve")])
    llm(2, 1, "embeddings", "text-embedding-3-small", 2, 20)
    add(4, 0, "step call_model", 30, llm_ms + 2, [_kv("llmtel.step", "call_model")])
    llm(5, 4, "chat", model, 31, llm_ms)
    add(7, 0, "step stream_answer", 33 + llm_ms, llm_ms + 2, [_kv("llmtel.step", "stream_answer")])
    llm(8, 7, "chat", model, 34 + llm_ms, llm_ms)
    if error:
        spans[8].status.code = 2
        spans[8].attributes.append(_kv("error.type", "InternalServerError"))
    return spans


def make_requests(n_spans: int, *, span_days: float, seed: int = 7, now_ns: int | None = None) -> list[bytes]:
    """Serialized ExportTraceServiceRequests of BATCH spans (one resource per service), traces spread over
    the last `span_days` days."""
    rng = random.Random(seed)
    now_ns = now_ns or time.time_ns()
    traces = n_spans // SPANS_PER_TRACE
    starts = sorted(now_ns - int(rng.random() * span_days * DAY_NS) for _ in range(traces))
    out: list[bytes] = []
    pending: dict[int, list[Span]] = {}
    count = 0

    def emit() -> None:
        request = ExportTraceServiceRequest()
        for service_index, spans in pending.items():
            rs: ResourceSpans = request.resource_spans.add()
            rs.resource.attributes.extend([_kv("service.name", SERVICES[service_index]),
                                           _kv("telemetry.sdk.language", "python")])
            ss = rs.scope_spans.add()
            ss.scope.name = "llmtel"
            ss.spans.extend(spans)
        out.append(request.SerializeToString())
        pending.clear()

    for serial, start in enumerate(starts):
        service_index = serial % len(SERVICES)
        pending.setdefault(service_index, []).extend(_trace_spans(rng, start, service_index, serial))
        count += SPANS_PER_TRACE
        if count >= BATCH:
            emit()
            count = 0
    if pending:
        emit()
    return out


# -- ingest -------------------------------------------------------------------------------------------------

SENDER = r"""
import http.client, pickle, sys, time
host, port, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
requests = pickle.load(sys.stdin.buffer)
conn = http.client.HTTPConnection(host, port)
spans_per_request = int(sys.argv[4])
start = time.perf_counter()
for i, body in enumerate(requests):
    if rate > 0:
        due = start + i * spans_per_request / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        sys.exit(f"status {response.status}")
print(time.perf_counter() - start)
"""


def send(port: int, requests: list[bytes], rate: float) -> float:
    """Post `requests` from a separate process; returns the sender's elapsed seconds."""
    import pickle

    proc = subprocess.run(
        [sys.executable, "-c", SENDER, "127.0.0.1", str(port), str(rate), str(BATCH)],
        input=pickle.dumps(requests), capture_output=True, check=True,
    )
    return float(proc.stdout.decode().strip())


def bench_ingest(rate: float, seconds: float, db_dir: Path) -> None:
    from llmtel.receiver import OTLPReceiver
    from llmtel.viewer import Viewer

    burst = make_requests(100_000, span_days=1, seed=1)
    n_burst = sum(sum(len(ss.spans) for rs in ExportTraceServiceRequest.FromString(r).resource_spans
                      for ss in rs.scope_spans) for r in burst)

    # Baseline: the in-memory test receiver (decode + flatten, no SQLite). CPU time of this process (the
    # server side; the sender is another process) tells the cost per span even when the machine is busy.
    with OTLPReceiver(grpc_port=None) as receiver:
        start, cpu = time.perf_counter(), time.process_time()
        send(receiver.http_port, burst, 0)
        receiver.store.wait_for_spans(n_burst, timeout=300)
        baseline = n_burst / (time.perf_counter() - start)
        baseline_cpu_us = (time.process_time() - cpu) / n_burst * 1e6

    with Viewer(db_dir / "ingest.db", grpc_port=None, ui_port=None) as viewer:
        start, cpu = time.perf_counter(), time.process_time()
        sent_s = send(viewer.receiver.http_port, burst, 0)
        assert viewer.wait_for_spans(n_burst, timeout=300), viewer.store.received
        elapsed = time.perf_counter() - start
        cpu_us = (time.process_time() - cpu) / n_burst * 1e6
        stored = viewer.store.span_count()
    print(f"ingest burst, OTLP/HTTP protobuf, {n_burst:,} spans in {BATCH}-span requests (load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs):")
    print(f"  llmtel serve (SQLite file, WAL): {n_burst / elapsed:>9,.0f} spans/s committed "
          f"(sender done after {sent_s:.2f} s, all committed after {elapsed:.2f} s); stored {stored:,}; "
          f"server CPU {cpu_us:.0f} us/span = {1e6 / cpu_us:,.0f} spans/s per core")
    print(f"  baseline, in-memory receiver:    {baseline:>9,.0f} spans/s; "
          f"server CPU {baseline_cpu_us:.0f} us/span = {1e6 / baseline_cpu_us:,.0f} spans/s per core")

    paced = make_requests(int(rate * seconds), span_days=1, seed=2)
    n_paced = sum(sum(len(ss.spans) for rs in ExportTraceServiceRequest.FromString(r).resource_spans
                      for ss in rs.scope_spans) for r in paced)
    with Viewer(db_dir / "paced.db", grpc_port=None, ui_port=None) as viewer:
        start = time.perf_counter()
        sent_s = send(viewer.receiver.http_port, paced, rate)
        sent_at = time.perf_counter()
        assert viewer.wait_for_spans(n_paced, timeout=120), viewer.store.received
        lag = time.perf_counter() - sent_at
        stored = viewer.store.span_count()
        failed = viewer.store.received["failed_requests"]
    print(f"ingest paced at {rate:,.0f} spans/s for {seconds:g} s ({n_paced:,} spans): sender kept pace "
          f"({n_paced / sent_s:,.0f} spans/s achieved), stored {stored:,} of {n_paced:,}, failed requests {failed}, "
          f"last span committed {lag * 1000:.0f} ms after the last request")


# -- queries ------------------------------------------------------------------------------------------------


def load_store(path: Path, n_spans: int) -> tuple[float, float]:
    """Fill a store file with `n_spans` spans through `TraceStore.accept`; returns (seconds, spans/s)."""
    from llmtel.receiver import RequestMeta
    from llmtel.viewer import TraceStore

    meta = RequestMeta(transport="http", encoding="protobuf", compression=None, headers={}, received_at=0.0)
    requests = make_requests(n_spans, span_days=7, seed=3)
    store = TraceStore(path)
    start = time.perf_counter()
    for body in requests:
        store.accept("traces", ExportTraceServiceRequest.FromString(body), meta)
    store.flush(timeout=600)
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed, n_spans / elapsed


def timed_get(conn: http.client.HTTPConnection, path: str) -> tuple[float, dict]:
    start = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - start) * 1000
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status} {body[:200]!r}")
    return elapsed, json.loads(body)


def bench_queries(path: Path, n_spans: int, repeat: int) -> None:
    from llmtel.viewer import TraceStore, Viewer

    if path.exists():
        with TraceStore(path) as store:
            n_spans = store.span_count()
        print(f"reusing {path}: {n_spans:,} spans")
    else:
        cpu = time.process_time()
        load_s, load_rate = load_store(path, n_spans)
        cpu_us = (time.process_time() - cpu) / n_spans * 1e6
        size_mb = path.stat().st_size / 1e6
        print(f"loaded {n_spans:,} spans ({n_spans // SPANS_PER_TRACE:,} traces) in {load_s:.1f} s "
              f"({load_rate:,.0f} spans/s through TraceStore.accept, no network; CPU {cpu_us:.0f} us/span incl. "
              f"protobuf parsing); database {size_mb:.0f} MB")
    with Viewer(path, grpc_port=None, http_port=None) as viewer:
        conn = http.client.HTTPConnection("127.0.0.1", viewer.ui_port)
        _, listing = timed_get(conn, "/api/llmtel/traces?limit=1")
        newest = listing["data"][0]
        some_run = "run-00012345"
        now_us = time.time_ns() // 1000
        day_us = 86_400_000_000
        q = urllib.parse.quote
        queries = {
            "services": "/api/services",
            "operations": "/api/services/rag-api/operations",
            "jaeger search service, limit 20": "/api/traces?service=rag-api&limit=20",
            "jaeger search service, limit 100": "/api/traces?service=rag-api&limit=100",
            "jaeger search service+operation+1d window": (
                f"/api/traces?service=chatbot&operation=chat%20gpt-4o&start={now_us - day_us}&end={now_us}&limit=20"),
            "jaeger search tags model": "/api/traces?service=summarizer&limit=20&tags=" + q(
                json.dumps({"gen_ai.request.model": "gpt-4o"})),
            "jaeger search tags http 500 (2% of traces)": "/api/traces?service=summarizer&limit=20&tags=" + q(
                json.dumps({"http.response.status_code": "500"})),
            "jaeger search minDuration 1.5s": "/api/traces?service=rag-api&minDuration=1.5s&limit=20",
            "jaeger search error=true": "/api/traces?service=batch-eval&tags=" + q('{"error":"true"}') + "&limit=20",
            "jaeger trace by id": f"/api/traces/{newest['traceID']}",
            "llmtel list, limit 50": "/api/llmtel/traces?limit=50",
            "llmtel list service": "/api/llmtel/traces?service=chatbot&limit=50",
            "llmtel list model": "/api/llmtel/traces?model=o4-mini&limit=50",
            "llmtel list errors": "/api/llmtel/traces?errors=true&limit=50",
            "llmtel list minDuration 2s": "/api/llmtel/traces?minDuration=2s&limit=50",
            "llmtel list q=run id (1 match)": f"/api/llmtel/traces?q={some_run}&limit=50",
            "llmtel list q=no match (full scan)": "/api/llmtel/traces?q=zzz-nothing&limit=50",
            "llmtel list last hour": f"/api/llmtel/traces?start={now_us - 3_600_000_000}&limit=50",
            "llmtel logs of a trace": f"/api/llmtel/traces/{newest['traceID']}/logs",
            "llmtel models": "/api/llmtel/models",
        }
        print(f"query latency over HTTP with {n_spans:,} spans stored (load average {os.getloadavg()[0]:.1f}); "
              f"ms, median / worst of {repeat}; CPU ms of the process (server and client) per query; budget 200:")
        worst_all = worst_cpu = 0.0
        for label, path_q in queries.items():
            times, cpus = [], []
            for _ in range(repeat):
                cpu = time.process_time()
                elapsed, payload = timed_get(conn, path_q)
                cpus.append((time.process_time() - cpu) * 1000)
                times.append(elapsed)
            worst_all = max(worst_all, max(times))
            worst_cpu = max(worst_cpu, statistics.median(cpus))
            n = len(payload["data"]) if isinstance(payload.get("data"), list) else "-"
            total = payload.get("total", "-")
            flag = "" if max(times) < 200 else "  OVER BUDGET"
            print(f"  {label:<45} {statistics.median(times):8.1f} / {max(times):8.1f}   CPU {statistics.median(cpus):6.1f}"
                  f"   ({n} results, total {total}){flag}")
        print(f"  worst query: {worst_all:.1f} ms wall; highest median CPU: {worst_cpu:.1f} ms")
        from llmtel.viewer._report import build_report

        start = time.perf_counter()
        build_report(viewer.store, since_us=now_us - day_us, until_us=now_us)
        print(f"llmtel report --since 24h on the same store: {(time.perf_counter() - start) * 1000:.0f} ms")
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--db", type=Path, default=None,
                        help="keep the loaded store here and reuse it on the next run (default: a temporary file)")
    args, _ = parser.parse_known_args()  # ./run bench passes the same arguments to every benchmark
    print(f"bench_viewer: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="llmtel-bench-viewer-") as tmp:
        if not args.skip_ingest:
            bench_ingest(args.rate, args.seconds, Path(tmp))
        bench_queries(args.db or Path(tmp) / "million.db", args.spans, args.repeat)


if __name__ == "__main__":
    main()
