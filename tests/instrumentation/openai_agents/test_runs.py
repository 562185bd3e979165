"""Agents SDK runs as llmtel traces: workflow, agents, tools, handoffs, guardrails; real runs against the fake
server."""

from __future__ import annotations

import asyncio
from typing import Any

import agents
import pytest
from opentelemetry.trace import StatusCode

import llmtel
from llmtel import semconv as sc
from llmtel.genai.content import CaptureMode, ContentPolicy, use_policy
from llmtel.testing import ErrorReply, ResponsesReply, ToolCall, Usage

from .conftest import MODEL, tree

CHAT = f"chat {MODEL}"
ASKS_LOOKUP = ResponsesReply(function_calls=[ToolCall("call_1", "lookup", '{"order": 7}')],
                             usage=Usage(prompt=100, completion=10))
ANSWERS = ResponsesReply("It shipped.", usage=Usage(prompt=120, completion=5))


@agents.function_tool
def lookup(order: int) -> str:
    """Look an order up."""
    if order == 8:
        raise LookupError("no such order: 8")
    return f"order {order} shipped"


def run(agent: Any, question: str, **options: Any) -> Any:
    return asyncio.run(agents.Runner.run(agent, question, **options))


def test_a_run_is_a_workflow_with_the_agent_and_its_model_calls_and_tools_nested_under_it(pipelines, fake, make_agent):
    fake.enqueue(ASKS_LOOKUP)
    fake.enqueue(ANSWERS)
    result = run(make_agent(tools=[lookup]), "where is order 7?")
    assert result.final_output == "It shipped."
    assert tree(pipelines.spans()) == [
        ("Agent workflow", None), ("invoke_agent helpdesk", "Agent workflow"), (CHAT, "invoke_agent helpdesk"),
        ("execute_tool lookup", "invoke_agent helpdesk"), (CHAT, "invoke_agent helpdesk"),
    ]
    assert len({span.context.trace_id for span in pipelines.spans()}) == 1
    workflow, agent = pipelines.span_named("Agent workflow"), pipelines.span_named("invoke_agent helpdesk")
    assert workflow.attributes[sc.GEN_AI_OPERATION_NAME] == sc.OP_INVOKE_WORKFLOW
    assert workflow.attributes[sc.LLMTEL_OPENAI_AGENTS_TRACE_ID].startswith("trace_")
    assert (workflow.attributes[sc.LLMTEL_RUN_LLM_CALLS], workflow.attributes[sc.LLMTEL_RUN_TOOL_CALLS]) == (2, 1)
    assert agent.attributes[sc.GEN_AI_AGENT_NAME] == "helpdesk"
    assert agent.attributes[sc.GEN_AI_REQUEST_MODEL] == MODEL  # the one its model calls asked for
    assert (agent.attributes[sc.LLMTEL_AGENT_LLM_CALLS], agent.attributes[sc.LLMTEL_AGENT_TOOL_CALLS]) == (2, 1)
    assert (agent.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS], agent.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (220, 15)
    cost = sum(call.attributes[sc.LLMTEL_COST_USD] for call in pipelines.llm_spans())
    assert agent.attributes[sc.LLMTEL_AGENT_COST_USD] == pytest.approx(cost) and cost > 0
    run_id = workflow.attributes[sc.LLMTEL_RUN_ID]
    assert all(span.attributes[sc.LLMTEL_RUN_ID] == run_id for span in pipelines.spans())
    tool = pipelines.span_named("execute_tool lookup")
    assert (tool.attributes[sc.GEN_AI_TOOL_NAME], tool.attributes[sc.GEN_AI_TOOL_TYPE]) == ("lookup", "function")
    assert tool.attributes[sc.GEN_AI_TOOL_CALL_ID] == "call_1"  # the model's id for the call
    assert sc.GEN_AI_TOOL_CALL_ARGUMENTS not in tool.attributes  # content capture is off
    assert all(span.status.status_code is StatusCode.UNSET for span in pipelines.spans())


def test_the_agent_and_tool_metrics_are_recorded_by_name(pipelines, fake, make_agent):
    fake.enqueue(ASKS_LOOKUP)
    fake.enqueue(ANSWERS)
    run(make_agent(tools=[lookup]), "where is order 7?")
    [calls] = pipelines.metric_points(sc.METRIC_INVOKE_AGENT_INFERENCE_CALLS)
    [tools] = pipelines.metric_points(sc.METRIC_INVOKE_AGENT_TOOL_CALLS)
    assert (calls.sum, tools.sum) == (2, 1) and calls.attributes == {sc.GEN_AI_AGENT_NAME: "helpdesk"}
    [tool] = pipelines.metric_points(sc.METRIC_EXECUTE_TOOL_DURATION)
    assert tool.attributes == {sc.GEN_AI_TOOL_NAME: "lookup", sc.GEN_AI_TOOL_TYPE: "function",
                               sc.GEN_AI_AGENT_NAME: "helpdesk"}
    [workflow] = pipelines.metric_points(sc.METRIC_INVOKE_WORKFLOW_DURATION)
    assert workflow.attributes == {sc.GEN_AI_WORKFLOW_NAME: "Agent workflow"} and workflow.count == 1


def test_the_workflow_takes_the_runs_workflow_name_and_its_group_as_the_conversation(pipelines, fake, make_agent):
    fake.enqueue(ANSWERS)
    config = agents.RunConfig(workflow_name="Order desk", group_id="conversation-42")
    run(make_agent(), "where is order 7?", run_config=config)
    workflow = pipelines.span_named("Order desk")
    assert workflow.attributes[sc.GEN_AI_WORKFLOW_NAME] == "Order desk"
    assert {span.attributes.get(sc.GEN_AI_CONVERSATION_ID) for span in pipelines.spans()} == {"conversation-42"}


def test_the_traces_metadata_is_on_the_workflow_and_every_span_inside_it(pipelines, fake, make_agent):
    fake.enqueue(ANSWERS, times=2)
    config = agents.RunConfig(trace_metadata={"customer": "user_456", "tier": 2})

    async def both() -> None:  # one event loop: the async client is bound to it
        with llmtel.run("ticket", queue="billing"):
            await agents.Runner.run(make_agent(), "where is order 7?", run_config=config)
        with agents.trace("Nightly review", metadata={"batch": ["a", "b"]}):
            await agents.Runner.run(make_agent("reviewer"), "second")

    asyncio.run(both())
    first = [span for span in pipelines.spans() if span.name != "ticket" and span.start_time < pipelines.span_named(
        "Nightly review").start_time]
    assert {span.name for span in first} >= {"Agent workflow", "invoke_agent helpdesk", CHAT}
    for span in first:
        assert span.attributes["llmtel.openai_agents.metadata.customer"] == "user_456", span.name
        assert span.attributes["llmtel.openai_agents.metadata.tier"] == 2, span.name
        assert span.attributes["queue"] == "billing", span.name  # the app's run's attributes are kept
    assert "llmtel.openai_agents.metadata.customer" not in pipelines.span_named("ticket").attributes
    second = pipelines.span_named("invoke_agent reviewer").attributes
    assert second["llmtel.openai_agents.metadata.batch"] == '["a", "b"]'
    assert "llmtel.openai_agents.metadata.customer" not in second


def test_inside_an_apps_run_the_workflow_keeps_its_run_id_session_and_user(pipelines, fake, make_agent):
    fake.enqueue(ANSWERS)
    with llmtel.run("ticket", session_id="session-1", user_id="user-1") as ticket:
        run(make_agent(), "where is order 7?")
    assert tree(pipelines.spans())[:3] == [("ticket", None), ("Agent workflow", "ticket"),
                                           ("invoke_agent helpdesk", "Agent workflow")]
    for span in pipelines.spans():
        assert span.attributes[sc.LLMTEL_RUN_ID] == ticket.run_id, span.name
        assert (span.attributes[sc.SESSION_ID], span.attributes[sc.USER_ID]) == ("session-1", "user-1"), span.name
    assert pipelines.span_named("ticket").attributes[sc.LLMTEL_RUN_LLM_CALLS] == 1  # counted in the app's run too


def test_a_tools_arguments_and_result_are_recorded_when_content_is_captured(pipelines, fake, make_agent):
    fake.enqueue(ASKS_LOOKUP)
    fake.enqueue(ANSWERS)
    use_policy(ContentPolicy(mode=CaptureMode.SPAN_ONLY))
    try:
        run(make_agent(tools=[lookup]), "where is order 7?")
    finally:
        use_policy(None)
    tool = pipelines.span_named("execute_tool lookup")
    assert tool.attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS] == '{"order": 7}'
    assert tool.attributes[sc.GEN_AI_TOOL_CALL_RESULT] == '"order 7 shipped"'


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
def test_an_agents_span_carries_what_its_own_model_calls_were_asked_and_answered_when_captured(
        pipelines, fake, make_agent, instrument, streamed):
    instrument().uninstrument()
    instrument(capture_content="SPAN_ONLY")
    fake.enqueue(ASKS_LOOKUP)
    fake.enqueue(ANSWERS)

    async def consume() -> None:
        result = agents.Runner.run_streamed(make_agent(tools=[lookup]), "where is order 7?")
        assert [event async for event in result.stream_events()]

    if streamed:
        asyncio.run(consume())
    else:
        run(make_agent(tools=[lookup]), "where is order 7?")
    first, last = (span.attributes for span in pipelines.llm_spans())
    agent = pipelines.span_named("invoke_agent helpdesk").attributes
    assert agent[sc.GEN_AI_SYSTEM_INSTRUCTIONS] == first[sc.GEN_AI_SYSTEM_INSTRUCTIONS]
    assert '"Be brief."' in agent[sc.GEN_AI_SYSTEM_INSTRUCTIONS]  # the agent's instructions, as the SDK sent them
    assert agent[sc.GEN_AI_INPUT_MESSAGES] == first[sc.GEN_AI_INPUT_MESSAGES]  # the run's input, not the tool's turn
    assert '"where is order 7?"' in agent[sc.GEN_AI_INPUT_MESSAGES] and "shipped" not in agent[sc.GEN_AI_INPUT_MESSAGES]
    assert agent[sc.GEN_AI_TOOL_DEFINITIONS] == first[sc.GEN_AI_TOOL_DEFINITIONS] and '"lookup"' in agent[
        sc.GEN_AI_TOOL_DEFINITIONS]
    assert agent[sc.GEN_AI_OUTPUT_MESSAGES] == last[sc.GEN_AI_OUTPUT_MESSAGES]
    assert '"It shipped."' in agent[sc.GEN_AI_OUTPUT_MESSAGES]


def test_without_content_capture_an_agents_span_carries_no_content(pipelines, fake, make_agent):
    fake.enqueue(ANSWERS)
    run(make_agent(), "where is order 7?")
    agent = pipelines.span_named("invoke_agent helpdesk").attributes
    assert not {sc.GEN_AI_SYSTEM_INSTRUCTIONS, sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES,
                sc.GEN_AI_TOOL_DEFINITIONS} & set(agent)
    assert agent[sc.LLMTEL_AGENT_LLM_CALLS] == 1


def test_a_failing_tool_fails_its_span_and_the_agent_carries_on(pipelines, fake, make_agent):
    fake.enqueue(ResponsesReply(function_calls=[ToolCall("call_1", "lookup", '{"order": 8}')]))
    fake.enqueue(ResponsesReply("There is no order 8."))
    assert run(make_agent(tools=[lookup]), "where is order 8?").final_output == "There is no order 8."
    tool = pipelines.span_named("execute_tool lookup")
    assert tool.status.status_code is StatusCode.ERROR
    assert tool.attributes[sc.ERROR_TYPE] == "AgentsSpanError"
    assert tool.status.description.startswith("AgentsSpanError: Error running tool")  # the SDK's message
    assert pipelines.span_named("invoke_agent helpdesk").status.status_code is StatusCode.UNSET
    [point] = pipelines.metric_points(sc.METRIC_EXECUTE_TOOL_DURATION)
    assert point.attributes[sc.ERROR_TYPE] == "AgentsSpanError"


def test_a_failing_model_call_fails_the_agent_and_the_workflow_with_its_error(pipelines, fake, make_agent):
    fake.enqueue(ErrorReply(500, "server_error", None, "The server had an error."))
    with pytest.raises(Exception) as raised:
        run(make_agent(), "where is order 7?")
    error = type(raised.value).__qualname__
    for name in ("Agent workflow", "invoke_agent helpdesk", CHAT):
        span = pipelines.span_named(name)
        assert span.status.status_code is StatusCode.ERROR, name
    assert pipelines.span_named("invoke_agent helpdesk").attributes[sc.ERROR_TYPE] == error
    [point] = pipelines.metric_points(sc.METRIC_INVOKE_AGENT_DURATION)
    assert point.attributes[sc.ERROR_TYPE] == error


def test_a_handoff_is_its_own_span_and_the_next_agent_its_own_invocation(pipelines, fake, make_agent):
    billing = make_agent("billing")
    triage = make_agent("triage", handoffs=[billing])
    fake.enqueue(ResponsesReply(function_calls=[ToolCall("call_1", "transfer_to_billing", "{}")]))
    fake.enqueue(ResponsesReply("Billing here: refunded."))
    assert run(triage, "refund order 7").final_output == "Billing here: refunded."
    shape = tree(pipelines.spans())
    assert ("invoke_agent triage", "Agent workflow") in shape and ("invoke_agent billing", "Agent workflow") in shape
    assert ("handoff billing", "invoke_agent triage") in shape
    handoff = pipelines.span_named("handoff billing")
    assert (handoff.attributes[sc.LLMTEL_HANDOFF_FROM_AGENT], handoff.attributes[sc.LLMTEL_HANDOFF_TO_AGENT]) == (
        "triage", "billing")
    assert pipelines.span_named("invoke_agent billing").attributes[sc.LLMTEL_AGENT_LLM_CALLS] == 1


@agents.input_guardrail
async def no_refunds(context: Any, agent: Any, question: Any) -> agents.GuardrailFunctionOutput:
    return agents.GuardrailFunctionOutput(output_info=None, tripwire_triggered="refund" in str(question))


def test_a_guardrail_is_its_own_span_with_whether_it_tripped(pipelines, fake, make_agent):
    fake.enqueue(ANSWERS)
    run(make_agent(input_guardrails=[no_refunds]), "where is order 7?")
    guardrail = pipelines.span_named("guardrail no_refunds")
    assert guardrail.attributes[sc.LLMTEL_GUARDRAIL_NAME] == "no_refunds"
    assert guardrail.attributes[sc.LLMTEL_GUARDRAIL_TRIGGERED] is False


def test_a_tripped_guardrail_fails_the_agent_with_the_sdks_exception(pipelines, fake, make_agent):
    fake.enqueue(ANSWERS)
    with pytest.raises(agents.InputGuardrailTripwireTriggered):
        run(make_agent(input_guardrails=[no_refunds]), "refund order 7")
    assert pipelines.span_named("guardrail no_refunds").attributes[sc.LLMTEL_GUARDRAIL_TRIGGERED] is True
    agent = pipelines.span_named("invoke_agent helpdesk")
    assert agent.attributes[sc.ERROR_TYPE] == "InputGuardrailTripwireTriggered"


def test_a_streamed_run_is_traced_as_a_plain_one(pipelines, fake, make_agent):
    fake.enqueue(ASKS_LOOKUP)
    fake.enqueue(ANSWERS)

    async def stream() -> Any:
        result = agents.Runner.run_streamed(make_agent(tools=[lookup]), "where is order 7?")
        events = [event async for event in result.stream_events()]
        return result.final_output, events

    output, events = asyncio.run(stream())
    assert output == "It shipped." and events
    assert tree(pipelines.spans()) == [
        ("Agent workflow", None), ("invoke_agent helpdesk", "Agent workflow"), (CHAT, "invoke_agent helpdesk"),
        ("execute_tool lookup", "invoke_agent helpdesk"), (CHAT, "invoke_agent helpdesk"),
    ]
    agent = pipelines.span_named("invoke_agent helpdesk")
    assert (agent.attributes[sc.LLMTEL_AGENT_LLM_CALLS], agent.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS]) == (2, 220)


def test_the_apps_own_trace_and_custom_spans_are_the_workflow_and_its_steps(pipelines, fake, make_agent):
    fake.enqueue(ANSWERS, times=2)

    async def nightly() -> None:
        with agents.trace("Nightly review"):
            with agents.custom_span("prepare"):
                pass
            await agents.Runner.run(make_agent(), "first")
            await agents.Runner.run(make_agent("reviewer"), "second")

    asyncio.run(nightly())
    assert tree(pipelines.spans()) == [
        ("Nightly review", None), ("step prepare", "Nightly review"),
        ("invoke_agent helpdesk", "Nightly review"), (CHAT, "invoke_agent helpdesk"),
        ("invoke_agent reviewer", "Nightly review"), (CHAT, "invoke_agent reviewer"),
    ]
    assert pipelines.span_named("Nightly review").attributes[sc.LLMTEL_RUN_LLM_CALLS] == 2


def test_a_sync_run_is_traced_too(pipelines, fake, make_agent):
    fake.enqueue(ANSWERS)
    assert agents.Runner.run_sync(make_agent(), "where is order 7?").final_output == "It shipped."
    assert tree(pipelines.spans()) == [("Agent workflow", None), ("invoke_agent helpdesk", "Agent workflow"),
                                       (CHAT, "invoke_agent helpdesk")]


def test_running_out_of_turns_fails_the_agent_and_the_workflow(pipelines, fake, make_agent):
    fake.enqueue(ASKS_LOOKUP, times=2)
    with pytest.raises(agents.MaxTurnsExceeded):
        run(make_agent(tools=[lookup]), "where is order 7?", max_turns=1)
    for name in ("Agent workflow", "invoke_agent helpdesk"):
        assert pipelines.span_named(name).attributes[sc.ERROR_TYPE] == "MaxTurnsExceeded", name
