"""``llmtel.prompt`` and Responses stored prompts: the calls carry the prompt template's name and version.
Real openai calls against the fake server."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry import baggage
from opentelemetry import context as otel_context

import llmtel
from llmtel import pipeline
from llmtel import semconv as sc
from llmtel.testing import ChatReply, ResponsesReply

openai = pytest.importorskip("openai")

ASK = [{"role": "user", "content": "hi"}]
PROMPT_KEYS = (sc.GEN_AI_PROMPT_NAME, sc.GEN_AI_PROMPT_VERSION)


def _prompt_of(span) -> tuple[str | None, str | None]:  # type: ignore[no-untyped-def]
    return span.attributes.get(sc.GEN_AI_PROMPT_NAME), span.attributes.get(sc.GEN_AI_PROMPT_VERSION)


def _calls(telemetry) -> list:  # type: ignore[no-untyped-def]
    calls = (s for s in telemetry.spans() if s.instrumentation_scope.name == "llmtel")
    return sorted(calls, key=lambda s: s.start_time)


def test_calls_inside_a_prompt_carry_its_name_and_version_and_calls_outside_do_not(instrument, telemetry, client,
                                                                                       fake):
    instrument()  # no pipeline span processor: the prompt reaches the call through its context alone
    fake.enqueue(ChatReply("a"), times=4)
    with llmtel.prompt("answer-question", version=3):
        client.chat.completions.create(model="gpt-4o-mini", messages=ASK)
        with llmtel.prompt("rewrite"):  # the innermost holds, without the outer's version
            client.chat.completions.create(model="gpt-4o-mini", messages=ASK)
        client.chat.completions.create(model="gpt-4o-mini", messages=ASK, stream=True).close()
    client.chat.completions.create(model="gpt-4o-mini", messages=ASK)
    assert [_prompt_of(s) for s in _calls(telemetry)] == [
        ("answer-question", "3"), ("rewrite", None), ("answer-question", "3"), (None, None)]
    http = [s for s in telemetry.spans() if s.instrumentation_scope.name != "llmtel"]
    assert all(not set(PROMPT_KEYS) & set(s.attributes) for s in http)  # only the model calls carry it


def test_the_prompt_reaches_calls_in_runs_steps_and_agents_entered_inside_it_and_around_it(pipelines, fake, client):
    fake.enqueue(ChatReply("a"), times=3)
    with llmtel.prompt("triage", version="2024-06-01"):
        with llmtel.run("support"), llmtel.step("classify"), llmtel.agent("helpdesk"):
            client.chat.completions.create(model="gpt-4o-mini", messages=ASK)
    with llmtel.run("support"), llmtel.prompt("triage", version="v2"), llmtel.step("classify"):
        client.chat.completions.create(model="gpt-4o-mini", messages=ASK)
        with llmtel.tool("lookup"):
            client.chat.completions.create(model="gpt-4o-mini", messages=ASK)
    assert [_prompt_of(s) for s in _calls(pipelines)] == [
        ("triage", "2024-06-01"), ("triage", "v2"), ("triage", "v2")]
    run = [s for s in pipelines.spans() if s.name == "support"][-1]
    assert not set(PROMPT_KEYS) & set(run.attributes)  # the run's own span is not a call from the prompt


def test_a_decorated_coroutine_is_a_prompt_each_call(instrument, telemetry, aclient, fake):
    instrument()
    fake.enqueue(ChatReply("a"), times=2)

    @llmtel.prompt("summarise", version=2)
    async def summarise() -> None:
        await aclient.chat.completions.create(model="gpt-4o-mini", messages=ASK)

    async def main() -> None:
        await asyncio.gather(summarise(), aclient.chat.completions.create(model="gpt-4o-mini", messages=ASK))

    asyncio.run(main())
    assert sorted((_prompt_of(s) for s in _calls(telemetry)), key=str) == [("summarise", "2"), (None, None)]


def test_a_stored_prompt_names_the_call_and_the_response_says_which_version_it_used(instrument, telemetry,
                                                                                      client, fake):
    instrument()
    fake.enqueue(ResponsesReply("a"))
    fake.enqueue(ResponsesReply("b", prompt_version="7"))
    fake.enqueue(ResponsesReply("c"))
    client.responses.create(model="gpt-4o-mini", prompt={"id": "pmpt_abc", "version": "2",
                                                         "variables": {"city": "Oslo"}})
    client.responses.create(model="gpt-4o-mini", prompt={"id": "pmpt_abc"})  # the server resolves the version
    with llmtel.prompt("house-template", version="1"):  # the request's own stored prompt wins
        for _ in client.responses.create(model="gpt-4o-mini", prompt={"id": "pmpt_xyz", "version": "4"},
                                         stream=True):
            pass
    assert [_prompt_of(s) for s in _calls(telemetry)] == [("pmpt_abc", "2"), ("pmpt_abc", "7"), ("pmpt_xyz", "4")]


def test_a_prompt_outside_a_run_keeps_the_run_a_service_received_in_baggage():
    received = baggage.set_baggage(sc.LLMTEL_RUN_ID, "run-from-caller")
    token = otel_context.attach(received)
    try:
        with llmtel.prompt("answer"):
            assert pipeline.log_fields()[sc.LOG_RUN_ID] == "run-from-caller"
            assert pipeline._state().prompt == ("answer", None)
    finally:
        otel_context.detach(token)


@pytest.mark.parametrize(("name", "version", "error"), [
    ("", None, ValueError), ("  ", None, ValueError), (None, None, ValueError), ("a", True, TypeError),
    ("a", 1.5, TypeError),
])
def test_bad_arguments_get_a_clear_error(name, version, error):
    with pytest.raises(error, match="llmtel.prompt"):
        llmtel.prompt(name, version=version)


def test_the_apps_exception_passes_through_a_prompt_unchanged(instrument, telemetry, client, fake):
    instrument()
    with pytest.raises(KeyError, match="missing"), llmtel.prompt("answer"):
        raise KeyError("missing")
    assert pipeline._state() is None  # the context is as it was
