"""Interoperability with an independent OTLP collector: llmtel → rotel → our receiver."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.harness import BIN, clean_env, free_port, run_app
from tests.e2e.test_instrument import assert_pipeline_delivered

pytestmark = pytest.mark.e2e


def rotel_binary() -> Path:
    try:
        import rotel
    except ImportError:
        pytest.skip("rotel has no wheel for this platform (pip could not install it)")
    binary = Path(rotel.__file__).parent / "rotel-agent"
    if not binary.exists():
        pytest.skip("the installed rotel wheel ships no rotel-agent binary for this platform")
    probe = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10)
    if probe.returncode != 0:
        # e.g. a wheel whose binary links a shared libpython that this interpreter build does not provide
        pytest.skip(f"rotel's binary cannot run on this platform: {(probe.stderr or probe.stdout).strip()}")
    return binary


def wait_listening(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"rotel did not listen on {port} within {timeout}s")


@pytest.fixture
def rotel(otlp_receiver, tmp_path):
    """rotel-agent receiving OTLP on two loopback ports and forwarding everything to the test receiver."""
    grpc_port, http_port = free_port(), free_port()
    log = (tmp_path / "rotel.log").open("w")
    proc = subprocess.Popen(
        [
            str(rotel_binary()),
            "start",
            "--otlp-grpc-endpoint", f"127.0.0.1:{grpc_port}",
            "--otlp-http-endpoint", f"127.0.0.1:{http_port}",
            "--exporter", "otlp",
            "--otlp-exporter-endpoint", otlp_receiver.grpc_endpoint,
            "--otlp-exporter-protocol", "grpc",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_listening(grpc_port)
        wait_listening(http_port)
        yield {"grpc": f"http://127.0.0.1:{grpc_port}", "http/protobuf": f"http://127.0.0.1:{http_port}"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.mark.parametrize("route", ["instrument()", "opentelemetry-instrument"])
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_telemetry_passes_through_rotel_intact(otlp_receiver, rotel, protocol, route):
    env = clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=rotel[protocol],
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        OTEL_SERVICE_NAME="e2e-app",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment.name=test",
        OTEL_METRIC_EXPORT_INTERVAL="600000",
        LLMTEL_SHUTDOWN_TIMEOUT="10",
    )
    app = ["pipeline.py", otlp_receiver.http_endpoint]
    if route == "opentelemetry-instrument":
        app = [str(BIN / "opentelemetry-instrument"), str(BIN / "python"), *app, "--no-setup"]
    run = run_app(app, env)
    assert run.returncode == 0, run.stderr
    assert_pipeline_delivered(otlp_receiver.store, run.result)
    # everything reached us from rotel's exporter over gRPC, not from the app directly
    assert {meta.transport for _, _, meta in otlp_receiver.store.requests()} == {"grpc"}
