"""``llmtel serve`` as a real process: banner, OTLP in, API out, clean SIGTERM exit, a database ``llmtel
report`` then reads; the bind-address guard and its warning; bad options."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from llmtel.cli import main
from tests.e2e.harness import clean_env, free_port

pytestmark = pytest.mark.e2e


def _serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "llmtel.cli", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )


def _banner(proc: subprocess.Popen[str]) -> list[str]:
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(3)]
    if not lines[0]:
        proc.wait(5)
        raise AssertionError(f"serve exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
    return [line.rstrip("\n") for line in lines]


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=15)
    return proc.returncode, err


@pytest.mark.timeout(60)
def test_serve_stores_what_it_receives_and_report_reads_it(tmp_path: Path, capsys):
    db = tmp_path / "data" / "traces.db"
    grpc_port, http_port, ui_port = free_port(), free_port(), free_port()
    proc = _serve("--db", str(db), "--grpc-port", str(grpc_port), "--http-port", str(http_port),
                  "--ui-port", str(ui_port), "--retention", "7d", "--max-spans", "1M")
    try:
        banner = _banner(proc)
        assert banner[0] == f"llmtel viewer: http://127.0.0.1:{ui_port}"
        assert f"OTLP gRPC http://127.0.0.1:{grpc_port}" in banner[1]
        assert f"OTLP HTTP http://127.0.0.1:{http_port}" in banner[1]
        assert banner[2] == f"  database {db}"

        provider = TracerProvider(resource=Resource.create({"service.name": "cli-app"}))
        provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{http_port}/v1/traces", timeout=5))
        )
        with provider.get_tracer("t").start_as_current_span(
            "chat gpt-4o-mini", attributes={"gen_ai.request.model": "gpt-4o-mini", "llmtel.cost.usd": 0.002}
        ) as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
        provider.shutdown()

        # The export has returned, so the request is queued; the writer commits it within milliseconds.
        deadline = time.monotonic() + 10
        rows: list[dict] = []
        while not rows and time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/api/llmtel/traces", timeout=5) as response:
                rows = json.loads(response.read())["data"]
            if not rows:
                time.sleep(0.05)
        assert rows[0]["traceID"] == trace_id and rows[0]["rootService"] == "cli-app"
    finally:
        code, err = _stop(proc)
    assert code == 0, err
    assert "WARNING" not in err

    assert main(["report", "--db", str(db), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cost_by_model"][0]["model"] == "gpt-4o-mini"
    assert report["cost_by_model"][0]["cost_usd"] == pytest.approx(0.002)


def test_non_loopback_host_needs_allow_remote(capsys):
    assert main(["serve", "--host", "0.0.0.0", "--ui-port", "0", "--grpc-port", "0", "--http-port", "0"]) == 2
    err = capsys.readouterr().err
    assert "--host 0.0.0.0 is not a loopback address" in err and "--allow-remote" in err


@pytest.mark.timeout(60)
def test_allow_remote_binds_and_warns(tmp_path: Path):
    ui_port = free_port()
    proc = _serve("--host", "0.0.0.0", "--allow-remote", "--db", ":memory:", "--grpc-port", "0",
                  "--http-port", "0", "--ui-port", str(ui_port))
    try:
        _banner(proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/api/services", timeout=5) as response:
            assert json.loads(response.read())["data"] == []
    finally:
        code, err = _stop(proc)
    assert code == 0
    assert "WARNING: listening on 0.0.0.0, not loopback" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--retention", "a week"], "--retention"),
        (["--max-spans", "-5"], "--max-spans"),
        (["--max-db-mb", "0"], "--max-db-mb"),
        (["--ui-port", "70000"], "port"),
    ],
)
def test_bad_serve_options_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_port_in_use_is_reported(tmp_path: Path, capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["serve", "--db", ":memory:", "--grpc-port", "0", "--http-port", "0", "--ui-port", str(port)])
    assert code == 1
    assert "cannot start" in capsys.readouterr().err
