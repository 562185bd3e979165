"""The log bridge in a real process: records reach the receiver, and the app's own logging is unchanged."""

from __future__ import annotations

import pytest

from tests.e2e.harness import run_app

pytestmark = pytest.mark.e2e


def test_unconfigured_app_still_prints_warnings_to_stderr(otlp_receiver, otlp_env):
    run = run_app(["logging_app.py"], otlp_env())
    assert run.returncode == 0, run.stderr
    # exactly what Python prints without llmtel: WARNING and above, bare message, on stderr
    assert run.stderr.splitlines() == ["warning line"]
    assert otlp_receiver.store.wait_for(lambda s: any(r.body == "warning line" for r in s.logs()))
    # the root logger's level (WARNING) still decides which records exist at all
    assert [r.body for r in otlp_receiver.store.logs()] == ["warning line"]


def test_basic_config_after_instrument_still_configures_logging(otlp_receiver, otlp_env):
    run = run_app(["logging_app.py", "--basic-config"], otlp_env())
    assert run.returncode == 0, run.stderr
    assert "APP INFO app info line" in run.stdout
    assert "APP WARNING app warning line" in run.stdout
    assert run.stderr == ""  # no duplicate from the lastResort stand-in once the app has a handler
    assert run.result["root_handlers"] == ["StreamHandler", "OTelLogHandler"]
    assert otlp_receiver.store.wait_for(lambda s: len(s.logs()) >= 2)
    assert sorted(r.body for r in otlp_receiver.store.logs()) == ["info line", "warning line"]
