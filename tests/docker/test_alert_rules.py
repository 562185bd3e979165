"""The alert rules, run by promtool against their unit tests (CI installs promtool and sets
LLMTEL_REQUIRE_PROMTOOL=1 so they cannot skip there; elsewhere they skip without it)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.docker.stack_files import DOCKER, load_yaml

PROMETHEUS_DIR = DOCKER / "prometheus"


def test_the_unit_tests_cover_every_alert():
    rules = {r["alert"] for g in load_yaml("prometheus/rules/llmtel.rules.yml")["groups"] for r in g["rules"]}
    tests = load_yaml("prometheus/llmtel.rules.test.yml")
    assert tests["rule_files"] == ["rules/llmtel.rules.yml"]
    firing = {
        case["alertname"]
        for test in tests["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert firing == rules


_NO_PROMTOOL = shutil.which("promtool") is None and os.environ.get("LLMTEL_REQUIRE_PROMTOOL") != "1"


@pytest.mark.skipif(_NO_PROMTOOL, reason="promtool is not installed (Debian package prometheus)")
@pytest.mark.parametrize("command", [["check", "rules", "rules/llmtel.rules.yml"], ["test", "rules", "llmtel.rules.test.yml"]])
def test_promtool(command):
    result = subprocess.run(["promtool", *command], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
