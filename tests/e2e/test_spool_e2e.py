"""Resilient export across real processes: what one process could not deliver, the next one does."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter

import pytest

from llmtel.receiver import OTLPReceiver
from tests.e2e.harness import APPS, clean_env, run_app
from tests.export.collectors import DownReceiver

pytestmark = pytest.mark.e2e


@pytest.fixture
def collector():
    """The collector, down until the test starts it (its ports held meanwhile, so apps can be pointed at it)."""
    receiver = DownReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def app_env(collector, tmp_path):
    def make(protocol: str = "http/protobuf", **extra: str) -> dict[str, str]:
        endpoint = collector.grpc_endpoint if protocol == "grpc" else collector.http_endpoint
        return clean_env(
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
            OTEL_SERVICE_NAME="spool-e2e",
            OTEL_METRICS_EXPORTER="none",
            LLMTEL_SPOOL_DIR=str(tmp_path / "spool"),
            LLMTEL_SHUTDOWN_TIMEOUT="1",
            **extra,
        )

    return make


def span_counts(collector: OTLPReceiver) -> Counter[str]:
    return Counter(s.name for s in collector.store.spans())


def assert_unique(collector: OTLPReceiver) -> None:
    ids = [s.span_id for s in collector.store.spans()]
    assert len(ids) == len(set(ids)), "a span arrived twice"


def test_a_process_killed_while_spooling_is_drained_by_the_next_one(collector, app_env):
    env = app_env()
    proc = subprocess.Popen(
        [sys.executable, "spool_app.py", "--spans", "2000", "--logs", "200", "--tag", "killed", "--hold"],
        cwd=APPS,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        report = json.loads(proc.stdout.readline())
        assert report["all_spooled"] is True
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    collector.start()
    run = run_app(["spool_app.py", "--drain", "--flush"], env)
    assert run.returncode == 0, run.stderr
    assert run.result["drained"] is True
    assert run.result["flushed"] is True
    assert span_counts(collector)["work-killed"] == 2000
    assert_unique(collector)
    lines = [rec.body for rec in collector.store.logs() if rec.body.startswith("line-killed")]
    assert sorted(lines) == sorted(f"line-killed {i}" for i in range(200))


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_exit_with_the_collector_down_is_bounded_and_loses_nothing(collector, app_env, protocol):
    env = app_env(protocol)
    run = run_app(["spool_app.py", "--spans", "3000", "--logs", "100", "--tag", "exited", "--flush"], env)
    assert run.returncode == 0, run.stderr
    assert run.result["flushed"] is False  # could not deliver, and says so
    # deadline 1 s, plus interpreter exit on a shared machine (the stock exporters take 14-30 s here)
    assert run.exited_at - run.result["work_done_at"] < 1.0 + 2.0
    assert "kept in the spool" in run.stderr
    assert "did not finish" not in run.stderr

    collector.start()
    run = run_app(["spool_app.py", "--drain"], env)
    assert run.result["drained"] is True
    assert span_counts(collector)["work-exited"] == 3000
    assert len([rec for rec in collector.store.logs() if rec.body.startswith("line-exited")]) == 100
    assert_unique(collector)
    # the warnings about spooling went to stderr, never into the pipeline they describe
    assert not [rec for rec in collector.store.logs() if "spool" in str(rec.body)]


def test_two_processes_sharing_one_spool_neither_corrupt_nor_double_send_it(collector, app_env):
    env = app_env()

    def start(*args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "spool_app.py", *args],
            cwd=APPS,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    writers = [start("--spans", "2500", "--tag", tag) for tag in ("one", "two")]
    for proc in writers:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err

    collector.start()
    drainers = [start("--drain"), start("--drain")]
    for proc in drainers:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1])["drained"] is True
    counts = span_counts(collector)
    assert (counts["work-one"], counts["work-two"]) == (2500, 2500)
    assert_unique(collector)
