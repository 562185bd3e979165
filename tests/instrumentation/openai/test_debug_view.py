"""LLMTEL_DEBUG through the real client: content reaches the console view but is exported only as the content
capture setting says; with the variable unset there is no view at all. (The subprocess version, checked at
the OTLP receiver, is tests/e2e/test_debug_view.py.)"""

from __future__ import annotations

import pytest

from tests.instrumentation.openai.conftest import API_KEY

openai = pytest.importorskip("openai")

QUESTION = [{"role": "user", "content": "QUESTION-XYZ"}]


@pytest.fixture
def stderr(capsys):
    """What the code under test wrote to sys.stderr, read through pytest's own capture."""

    class Err:
        def getvalue(self) -> str:  # consumes what was captured so far
            return capsys.readouterr().err

    return Err()


def ask(fake):
    client = openai.OpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)


def content_keys(span):
    return {k for k in span.attributes if k.startswith(("gen_ai.input", "gen_ai.output"))}


def test_collected_content_reaches_the_view_but_not_the_span(instrument, telemetry, fake, monkeypatch, stderr):
    monkeypatch.setenv("LLMTEL_DEBUG", "true")
    instrument()
    ask(fake)
    printed = stderr.getvalue()
    assert "> user: QUESTION-XYZ" in printed and "< assistant: Fake reply to: QUESTION-XYZ" in printed
    assert content_keys(telemetry.one_llm_span()) == set()
    assert telemetry.events() == []


def test_with_capture_on_too_content_is_exported_as_capture_says(instrument, telemetry, fake, monkeypatch, stderr):
    monkeypatch.setenv("LLMTEL_DEBUG", "true")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    instrument()
    ask(fake)
    assert "> user: QUESTION-XYZ" in stderr.getvalue()
    span = telemetry.one_llm_span()
    assert content_keys(span) == {"gen_ai.input.messages", "gen_ai.output.messages"}
    assert "QUESTION-XYZ" in span.attributes["gen_ai.input.messages"]


def test_off_by_default_nothing_printed_nothing_collected(instrument, telemetry, fake, monkeypatch, stderr):
    monkeypatch.delenv("LLMTEL_DEBUG", raising=False)
    seen = []
    instrument(on_finish=seen.append)
    ask(fake)
    assert "[llmtel]" not in stderr.getvalue()
    assert seen[0].input_messages is None and seen[0].output_messages is None  # nothing extracted


def test_view_shows_the_span_cost_and_the_app_hook_still_runs(instrument, telemetry, fake, monkeypatch, stderr):
    monkeypatch.setenv("LLMTEL_DEBUG", "true")
    seen = []
    instrument(on_finish=seen.append, prices={"gpt-4o-mini": {"input": 1.0, "output": 2.0}})
    ask(fake)
    usd = telemetry.one_llm_span().attributes["llmtel.cost.usd"]
    assert f"cost: ${usd:.6f}" in stderr.getvalue()
    assert len(seen) == 1 and seen[0].input_messages is not None  # the app's hook sees the collected content
