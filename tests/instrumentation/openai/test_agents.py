"""An agent's span sums up the model calls made inside it: real openai calls against the fake server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import llmtel
from llmtel import semconv as sc
from llmtel.testing import ChatReply, ToolCall, Usage

openai = pytest.importorskip("openai")

MODEL = "gpt-4o-mini"
ASKS_TOOL = ChatReply(tool_calls=[ToolCall("call_1", "lookup", '{"order": 7}')], model="gpt-4o-mini-2024-07-18",
                      usage=Usage(prompt=400, completion=20, cached=256))
ANSWERS = ChatReply("It shipped.", model="gpt-4o-mini-2024-07-18", usage=Usage(prompt=500, completion=12))


def agent_loop(client: Any, question: str) -> str:
    """A minimal tool-calling loop: ask, run the tool the model asks for, ask again with its result."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    while True:
        reply = client.chat.completions.create(model=MODEL, messages=messages).choices[0].message
        if not reply.tool_calls:
            return reply.content
        messages.append(reply.model_dump(exclude_none=True))
        for call in reply.tool_calls:
            with llmtel.tool(call.function.name, call_id=call.id, arguments=call.function.arguments):
                messages.append({"role": "tool", "tool_call_id": call.id, "content": "shipped"})


def test_the_agents_span_sums_its_calls_and_tools_and_the_run_counts_them_once(pipelines, fake, client):
    fake.enqueue(ASKS_TOOL)
    fake.enqueue(ANSWERS)
    with llmtel.run("support"):
        with llmtel.agent("helpdesk", model=MODEL) as helpdesk:
            helpdesk.set_output(agent_loop(client, "where is order 7?"))
    calls = pipelines.llm_spans()
    agent, run = pipelines.span_named("invoke_agent helpdesk"), pipelines.span_named("support")
    assert len(calls) == 2 and all(call.parent.span_id == agent.context.span_id for call in calls)
    assert agent.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 900
    assert agent.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 32
    assert agent.attributes[sc.LLMTEL_AGENT_LLM_CALLS] == 2
    assert agent.attributes[sc.LLMTEL_AGENT_TOOL_CALLS] == 1
    cost = sum(call.attributes[sc.LLMTEL_COST_USD] for call in calls)
    assert agent.attributes[sc.LLMTEL_AGENT_COST_USD] == pytest.approx(cost)
    assert agent.attributes[sc.LLMTEL_AGENT_COST_STATUS] == "priced"
    assert (run.attributes[sc.LLMTEL_RUN_LLM_CALLS], run.attributes[sc.LLMTEL_RUN_TOOL_CALLS]) == (2, 1)
    assert run.attributes[sc.LLMTEL_RUN_COST_USD] == pytest.approx(cost)
    assert sc.GEN_AI_PROVIDER_NAME not in agent.attributes  # not a model call: an internal agent span has none


def test_a_sub_agents_calls_count_in_it_and_in_the_agent_that_called_it(pipelines, fake, client):
    fake.enqueue(ANSWERS, times=2)
    with llmtel.agent("orchestrator"):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "plan"}])
        with llmtel.agent("writer"):
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "write"}])
    outer, inner = pipelines.span_named("invoke_agent orchestrator"), pipelines.span_named("invoke_agent writer")
    assert (outer.attributes[sc.LLMTEL_AGENT_LLM_CALLS], inner.attributes[sc.LLMTEL_AGENT_LLM_CALLS]) == (2, 1)
    assert (outer.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS], inner.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS]) == (
        1000, 500)


def test_async_agents_running_side_by_side_each_count_their_own_calls(pipelines, fake, aclient):
    fake.enqueue(ANSWERS, times=3)

    @llmtel.agent
    async def worker(n: int) -> None:
        for _ in range(n):
            await aclient.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])

    async def main() -> None:
        with llmtel.run("batch"):
            await asyncio.gather(worker(1), worker(2))

    asyncio.run(main())
    counts = sorted(s.attributes[sc.LLMTEL_AGENT_LLM_CALLS] for s in pipelines.spans() if s.name == "invoke_agent worker")
    assert counts == [1, 2]
    assert pipelines.span_named("batch").attributes[sc.LLMTEL_RUN_LLM_CALLS] == 3
