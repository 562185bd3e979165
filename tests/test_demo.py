"""`llmtel demo` (the README's main job) in a fresh process: it must show a whole, correlated LLM trace."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import clean_env

LLMTEL = Path(sys.executable).parent / "llmtel"


@pytest.mark.e2e
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_demo_reports_a_correlated_llm_trace(protocol):
    run = subprocess.run([str(LLMTEL), "demo", "--protocol", protocol], env=clean_env(), capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "12 spans, 3 of them LLM calls" in out
    assert re.search(r"chat gpt-4o-mini .*420 in, 18 out, finish=tool_calls, \$0\.0000\d+", out)
    assert re.search(r"chat gpt-4o-mini .*finish=stop, .*first chunk", out)
    assert "embeddings text-embedding-3-small" in out
    assert "tokens: 975 in, 42 out" in out
    assert "logs: 6 received, 6 carry this trace id" in out
    assert "llmtel.client.cost" in out and "gen_ai.client.token.usage" in out
    assert "W3C traceparent reached the model server: yes" in out
    assert "sk-demo" not in out + run.stderr
