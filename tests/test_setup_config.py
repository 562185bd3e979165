"""``instrument()`` and ``opentelemetry-instrument`` with bad or unusual settings, in real processes exporting to a
real OTLP receiver on loopback: a bad value leaves nothing installed, standard values never stop the app, and a
second setup after ``shutdown()`` says why it cannot export."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.e2e.harness import BIN, clean_env

# Tries instrument(); reports the error and the global providers it left; then, with the bad variable removed,
# sets up again and sends one span and one log record.
RETRY_APP = textwrap.dedent(
    """
    import json, logging, os, sys
    import llmtel
    from opentelemetry import _logs, metrics, trace

    def globals_():
        providers = (trace.get_tracer_provider(), metrics.get_meter_provider(), _logs.get_logger_provider())
        return [type(p).__name__ for p in providers]

    try:
        llmtel.instrument()
        error = None
    except ValueError as exc:
        error = str(exc)
    report = {"error": error, "after_error": globals_()}
    del os.environ[sys.argv[1]]
    handle = llmtel.instrument()
    report["kept"] = list(handle.kept)
    logging.getLogger().setLevel(logging.INFO)
    with trace.get_tracer("app").start_as_current_span("after-fix"):
        logging.getLogger("app").info("logged-after-fix")
    print(json.dumps(report))
    """
)
PROXIES = ["ProxyTracerProvider", "_ProxyMeterProvider", "ProxyLoggerProvider"]


def run_python(code: str, env: dict[str, str], *args: str, cli: bool = False, cwd: Path | None = None):
    """Run ``code`` in a fresh interpreter (under ``opentelemetry-instrument`` when ``cli``)."""
    command = [sys.executable, "-c", code, *args]
    if cli:
        command = [str(BIN / "opentelemetry-instrument"), *command]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, cwd=cwd)


def report_of(run: subprocess.CompletedProcess[str]) -> dict:
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no report\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    return json.loads(lines[-1])


@pytest.fixture
def env_for(otlp_receiver, tmp_path):
    """An environment exporting to the receiver over ``protocol``, metrics off, plus ``extra``."""

    def make(protocol: str = "http/protobuf", **extra: str) -> dict[str, str]:
        endpoint = otlp_receiver.grpc_endpoint if protocol == "grpc" else otlp_receiver.http_endpoint
        return clean_env(
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
            OTEL_METRICS_EXPORTER="none",
            LLMTEL_SHUTDOWN_TIMEOUT="5",
            **extra,
        )

    return make


# (variable, value, extra environment): each is read only after a provider used to go global.
LATE_SETTINGS = [
    ("OTEL_BLRP_MAX_QUEUE_SIZE", "abc", {}),
    ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "abc", {}),
    ("OTEL_BSP_MAX_QUEUE_SIZE", "0.5", {}),
    ("LLMTEL_EXPORT_MAX_REQUEST_BYTES", "1e400", {}),
    ("OTEL_EXPORTER_OTLP_TIMEOUT", "0", {"LLMTEL_SPOOL": "off"}),
    ("OTEL_EXPORTER_OTLP_TIMEOUT", "abc", {"LLMTEL_SPOOL": "off", "protocol": "grpc"}),
    ("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", "/nonexistent/ca.pem", {"protocol": "grpc", "tls": "1"}),
    ("LLMTEL_PRICES", "/nonexistent/prices.json", {}),
    # With the spool off the SDK's batch processors read these: unparseable, they used to be logged and defaulted;
    # a batch larger than the queue was refused in the SDK's words, naming no variable.
    ("OTEL_BSP_SCHEDULE_DELAY", "abc", {"LLMTEL_SPOOL": "off"}),
    ("OTEL_BLRP_MAX_QUEUE_SIZE", "0.5", {"LLMTEL_SPOOL": "off"}),
    ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "100000", {"LLMTEL_SPOOL": "off"}),
    ("LLMTEL_EXPORT_MAX_REQUEST_BYTES", "lots", {"LLMTEL_SPOOL": "off"}),
]


@pytest.mark.parametrize(("variable", "value", "extra"), LATE_SETTINGS, ids=[f"{v}={x}" for v, x, _ in LATE_SETTINGS])
def test_a_bad_setting_leaves_nothing_installed_and_a_corrected_setup_exports(
    otlp_receiver, env_for, variable, value, extra
):
    extra = dict(extra)
    env = env_for(extra.pop("protocol", "http/protobuf"), **{k: v for k, v in extra.items() if k != "tls"})
    if extra.get("tls"):  # a TLS endpoint, so that the certificate is used; the retry goes plaintext again
        env["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"] = "https://127.0.0.1:9"
        env["OTEL_EXPORTER_OTLP_LOGS_INSECURE"] = "true"
        env["OTEL_LOGS_EXPORTER"] = "otlp"
    env[variable] = value
    run = run_python(RETRY_APP, env, variable)
    report = report_of(run)
    assert report["error"] is not None and report["error"].startswith(f"{variable}"), report
    assert report["after_error"] == PROXIES
    assert report["kept"] == []
    assert run.returncode == 0, run.stderr
    assert otlp_receiver.store.wait_for(lambda s: any(span.name == "after-fix" for span in s.spans()))


def test_under_opentelemetry_instrument_a_bad_setting_leaves_the_app_running_untraced(otlp_receiver, env_for):
    app = textwrap.dedent(
        """
        import json
        from opentelemetry import trace
        with trace.get_tracer("app").start_as_current_span("work"):
            pass
        print(json.dumps({"provider": type(trace.get_tracer_provider()).__name__}))
        """
    )
    run = run_python(app, env_for(OTEL_EXPORTER_OTLP_LOGS_TIMEOUT="abc"), cli=True)
    assert run.returncode == 0, run.stderr
    assert report_of(run) == {"provider": "ProxyTracerProvider"}
    assert "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT: 'abc' is not a number" in run.stderr
    assert not otlp_receiver.store.wait_for(lambda s: bool(s.spans()), timeout=1.0)


def test_instrument_after_shutdown_warns_why_nothing_more_is_exported(env_for):
    app = textwrap.dedent(
        """
        import json
        import llmtel
        llmtel.instrument().shutdown()
        handle = llmtel.instrument()
        print(json.dumps({"kept": list(handle.kept), "stale": list(handle.stale)}))
        """
    )
    run = run_python(app, env_for())
    assert run.returncode == 0, run.stderr
    assert report_of(run) == {"kept": [], "stale": ["traces", "metrics", "logs"]}
    assert "instrument() after shutdown(): traces, metrics, logs will not be exported" in run.stderr
    assert "set each global provider only once" in run.stderr


@pytest.mark.parametrize(("value", "loaded"), [("true", False), ("TRUE", False), ("false", True), ("yes", True)])
def test_opentelemetry_instrument_loads_no_instrumentor_when_the_sdk_is_disabled(env_for, value, loaded):
    app = textwrap.dedent(
        """
        import json
        from llmtel.instrumentation.openai import OpenAIInstrumentor
        print(json.dumps({"openai": OpenAIInstrumentor().is_instrumented_by_opentelemetry}))
        """
    )
    run = run_python(app, env_for(OTEL_SDK_DISABLED=value), cli=True)
    assert run.returncode == 0, run.stderr
    assert report_of(run) == {"openai": loaded}


@pytest.mark.parametrize("spool", ["on", "off"])
def test_each_exporter_of_a_list_gets_the_spans(otlp_receiver, env_for, spool):
    app = textwrap.dedent(
        """
        import llmtel
        from opentelemetry import trace
        llmtel.instrument()
        with trace.get_tracer("app").start_as_current_span("listed"):
            pass
        """
    )
    run = run_python(app, env_for(OTEL_TRACES_EXPORTER="otlp,console", LLMTEL_SPOOL=spool))
    assert run.returncode == 0, run.stderr
    assert otlp_receiver.store.wait_for(lambda s: any(span.name == "listed" for span in s.spans()))
    assert '"name": "listed"' in run.stdout  # the console exporter's JSON


@pytest.mark.parametrize(
    ("variable", "value", "warning"),
    [
        ("OTEL_SDK_DISABLED", "yes", "OTEL_SDK_DISABLED: 'yes' is not true or false"),
        ("OTEL_RESOURCE_ATTRIBUTES", "a=b,garbage", "OTEL_RESOURCE_ATTRIBUTES: entry 2 has no '='"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "'http/json' is not implemented by the Python exporters"),
    ],
)
def test_standard_values_never_stop_the_app_they_warn_and_export(otlp_receiver, env_for, variable, value, warning):
    app = textwrap.dedent(
        """
        import llmtel
        from opentelemetry import trace
        llmtel.instrument()
        with trace.get_tracer("app").start_as_current_span("standard"):
            pass
        """
    )
    env = env_for()
    env[variable] = value
    run = run_python(app, env)
    assert run.returncode == 0, run.stderr
    assert warning in run.stderr
    assert otlp_receiver.store.wait_for(lambda s: any(span.name == "standard" for span in s.spans()))


def test_shutdown_leaves_the_instrumentation_the_app_set_up_itself(env_for):
    """The app instrumented httpx (and, on openai 3.x, httpx2) before ``instrument()``: llmtel does not list it
    as its own, and shutting llmtel down leaves it on."""
    app = textwrap.dedent(
        """
        import json
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        import llmtel
        HTTPXClientInstrumentor().instrument()
        handle = llmtel.instrument()
        ours = list(handle.instrumented)
        handle.shutdown()
        print(json.dumps({"ours": ours, "still_on": HTTPXClientInstrumentor().is_instrumented_by_opentelemetry}))
        """
    )
    run = run_python(app, env_for())
    assert run.returncode == 0, run.stderr
    report = report_of(run)
    assert "httpx" not in report["ours"] and "llmtel_openai" in report["ours"]
    assert report["still_on"] is True


def test_importing_llmtel_survives_a_global_provider_that_cannot_make_tracers_or_meters(env_for):
    """An app's own global providers, set before llmtel is imported, whose ``get_tracer`` / ``get_meter`` raise:
    the import (which makes its pipeline tracer and meter) does not fail, and the app's calls go on."""
    app = textwrap.dedent(
        """
        import json
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.trace import TracerProvider

        class Broken(TracerProvider):
            def get_tracer(self, *args, **kwargs):
                raise RuntimeError("no tracers here")

        class BrokenMeters(MeterProvider):
            def get_meter(self, *args, **kwargs):
                raise RuntimeError("no meters here")

        trace.set_tracer_provider(Broken())
        metrics.set_meter_provider(BrokenMeters())
        import llmtel
        with llmtel.run("answer") as run:
            pass
        print(json.dumps({"run_id": bool(run.run_id)}))
        """
    )
    run = run_python(app, env_for())
    assert run.returncode == 0, run.stderr
    assert report_of(run) == {"run_id": True}
