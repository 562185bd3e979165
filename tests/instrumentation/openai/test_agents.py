"""An agent's span sums up the model calls made inside it: real openai calls against the fake server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import llmtel
from llmtel import semconv as sc
from llmtel.testing import ChatReply, ErrorReply, ToolCall, Usage

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


def test_an_agent_given_no_model_takes_the_one_its_own_calls_asked_for_when_they_agree(pipelines, fake, client):
    fake.enqueue(ANSWERS, times=4)
    fake.enqueue(ErrorReply.rate_limited())
    fake.enqueue(ANSWERS)
    ask = [{"role": "user", "content": "plan"}]
    with llmtel.agent("orchestrator"):  # its own calls all ask for MODEL; its sub-agent's for another one
        client.chat.completions.create(model=MODEL, messages=ask)
        with llmtel.agent("writer"):
            client.chat.completions.create(model="gpt-4o", messages=ask)
        client.chat.completions.create(model=MODEL, messages=ask)
    with llmtel.agent("router"):  # two models of its own: no one model is the agent's
        client.chat.completions.create(model=MODEL, messages=ask)
        with pytest.raises(openai.RateLimitError):  # a failed call asked for its model all the same
            client.with_options(max_retries=0).chat.completions.create(model="gpt-4o", messages=ask)
    with llmtel.agent("idle"):  # no calls at all
        pass
    with llmtel.agent("given", model="gpt-4.1"):  # a model given is kept, whatever the calls ask for
        client.chat.completions.create(model=MODEL, messages=ask)
    models = {name: pipelines.span_named(f"invoke_agent {name}").attributes.get(sc.GEN_AI_REQUEST_MODEL)
              for name in ("orchestrator", "writer", "router", "idle", "given")}
    assert models == {"orchestrator": MODEL, "writer": "gpt-4o", "router": None, "idle": None, "given": "gpt-4.1"}
    by_agent = {point.attributes[sc.GEN_AI_AGENT_NAME]: point.attributes.get(sc.GEN_AI_REQUEST_MODEL)
                for point in _collected(pipelines)[sc.METRIC_INVOKE_AGENT_DURATION]}
    assert by_agent == models  # the invocation's metric points carry the same model


@pytest.fixture
def capturing(pipelines: Any, instrument: Any) -> Any:
    """``pipelines``, with the openai client instrumented to capture content on spans."""
    instrument().uninstrument()
    instrument(capture_content="SPAN_ONLY")
    return pipelines


CONTENT = (sc.GEN_AI_SYSTEM_INSTRUCTIONS, sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_TOOL_DEFINITIONS)
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


def test_an_agent_not_given_its_content_takes_it_from_its_own_first_and_last_calls(capturing, fake, client):
    fake.enqueue(ASKS_TOOL)
    fake.enqueue(ANSWERS)
    messages: list[Any] = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "where is order 7?"}]
    with llmtel.agent("helpdesk"):
        reply = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS).choices[0].message
        messages += [reply.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": "call_1", "content": "ok"}]
        client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    first, last = capturing.llm_spans()
    agent = capturing.span_named("invoke_agent helpdesk").attributes
    assert agent[sc.GEN_AI_INPUT_MESSAGES] == first.attributes[sc.GEN_AI_INPUT_MESSAGES]  # what it was asked
    assert '"where is order 7?"' in agent[sc.GEN_AI_INPUT_MESSAGES] and '"call_1"' not in agent[sc.GEN_AI_INPUT_MESSAGES]
    assert agent[sc.GEN_AI_OUTPUT_MESSAGES] == last.attributes[sc.GEN_AI_OUTPUT_MESSAGES]  # what it answered
    assert '"It shipped."' in agent[sc.GEN_AI_OUTPUT_MESSAGES]
    assert agent[sc.GEN_AI_TOOL_DEFINITIONS] == first.attributes[sc.GEN_AI_TOOL_DEFINITIONS]
    assert '"lookup"' in agent[sc.GEN_AI_TOOL_DEFINITIONS]
    assert sc.GEN_AI_SYSTEM_INSTRUCTIONS not in agent  # chat's system message is part of the input, as on the call


def test_what_an_agent_is_given_wins_and_a_sub_agents_calls_are_its_own(capturing, fake, client):
    fake.enqueue(ANSWERS, times=3)
    with llmtel.agent("orchestrator", instructions="Plan.") as orchestrator:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "plan it"}])
        with llmtel.agent("writer", input="write it") as writer:
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "draft it"}])
            writer.set_output("Written.")
    with llmtel.agent("silent") as silent:  # it answered None: an answer given, not one to take from its calls
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "say nothing"}])
        silent.set_output(None)
    spans = {name: capturing.span_named(f"invoke_agent {name}").attributes
             for name in ("orchestrator", "writer", "silent")}
    assert '"plan it"' in spans["orchestrator"][sc.GEN_AI_INPUT_MESSAGES]  # its own call's, not its sub-agent's
    assert '"Plan."' in spans["orchestrator"][sc.GEN_AI_SYSTEM_INSTRUCTIONS]
    assert '"It shipped."' in spans["orchestrator"][sc.GEN_AI_OUTPUT_MESSAGES]
    assert orchestrator.name == "orchestrator"
    assert '"write it"' in spans["writer"][sc.GEN_AI_INPUT_MESSAGES]  # given: kept
    assert '"draft it"' not in spans["writer"][sc.GEN_AI_INPUT_MESSAGES]
    assert '"Written."' in spans["writer"][sc.GEN_AI_OUTPUT_MESSAGES]
    assert '"say nothing"' in spans["silent"][sc.GEN_AI_INPUT_MESSAGES]
    assert sc.GEN_AI_OUTPUT_MESSAGES not in spans["silent"]


def test_a_failed_agent_takes_no_answer_and_without_capture_an_agent_takes_no_content(capturing, fake, client, instrument):
    fake.enqueue(ANSWERS)
    fake.enqueue(ErrorReply.rate_limited())
    with pytest.raises(openai.RateLimitError), llmtel.agent("failing"):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "first"}])
        client.with_options(max_retries=0).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    failed = capturing.span_named("invoke_agent failing").attributes
    assert '"first"' in failed[sc.GEN_AI_INPUT_MESSAGES] and sc.GEN_AI_OUTPUT_MESSAGES not in failed
    instrument().uninstrument()
    instrument()  # content capture off
    fake.enqueue(ANSWERS)
    with llmtel.agent("quiet"):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    quiet = capturing.span_named("invoke_agent quiet").attributes
    assert [name for name in CONTENT if name in quiet] == [] and quiet[sc.LLMTEL_AGENT_LLM_CALLS] == 1


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
    (calls,) = pipelines.metric_points(sc.METRIC_INVOKE_AGENT_INFERENCE_CALLS)  # and so do their metric points
    assert (dict(calls.attributes), calls.count, calls.sum) == ({sc.GEN_AI_AGENT_NAME: "worker"}, 2, 3)
    assert list(calls.bucket_counts[:2]) == [1, 1]  # one invocation made 1 call (<= 1), the other 2 (<= 2)


def _points(pipelines: Any, name: str) -> dict[tuple[tuple[str, Any], ...], Any]:
    """The metric's points by their sorted attributes."""
    return {tuple(sorted(p.attributes.items())): p for p in pipelines.metric_points(name)}


def _collected(pipelines: Any) -> dict[str, list[Any]]:
    """Every metric's points from one collection (exemplars are kept for one collection only)."""
    found: dict[str, list[Any]] = {}
    for resource_metrics in pipelines.metric_reader.get_metrics_data().resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def test_each_invocation_records_its_duration_and_the_calls_and_tool_runs_it_made(pipelines, fake, client):
    fake.enqueue(ASKS_TOOL)
    fake.enqueue(ANSWERS)
    with llmtel.agent("helpdesk", model=MODEL) as helpdesk:
        helpdesk.set_output(agent_loop(client, "where is order 7?"))
    agent = pipelines.span_named("invoke_agent helpdesk")
    points = _collected(pipelines)
    (duration,) = points[sc.METRIC_INVOKE_AGENT_DURATION]
    assert dict(duration.attributes) == {sc.GEN_AI_AGENT_NAME: "helpdesk", sc.GEN_AI_REQUEST_MODEL: MODEL}
    assert duration.count == 1
    assert duration.sum == pytest.approx((agent.end_time - agent.start_time) / 1e9, rel=0.2, abs=0.002)
    assert tuple(duration.explicit_bounds) == sc.AGENT_DURATION_BUCKETS
    assert {e.span_id for e in duration.exemplars} == {agent.context.span_id}
    (calls,), (tools,) = (points[name] for name in (
        sc.METRIC_INVOKE_AGENT_INFERENCE_CALLS, sc.METRIC_INVOKE_AGENT_TOOL_CALLS))
    assert (calls.count, calls.sum, tools.count, tools.sum) == (1, 2, 1, 1)
    assert dict(calls.attributes) == dict(tools.attributes) == {sc.GEN_AI_AGENT_NAME: "helpdesk"}
    assert tuple(calls.explicit_bounds) == tuple(tools.explicit_bounds) == sc.CALL_COUNT_BUCKETS
    (tool,) = points[sc.METRIC_EXECUTE_TOOL_DURATION]
    assert dict(tool.attributes) == {sc.GEN_AI_TOOL_NAME: "lookup", sc.GEN_AI_TOOL_TYPE: "function",
                                     sc.GEN_AI_AGENT_NAME: "helpdesk"}
    run = pipelines.span_named("execute_tool lookup")
    assert tool.sum == pytest.approx((run.end_time - run.start_time) / 1e9, rel=0.5, abs=0.002)
    assert {e.span_id for e in tool.exemplars} == {run.context.span_id}


def test_a_sub_agents_calls_and_tool_runs_are_its_own_in_the_per_invocation_counts(pipelines, fake, client):
    fake.enqueue(ANSWERS, times=3)
    with llmtel.agent("orchestrator"):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "plan"}])
        with llmtel.run("draft"), llmtel.agent("writer"):  # a run inside the sub-agent does not change the owner
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "write"}])
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "polish"}])
            with llmtel.tool("spellcheck"):
                pass
        with llmtel.tool("publish", type="extension"):
            pass
    calls = {dict(p.attributes)[sc.GEN_AI_AGENT_NAME]: p.sum
             for p in pipelines.metric_points(sc.METRIC_INVOKE_AGENT_INFERENCE_CALLS)}
    tools = {dict(p.attributes)[sc.GEN_AI_AGENT_NAME]: p.sum
             for p in pipelines.metric_points(sc.METRIC_INVOKE_AGENT_TOOL_CALLS)}
    assert calls == {"orchestrator": 1, "writer": 2}
    assert tools == {"orchestrator": 1, "writer": 1}
    outer = pipelines.span_named("invoke_agent orchestrator").attributes  # the span's sums still hold everything
    assert (outer[sc.LLMTEL_AGENT_LLM_CALLS], outer[sc.LLMTEL_AGENT_TOOL_CALLS]) == (3, 2)
    by_tool = {dict(p.attributes)[sc.GEN_AI_TOOL_NAME]: dict(p.attributes)
               for p in pipelines.metric_points(sc.METRIC_EXECUTE_TOOL_DURATION)}
    assert by_tool["spellcheck"][sc.GEN_AI_AGENT_NAME] == "writer"
    assert by_tool["publish"] == {sc.GEN_AI_TOOL_NAME: "publish", sc.GEN_AI_TOOL_TYPE: "extension",
                                  sc.GEN_AI_AGENT_NAME: "orchestrator"}


def test_a_failed_invocation_counts_its_failed_call_and_records_its_error_type(pipelines, fake, client):
    fake.enqueue(ErrorReply.rate_limited())
    with pytest.raises(openai.RateLimitError), llmtel.agent("helpdesk"):
        client.with_options(max_retries=0).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}])
    (duration,) = pipelines.metric_points(sc.METRIC_INVOKE_AGENT_DURATION)
    assert dict(duration.attributes) == {sc.GEN_AI_AGENT_NAME: "helpdesk", sc.GEN_AI_REQUEST_MODEL: MODEL,
                                         sc.ERROR_TYPE: "RateLimitError"}  # the model its call asked for
    (calls,), (tools,) = (pipelines.metric_points(name) for name in (
        sc.METRIC_INVOKE_AGENT_INFERENCE_CALLS, sc.METRIC_INVOKE_AGENT_TOOL_CALLS))
    assert (calls.sum, tools.count, tools.sum) == (1, 1, 0)  # an invocation without tool runs records a 0


def test_a_tool_run_outside_agents_and_a_failed_one_are_recorded_by_name(pipelines):
    with llmtel.tool("search"):
        pass
    with pytest.raises(TimeoutError), llmtel.tool("search", type=None):
        raise TimeoutError("slow index")
    points = _points(pipelines, sc.METRIC_EXECUTE_TOOL_DURATION)
    assert set(points) == {
        ((sc.GEN_AI_TOOL_NAME, "search"), (sc.GEN_AI_TOOL_TYPE, "function")),
        ((sc.ERROR_TYPE, "TimeoutError"), (sc.GEN_AI_TOOL_NAME, "search")),
    }
    assert all(p.count == 1 for p in points.values())
    assert not pipelines.metric_points(sc.METRIC_INVOKE_AGENT_DURATION)
