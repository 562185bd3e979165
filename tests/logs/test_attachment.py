"""The app's own logging set-up after llmtel's: log export survives it, and what the app configured or prints
is what it would be without llmtel. Real processes exporting to the real OTLP receiver, plus in-process checks
of the hooks themselves."""

from __future__ import annotations

import json
import logging
import os
import logging.config
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk._logs import LoggerProvider

from llmtel.logs import OTelLogHandler, attach, detach

APPS = Path(__file__).parent / "apps"
BIN = Path(sys.executable).parent


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, *args] if args[0].endswith(".py") else args
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, cwd=APPS)


@pytest.fixture
def app_env(otlp_receiver):
    """The environment of an app exporting logs and spans to the test receiver (no other OTEL_/LLMTEL_ setting)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTEL_"))}
    env.update(
        PYTHONUNBUFFERED="1",
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp_receiver.http_endpoint,
        OTEL_METRICS_EXPORTER="none",
        LLMTEL_SHUTDOWN_TIMEOUT="10",
    )
    return env


def report(proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("{")))


@pytest.mark.e2e
@pytest.mark.parametrize(
    "how",
    [
        "dictConfig",
        "dictConfig-imported-early",
        "dictConfig-repeated",
        "dictConfig-with-llmtel-handler",
        "fileConfig",
    ],
)
def test_log_export_survives_the_apps_logging_configuration(how, app_env, otlp_receiver):
    proc = run(["logging_config_app.py", how], app_env)
    result = report(proc)
    # the app's handler, level and format as it configured them; llmtel's handler back on the root, once
    assert result["root_handlers"] == ["StreamHandler", "OTelLogHandler"]
    assert result["root_level"] == logging.INFO
    assert "APP INFO app inside a span" in proc.stdout.splitlines()
    assert proc.stderr == ""
    assert otlp_receiver.store.wait_for(lambda s: len(s.logs()) >= 2)
    records = {r.body: r for r in otlp_receiver.store.logs()}
    assert sorted(records) == ["inside a span", "not propagated"]
    assert records["inside a span"].trace_id == otlp_receiver.store.spans()[0].trace_id


@pytest.mark.e2e
def test_llmtel_handler_the_config_puts_on_another_logger_stays_there_alone(app_env, otlp_receiver):
    proc = run(["logging_config_app.py", "dictConfig-llmtel-handler-on-app-logger"], app_env)
    assert report(proc)["root_handlers"] == ["StreamHandler"]
    assert "APP INFO app inside a span" in proc.stdout.splitlines()
    assert otlp_receiver.store.wait_for(lambda s: len(s.logs()) >= 2)
    assert sorted(r.body for r in otlp_receiver.store.logs()) == ["inside a span", "not propagated"]  # once each


@pytest.mark.e2e
def test_a_logger_the_app_stops_propagating_stays_unexported(app_env, otlp_receiver):
    proc = run(["logging_config_app.py", "dictConfig-propagation-off"], app_env)
    assert report(proc)["root_handlers"] == ["StreamHandler", "OTelLogHandler"]
    assert "APP INFO app.quiet not propagated" in proc.stdout.splitlines()
    assert otlp_receiver.store.wait_for(lambda s: len(s.logs()) >= 1)
    assert [r.body for r in otlp_receiver.store.logs()] == ["inside a span"]


@pytest.mark.e2e
def test_dict_config_under_opentelemetry_instrument_keeps_log_export(app_env, otlp_receiver):
    proc = run(
        [str(BIN / "opentelemetry-instrument"), sys.executable, "logging_config_app.py", "dictConfig", "--cli"], app_env
    )
    assert report(proc)["root_handlers"] == ["StreamHandler", "OTelLogHandler"]
    assert "APP INFO app inside a span" in proc.stdout.splitlines()
    assert otlp_receiver.store.wait_for(lambda s: len(s.logs()) >= 2)
    assert sorted(r.body for r in otlp_receiver.store.logs()) == ["inside a span", "not propagated"]


@pytest.mark.e2e
def test_an_unconfigured_app_prints_what_it_prints_without_llmtel(app_env, otlp_receiver):
    without = run(["unconfigured_app.py"], app_env)
    with_llmtel = run(["unconfigured_app.py", "--llmtel"], app_env)
    assert without.returncode == with_llmtel.returncode == 0
    assert without.stderr.splitlines() == [
        "before any configuration",
        "WARNING:root:first module-level call",
        "ERROR:app.db:later, from a named logger",
    ]
    assert with_llmtel.stderr == without.stderr
    assert otlp_receiver.store.wait_for(lambda s: len(s.logs()) >= 3)
    assert [r.body for r in otlp_receiver.store.logs()] == [
        "before any configuration",
        "first module-level call",
        "later, from a named logger",
    ]


@pytest.mark.e2e
def test_a_trace_id_format_keeps_printing_after_shutdown_and_exit_hook(app_env, otlp_receiver):
    proc = run(["logging_config_app.py", "trace-format"], app_env)
    assert proc.returncode == 0, proc.stderr
    assert "Logging error" not in proc.stderr
    lines = proc.stdout.splitlines()[1:]
    assert otlp_receiver.store.wait_for(lambda s: len(s.spans()) >= 1)
    trace_id = otlp_receiver.store.spans()[0].trace_id
    assert lines == [
        f"INFO trace={trace_id} inside a span",
        f"INFO trace={trace_id} not propagated",
        "INFO trace= after shutdown",  # outside a span, stamping uninstalled: the documented empty value
        "WARNING trace= from atexit",
    ]


@pytest.fixture
def handler():
    """An llmtel handler attached to the root logger, detached afterwards."""
    attached = OTelLogHandler(LoggerProvider())
    attach(attached)
    yield attached
    detach(attached)


def test_detach_restores_every_hooked_function():
    names = ("basicConfig", "critical", "fatal", "error", "warning", "info", "debug", "log")
    before = {name: getattr(logging, name) for name in names}
    config_before = (logging.config.dictConfigClass, logging.config.fileConfig)
    attached = OTelLogHandler(LoggerProvider())
    attach(attached)
    try:
        assert logging.config.dictConfigClass is not config_before[0]
        assert logging.warning is not before["warning"]
    finally:
        detach(attached)
    assert {name: getattr(logging, name) for name in names} == before
    assert (logging.config.dictConfigClass, logging.config.fileConfig) == config_before
    assert attached not in logging.getLogger().handlers


def test_attaching_twice_hooks_once_and_adds_the_handler_once(handler):
    hooked = logging.config.dictConfigClass
    attach(handler)
    assert logging.config.dictConfigClass is hooked
    assert logging.getLogger().handlers.count(handler) == 1


def test_an_incremental_dict_config_adds_no_second_handler(handler):
    root = logging.getLogger()
    level = root.level
    try:
        logging.config.dictConfig({"version": 1, "incremental": True, "root": {"level": "ERROR"}})
        assert root.level == logging.ERROR
    finally:
        root.setLevel(level)
    assert root.handlers.count(handler) == 1


def test_module_level_calls_keep_the_callers_location(handler, monkeypatch):
    seen: list[logging.LogRecord] = []
    monkeypatch.setattr(handler, "emit", seen.append)
    logging.warning("direct")
    logging.error("via exception", exc_info=False)
    try:
        raise ValueError("x")
    except ValueError:
        logging.exception("caught")
    line = sys._getframe().f_lineno
    assert [(r.getMessage(), r.funcName, r.pathname) for r in seen] == [
        (message, "test_module_level_calls_keep_the_callers_location", __file__)
        for message in ("direct", "via exception", "caught")
    ]
    assert [r.lineno for r in seen] == [line - 6, line - 5, line - 1]


@pytest.mark.e2e
def test_what_the_apps_exit_hooks_log_after_importing_llmtel_is_exported(app_env, otlp_receiver):
    """llmtel's exit hook is registered when it is imported: the app's hooks registered after that run before it
    (``atexit`` runs the last registered first), and their lines are exported."""
    proc = run(["exit_hook_app.py"], app_env)
    assert proc.returncode == 0, proc.stderr
    assert otlp_receiver.store.wait_for(lambda s: len(s.logs()) >= 2)
    bodies = [r.body for r in otlp_receiver.store.logs()]
    assert sorted(bodies) == ["exit hook registered after llmtel", "running"]
    assert "exit hook registered before llmtel" in proc.stderr  # printed, too late to export
