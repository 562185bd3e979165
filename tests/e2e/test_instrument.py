"""``llmtel.instrument()`` and ``opentelemetry-instrument`` in real processes, delivering to a real receiver."""

from __future__ import annotations

import sys

import pytest

from tests.e2e.harness import BIN, clean_env, free_port, run_app

pytestmark = pytest.mark.e2e

PROTOCOLS = ["http/protobuf", "grpc"]
# Python 3.12.0 and 3.12.1 start no thread at exit: with the spool off, the exporter's own timeout bounds exit there
NO_THREADS_AT_EXIT = sys.version_info[:3] in ((3, 12, 0), (3, 12, 1))
HTTP_SCOPES = {"opentelemetry.instrumentation.httpx", "opentelemetry.instrumentation.requests"}


def status_of(span) -> int | None:
    for key in ("http.response.status_code", "http.status_code"):
        if key in span.attributes:
            return span.attributes[key]
    return None


def assert_pipeline_delivered(store, report, *, expect_http: set[str] = HTTP_SCOPES):
    trace_id = report["trace_id"]
    assert store.wait_for(lambda s: len([x for x in s.spans() if x.trace_id == trace_id]) >= 2 + len(expect_http))
    assert store.wait_for(lambda s: any(p.name == "app.runs" for p in s.metric_points()))
    assert store.wait_for(lambda s: any(rec.body == "step done" for rec in s.logs()))
    spans = {s.name: s for s in store.spans() if s.trace_id == trace_id and s.scope_name == "app"}
    assert set(spans) == {"app.run", "app.step"}
    run, step = spans["app.run"], spans["app.step"]
    assert step.parent_span_id == run.span_id
    assert run.parent_span_id is None

    # the resource describes the service and says which distro set it up
    assert run.resource["service.name"] == "e2e-app"
    assert run.resource["deployment.environment.name"] == "test"
    assert run.resource["telemetry.sdk.language"] == "python"
    assert run.resource["telemetry.distro.name"] == "llmtel"

    # outbound HTTP calls are client spans nested under the step that made them
    http = [s for s in store.spans() if s.scope_name in HTTP_SCOPES]
    assert {s.scope_name for s in http} == expect_http
    for span in http:
        assert span.trace_id == trace_id
        assert span.parent_span_id == step.span_id
        assert span.kind == 3  # SPAN_KIND_CLIENT
        assert status_of(span) in report["statuses"]
    # the exporter's own HTTP requests are never traced
    assert not [s for s in store.spans() if s.trace_id != trace_id]

    # the log line carries the trace and span of the step it was written in, and its extra= payload
    logs = [rec for rec in store.logs() if rec.body == "step done"]
    assert len(logs) == 1
    assert (logs[0].trace_id, logs[0].span_id) == (trace_id, step.span_id)
    assert logs[0].attributes["run_id"] == "run-42"
    assert logs[0].severity_text == "WARNING"
    assert logs[0].resource["service.name"] == "e2e-app"

    points = [p for p in store.metric_points() if p.name == "app.runs"]
    assert [(p.value, p.attributes) for p in points] == [(1, {"outcome": "ok"})]
    assert points[0].resource["service.name"] == "e2e-app"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_instrument_delivers_spans_logs_and_metrics(otlp_receiver, otlp_env, protocol):
    run = run_app(["pipeline.py", otlp_receiver.http_endpoint], otlp_env(protocol))
    assert run.returncode == 0, run.stderr
    assert_pipeline_delivered(otlp_receiver.store, run.result)
    transports = {meta.transport for _, _, meta in otlp_receiver.store.requests()}
    assert transports == {"grpc" if protocol == "grpc" else "http"}


@pytest.mark.parametrize("spool", ["on", "off"])
def test_exit_delivers_everything_when_no_thread_can_be_started(otlp_receiver, otlp_env, spool):
    # Python 3.12.0 and 3.12.1 refuse new threads in atexit handlers: the exit hook flushes in the exiting thread
    run = run_app(["pipeline.py", otlp_receiver.http_endpoint, "--no-threads-at-exit"], otlp_env(LLMTEL_SPOOL=spool))
    assert run.returncode == 0, run.stderr
    assert_pipeline_delivered(otlp_receiver.store, run.result)
    assert "did not finish" not in run.stderr
    assert run.exited_at - run.result["work_done_at"] < 5.0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_opentelemetry_instrument_configures_the_same_pipeline(otlp_receiver, otlp_env, protocol):
    run = run_app(
        [str(BIN / "opentelemetry-instrument"), str(BIN / "python"), "pipeline.py", otlp_receiver.http_endpoint,
         "--no-setup"],
        otlp_env(protocol),
    )
    assert run.returncode == 0, run.stderr
    assert_pipeline_delivered(otlp_receiver.store, run.result)


def test_opentelemetry_instrument_honours_disabled_instrumentations(otlp_receiver, otlp_env):
    env = otlp_env(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="httpx2")
    run = run_app(
        [str(BIN / "opentelemetry-instrument"), str(BIN / "python"), "pipeline.py", otlp_receiver.http_endpoint,
         "--no-setup"],
        env,
    )
    assert run.returncode == 0, run.stderr
    assert_pipeline_delivered(otlp_receiver.store, run.result, expect_http={"opentelemetry.instrumentation.requests"})


def test_instrument_honours_disabled_instrumentations(otlp_receiver, otlp_env):
    run = run_app(["pipeline.py", otlp_receiver.http_endpoint], otlp_env(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="requests"))
    assert run.returncode == 0, run.stderr
    assert_pipeline_delivered(otlp_receiver.store, run.result, expect_http={"opentelemetry.instrumentation.httpx"})


def test_second_instrument_call_changes_nothing_and_warns_once(otlp_receiver, otlp_env):
    run = run_app(["pipeline.py", otlp_receiver.http_endpoint, "--twice"], otlp_env())
    assert run.returncode == 0, run.stderr
    # exactly one span per operation: nothing was set up or instrumented twice
    assert_pipeline_delivered(otlp_receiver.store, run.result)
    names = sorted(s.name for s in otlp_receiver.store.spans())
    assert len(names) == 4, names
    assert run.stderr.count("instrument() was already called") == 1


def test_existing_sdk_provider_is_kept(otlp_receiver, otlp_env):
    run = run_app(["own_provider.py"], otlp_env())
    assert run.returncode == 0, run.stderr
    report = run.result
    assert report == {"same_provider": True, "kept": ["traces"], "in_memory_spans": ["mine"]}
    assert otlp_receiver.store.spans() == []


def test_bad_configuration_fails_at_instrument_time_naming_the_setting(otlp_env):
    env = otlp_env() | {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/thrift"}
    run = run_app(["pipeline.py", "http://127.0.0.1:9"], env)
    assert run.returncode != 0
    assert "ValueError: OTEL_EXPORTER_OTLP_PROTOCOL: 'http/thrift' is not one of http/protobuf, grpc" in run.stderr


def test_bad_configuration_under_opentelemetry_instrument_does_not_stop_the_app(otlp_receiver, otlp_env):
    env = otlp_env(OTEL_EXPORTER_OTLP_HEADERS="no-equals-sign")
    run = run_app(
        [str(BIN / "opentelemetry-instrument"), str(BIN / "python"), "pipeline.py", otlp_receiver.http_endpoint,
         "--no-setup"],
        env,
    )
    assert run.returncode == 0, run.stderr
    assert run.result["statuses"]
    assert "OTEL_EXPORTER_OTLP_HEADERS: entry 1 has no '='" in run.stderr and "no-equals-sign" not in run.stderr


def test_sdk_disabled_sets_nothing_up(otlp_receiver, otlp_env):
    run = run_app(["pipeline.py", otlp_receiver.http_endpoint], otlp_env(OTEL_SDK_DISABLED="true"))
    assert run.returncode == 0, run.stderr
    assert run.result["trace_id"] == "0" * 32  # no SDK tracer: spans are non-recording
    assert otlp_receiver.store.requests() == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_exit_is_bounded_when_the_collector_is_down(protocol):
    deadline = 1.0
    env = clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}",
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        LLMTEL_SHUTDOWN_TIMEOUT=str(deadline),
        LLMTEL_SPOOL="off",  # the stock export path; the spooling one: tests/e2e/test_spool_e2e.py
        **({"OTEL_EXPORTER_OTLP_TIMEOUT": str(deadline / 2)} if NO_THREADS_AT_EXIT else {}),
    )
    run = run_app(["shutdown_deadline.py"], env)
    assert run.returncode == 0, run.stderr
    after_work = run.exited_at - run.result["work_done_at"]
    assert after_work < deadline + 1.0, f"exit took {after_work:.2f}s after the work"
    # the loss is reported: by llmtel when it abandons the flush, else by the exporter that gave up
    assert ("Failed to export" if NO_THREADS_AT_EXIT else "did not finish within 1.0 s") in run.stderr


def test_explicit_shutdown_returns_by_its_timeout_against_a_black_holed_collector(otlp_receiver):
    from llmtel.receiver import Fault

    otlp_receiver.set_fault(Fault.blackhole())
    env = clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp_receiver.http_endpoint, LLMTEL_SHUTDOWN_TIMEOUT="30", LLMTEL_SPOOL="off"
    )
    run = run_app(["shutdown_deadline.py", "--explicit"], env)
    assert run.returncode == 0, run.stderr
    report = run.result
    assert report["shutdown_ok"] is False
    assert report["shutdown_seconds"] < 0.5 + 0.5
    # the atexit hook finds everything already stopped and adds no wait of its own
    assert run.exited_at - report["work_done_at"] < 2.0
