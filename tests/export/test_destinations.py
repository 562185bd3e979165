"""Where telemetry goes, and what is shown of it: gRPC targets, endpoints in log lines, spools kept apart by
destination and program, TLS files that cannot be read. Against real loopback receivers."""

from __future__ import annotations

import logging
import sys
import textwrap
import time
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmtel.config import SpoolSettings, resolve_settings
from llmtel.export import spool as spool_module
from llmtel.export.durable import encode_span_batch
from llmtel.export.exporters import build_exporter
from llmtel.export.resilient import ResilientExport
from llmtel.export.senders import (
    build_sender,
    display_endpoint,
    grpc_target,
    redact_endpoints,
    transport_options,
)
from llmtel.export.spool import Spool, spool_scope
from tests.e2e.harness import clean_env, run_app
from tests.export.collectors import DownReceiver
from tests.export.conftest import emit_spans, received_ids

SECRET = "Sup3rS3cretPassw0rd"


def one_span_payload(name: str = "work") -> bytes:
    """One finished SDK span, encoded as an ``ExportTraceServiceRequest``."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.get_tracer("test").start_span(name).end()
    return encode_span_batch(memory.get_finished_spans())


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [rec.getMessage() for rec in caplog.records if rec.name == "llmtel.export"]


def wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


# --- gRPC targets ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "target"),
    [
        ("http://collector:4317", "collector:4317"),
        ("http://collector:4317/", "collector:4317"),
        ("https://collector:4317/v1/traces", "collector:4317"),
        ("http://otel:pw@collector:4317/x?token=t", "collector:4317"),
        ("http://[::1]:4317/", "[::1]:4317"),
        ("collector:4317", "collector:4317"),
    ],
)
def test_a_grpc_target_is_host_and_port_whatever_path_the_endpoint_has(endpoint, target):
    assert grpc_target(endpoint) == target


GRPC_ENDPOINTS = {
    "base with a trailing slash": lambda g: {"OTEL_EXPORTER_OTLP_ENDPOINT": g + "/"},
    "signal endpoint with a path": lambda g: {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": g + "/v1/traces"},
}


@pytest.mark.parametrize("case", GRPC_ENDPOINTS)
def test_a_grpc_endpoint_with_a_path_delivers_through_the_durable_sender(otlp_receiver, case):
    env = {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", **GRPC_ENDPOINTS[case](otlp_receiver.grpc_endpoint)}
    sender = build_sender("traces", resolve_settings(environ=env).traces, transport_options("traces", {}))
    try:
        outcome = sender.send(one_span_payload("durable"), 5.0)
    finally:
        sender.close()
    assert outcome.delivered, outcome
    assert [s.name for s in otlp_receiver.store.spans()] == ["durable"]


@pytest.mark.parametrize("case", GRPC_ENDPOINTS)
def test_a_grpc_endpoint_with_a_path_delivers_through_the_stock_exporter(otlp_receiver, case):
    env = {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", **GRPC_ENDPOINTS[case](otlp_receiver.grpc_endpoint)}
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(build_exporter("traces", resolve_settings(environ=env).traces)))
    provider.get_tracer("test").start_span("stock").end()
    provider.shutdown()
    assert otlp_receiver.store.wait_for_spans(1, timeout=5)
    assert [s.name for s in otlp_receiver.store.spans()] == ["stock"]


# --- endpoints in log lines -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "shown"),
    [
        (f"http://otel:{SECRET}@127.0.0.1:4318/v1/traces", "http://127.0.0.1:4318/v1/traces"),
        (f"https://collector:4318/v1/logs?api_key={SECRET}#frag", "https://collector:4318/v1/logs"),
        (f"otel:{SECRET}@collector:4317", "collector:4317"),
        ("http://[::1]:4317", "http://[::1]:4317"),
        ("http://[::1", "<unparsable endpoint>"),
    ],
)
def test_an_endpoint_is_shown_without_user_info_query_or_fragment(endpoint, shown):
    assert display_endpoint(endpoint) == shown


def test_urls_in_an_error_detail_lose_their_credentials():
    detail = f"LocationParseError: Failed to parse: http://otel:{SECRET}@127.0.0.1:x/v1/traces?token={SECRET}"
    assert redact_endpoints(detail) == "LocationParseError: Failed to parse: http://127.0.0.1:x/v1/traces"


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_a_password_in_the_endpoint_never_reaches_a_log_line(down_receiver, tmp_path, caplog, protocol):
    port = down_receiver.grpc_port if protocol == "grpc" else down_receiver.http_port
    settings = resolve_settings(environ={}, endpoint=f"http://otel:{SECRET}@127.0.0.1:{port}", protocol=protocol)
    export = ResilientExport(
        SpoolSettings(True, str(tmp_path / "spool"), 64 << 20),
        shutdown_timeout=0.5,
        environ={"OTEL_BSP_SCHEDULE_DELAY": "20", "OTEL_EXPORTER_OTLP_TIMEOUT": "1"},
        backoff=(0.02, 0.2),
    )
    provider = TracerProvider(shutdown_on_exit=False)
    with caplog.at_level(logging.DEBUG, logger="llmtel.export"):
        provider.add_span_processor(export.span_processor(settings.traces))
        provider.get_tracer("test").start_span("work").end()
        assert wait(lambda: any("cannot be delivered" in m for m in messages(caplog)))
        provider.shutdown()
    shown = messages(caplog)
    assert any(f"127.0.0.1:{port}" in m and "cannot be delivered" in m for m in shown), shown
    assert not [m for m in shown if SECRET in m]


# --- spools kept apart by destination and program -------------------------------------------------------------


def test_spooled_spans_are_only_sent_to_the_destination_they_were_spooled_for(rig, spool_dir, otlp_receiver, caplog):
    first = DownReceiver()
    try:
        a = rig(first)  # the collector is down: everything goes to the spool
        emit_spans(a, 5, name="for-first")
        assert a.shutdown(timeout=0.5) is True
        assert a.stats().spool_items == 5

        with caplog.at_level(logging.WARNING, logger="llmtel.export"):
            b = rig(otlp_receiver, directory=spool_dir)  # same program, same directory, another collector
            emit_spans(b, 1, name="from-b")
            assert otlp_receiver.store.wait_for(lambda s: len(s.spans()) >= 1)
            assert wait(lambda: any("are left there" in m for m in messages(caplog)))
            time.sleep(0.5)  # five more adoption rounds (every 0.1 s) in which nothing may be taken
        assert [s.name for s in otlp_receiver.store.spans()] == ["from-b"]
        left = [m for m in messages(caplog) if "are left there" in m]
        assert len(left) == 1
        assert f"are for {first.http_endpoint}/v1/traces, not {otlp_receiver.http_endpoint}/v1/traces" in left[0]
        b.shutdown(0.5)

        first.start()  # the first destination is back: a process sending there delivers what was kept for it
        c = rig(first, directory=spool_dir)
        assert first.store.wait_for(lambda s: len(s.spans()) >= 5)
        time.sleep(0.2)
        assert sorted(received_ids(first, "for-first")) == sorted(set(received_ids(first, "for-first")))
        assert len(received_ids(first, "for-first")) == 5
        c.shutdown(0.5)
    finally:
        first.stop()


APP = textwrap.dedent(
    """
    import sys
    import llmtel
    from opentelemetry import trace

    handle = llmtel.instrument()
    trace.get_tracer("app").start_span(sys.argv[1]).end()
    print("flushed", handle.force_flush(float(sys.argv[2])), flush=True)
    """
)


def test_apps_without_a_service_name_never_send_each_others_spool(tmp_path):
    """Two programs, neither naming its service, share the default spool directory and the collector."""
    for name in ("app_a.py", "app_b.py"):
        (tmp_path / name).write_text(APP)
    collector = DownReceiver()
    env = clean_env(
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.http_endpoint,
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        LLMTEL_SHUTDOWN_TIMEOUT="0.5",
    )
    try:
        run = run_app([sys.executable, str(tmp_path / "app_a.py"), "a-span", "0.2"], env)
        assert "flushed False" in run.stdout, run.stderr  # collector down: kept in the spool
        assert list((tmp_path / "cache/llmtel/spool/unknown_service/traces").glob("*.seg"))

        collector.start()
        run = run_app([sys.executable, str(tmp_path / "app_b.py"), "b-span", "5"], env)
        assert "flushed True" in run.stdout, run.stderr
        assert [s.name for s in collector.store.spans()] == ["b-span"]

        run = run_app([sys.executable, str(tmp_path / "app_a.py"), "a-again", "5"], env)  # A restarted
        assert "flushed True" in run.stdout, run.stderr
        assert sorted(s.name for s in collector.store.spans()) == ["a-again", "a-span", "b-span"]
    finally:
        collector.stop()


def test_the_program_is_part_of_the_scope_unless_the_directory_is_a_named_services(tmp_path, monkeypatch):
    def scope(directory: Path, program: str, destination: str = "http://c:4318/v1/traces") -> str:
        monkeypatch.setattr(spool_module, "main_program", lambda: program)
        return spool_scope(directory, destination, destination)[0]

    named = tmp_path / "llmtel" / "spool" / "billing" / "traces"
    assert scope(named, "/srv/web.py") == scope(named, "/srv/worker.py")
    for shared in (tmp_path / "llmtel" / "spool" / "unknown_service" / "traces", tmp_path / "mine" / "traces"):
        assert scope(shared, "/srv/web.py") != scope(shared, "/srv/worker.py")
        assert scope(shared, "/srv/web.py") == scope(shared, "/srv/web.py")
    assert scope(named, "x", "http://c:4318/v1/traces") != scope(named, "x", "http://d:4318/v1/traces")


def _orphan(directory: Path, scope: str | None, about: str = "") -> None:
    """Leave one spooled record as a process of ``scope`` that is gone would."""
    spool = Spool(directory, signal="traces", max_bytes=1 << 20, on_drop=lambda items, reason: None, scope=scope)
    if about:
        spool._describe(about)
    assert spool.append(1, b"payload")
    spool.close()


def test_a_spool_adopts_only_its_own_scopes_segments_and_names_the_others(tmp_path):
    mine, same_program_elsewhere, other_program = "ab" * 4 + "01" * 6, "ab" * 4 + "02" * 6, "cd" * 4 + "01" * 6
    _orphan(tmp_path, None)  # written by a version that recorded no scope
    _orphan(tmp_path, same_program_elsewhere, "destination: http://old:4318/v1/traces\nprogram: p\n")
    _orphan(tmp_path, other_program)
    _orphan(tmp_path, mine)

    spool = Spool(tmp_path, signal="traces", max_bytes=1 << 20, on_drop=lambda items, reason: None, scope=mine)
    others = spool.other_segments()
    assert others.unscoped == 1
    assert others.elsewhere == {"http://old:4318/v1/traces": 1}
    assert spool.adopt_orphans() == 1
    assert spool.items == 1
    spool.close()
    assert len(list(tmp_path.glob("*.seg"))) == 4  # three left alone, and the adopted one (not yet sent)


# --- TLS files ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signal", "variable"),
    [
        ("traces", "OTEL_EXPORTER_OTLP_CERTIFICATE"),
        ("logs", "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE"),
        ("traces", "OTEL_EXPORTER_OTLP_CLIENT_KEY"),
        ("metrics", "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE"),
    ],
)
def test_an_unreadable_tls_file_is_a_value_error_naming_its_variable(tmp_path, monkeypatch, signal, variable):
    env = {variable: str(tmp_path / "missing.pem")}
    export = getattr(resolve_settings(environ={}, endpoint="https://127.0.0.1:9", protocol="grpc"), signal)
    with pytest.raises(ValueError, match=f"^{variable}: cannot read .*missing.pem"):
        build_sender(signal, export, transport_options(signal, env))
    monkeypatch.setenv(variable, env[variable])  # the stock exporter (spool off) is given the same check
    with pytest.raises(ValueError, match=f"^{variable}: cannot read"):
        build_exporter(signal, export)
