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


@pytest.fixture
def debug_on(monkeypatch):
    """LLMTEL_DEBUG set before anything is instrumented (list it before ``pipelines``)."""
    monkeypatch.setenv("LLMTEL_DEBUG", "true")


def test_tool_runs_and_agents_are_shown_as_they_end(debug_on, pipelines, fake, stderr):
    import llmtel
    from llmtel.testing import ChatReply, Usage

    fake.enqueue(ChatReply(model="gpt-4o-mini-2024-07-18", usage=Usage(prompt=100, completion=10)))
    with llmtel.agent("support", model="gpt-4o-mini"):
        ask(fake)
        arguments = '{"city": "Paris", "notify": "jane@example.com"}'
        with llmtel.tool("lookup_weather", call_id="call_7", arguments=arguments) as run:
            run.set_result({"temp_c": 21})
    printed = stderr.getvalue()
    lines = printed.splitlines()
    heads = [line.split(" ")[1] for line in lines if line.startswith("[llmtel] ")]
    assert heads == ["chat", "execute_tool", "invoke_agent"]  # each as it ends
    assert any(line.startswith("[llmtel] execute_tool lookup_weather ") and line.endswith("call id: call_7")
               for line in lines)
    # shown whatever is captured, redacted as captured content is
    assert '    > arguments: {"city": "Paris", "notify": "[REDACTED:email]"}' in lines
    assert '    < result: {"temp_c": 21}' in lines
    agent_tool = next(i for i, line in enumerate(lines) if line.startswith("[llmtel] invoke_agent support "))
    cost = pipelines.span_named("invoke_agent support").attributes["llmtel.agent.cost.usd"]
    assert lines[agent_tool + 1] == f"    1 LLM call  1 tool run  tokens: 100 in, 10 out  cost: ${cost:.6f}"
    tool_span = pipelines.span_named("execute_tool lookup_weather")
    assert "gen_ai.tool.call.arguments" not in tool_span.attributes  # capture is off: nothing exported


def test_a_failed_tool_and_agent_show_the_error_and_no_result(debug_on, pipelines, stderr):
    import llmtel

    with pytest.raises(LookupError):
        with llmtel.agent("planner"):
            with llmtel.tool("fetch", arguments={"url": "https://example.com"}) as run:
                run.set_result("never shown")
                raise LookupError("no page for jane@example.com")
    printed = stderr.getvalue()
    assert "    ! error: LookupError: no page for [REDACTED:email]" in printed
    assert printed.count("! error: LookupError") == 2  # the tool's and the agent's
    assert "never shown" not in printed
    assert "    0 LLM calls  1 tool run" in printed


def test_without_the_debug_view_tools_and_agents_print_nothing(pipelines, monkeypatch, stderr):
    import llmtel

    monkeypatch.delenv("LLMTEL_DEBUG", raising=False)
    with llmtel.agent("quiet"), llmtel.tool("noop"):
        pass
    assert "[llmtel]" not in stderr.getvalue()


def test_an_error_that_cannot_be_printed_does_not_reach_the_app(debug_on, pipelines, stderr):
    import llmtel

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    with pytest.raises(Unprintable):
        with llmtel.agent("a"), llmtel.tool("t"):
            raise Unprintable()
    assert pipelines.span_named("invoke_agent a").end_time is not None  # both spans still ended
    assert pipelines.span_named("execute_tool t").end_time is not None
    assert stderr.getvalue().count("! error: Unprintable: <exception str() failed>") == 2
