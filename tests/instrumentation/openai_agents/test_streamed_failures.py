"""A streamed run's failure on its spans as a plain run's: the SDK keeps it on the streamed result (or, out of
turns, only the state that says so) and ends its spans with no exception in flight."""

from __future__ import annotations

import asyncio
from typing import Any

import agents
import pytest
from opentelemetry.trace import StatusCode

from llmtel import semconv as sc
from llmtel.testing import ErrorReply

from .test_runs import ANSWERS, ASKS_LOOKUP, lookup

RUN_SPANS = ("Agent workflow", "invoke_agent helpdesk")


def _broken(order: int) -> str:
    """Look an order up."""
    raise LookupError(f"no such order: {order}")


fatal_lookup = agents.function_tool(_broken, name_override="lookup", failure_error_function=None)


async def _run(agent: Any, streamed: bool, **options: Any) -> Any:
    """The run's result, plain or streamed (its events consumed); what it raised instead."""
    try:
        if not streamed:
            return await agents.Runner.run(agent, "where is order 7?", **options)
        result = agents.Runner.run_streamed(agent, "where is order 7?", **options)
        _ = [event async for event in result.stream_events()]
        return result
    except Exception as error:  # noqa: BLE001 - what the run raised is the outcome compared
        return error


def _outcome(pipelines: Any) -> dict[str, tuple[StatusCode, Any]]:
    spans = {name: pipelines.span_named(name) for name in RUN_SPANS}
    return {name: (span.status.status_code, span.attributes.get(sc.ERROR_TYPE)) for name, span in spans.items()}


def _give_up(data: Any) -> Any:
    return agents.RunErrorHandlerResult(final_output="Gave up.")


# each: the model's replies, the agent's tools, the run's options, the error both runs record (None: none)
CASES: dict[str, tuple[list[Any], list[Any], dict[str, Any], str | None]] = {
    "out of turns": ([ASKS_LOOKUP], [lookup], {"max_turns": 1}, "MaxTurnsExceeded"),
    "out of turns, handled": ([ASKS_LOOKUP], [lookup],
                              {"max_turns": 1, "error_handlers": {"max_turns": _give_up}}, None),
    "model error": ([ErrorReply(500, "server_error", None, "The server had an error.")], [], {}, "InternalServerError"),
    "tool error, fatal": ([ASKS_LOOKUP], [fatal_lookup], {}, "UserError"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_streamed_run_fails_its_workflow_and_agent_as_the_plain_run_does(pipelines, fake, make_agent, case):
    replies, tools, options, error = CASES[case]

    async def both() -> list[dict[str, Any]]:  # one event loop: the client's connections belong to it
        outcomes = []
        for streamed in (False, True):
            for reply in replies:
                fake.enqueue(reply)
            pipelines.span_exporter.clear()
            await _run(make_agent(tools=tools), streamed, **options)
            outcomes.append(_outcome(pipelines))
        return outcomes

    plain, streamed_outcome = asyncio.run(both())
    assert streamed_outcome == plain
    if error is not None:
        assert plain == {name: (StatusCode.ERROR, error) for name in RUN_SPANS}
    else:
        assert plain["Agent workflow"] == (StatusCode.UNSET, None)


def test_a_streamed_run_out_of_turns_records_its_error_on_the_workflow_metric(pipelines, fake, make_agent):
    fake.enqueue(ASKS_LOOKUP)
    raised = asyncio.run(_run(make_agent(tools=[lookup]), True, max_turns=1))
    assert isinstance(raised, agents.MaxTurnsExceeded)
    [point] = pipelines.metric_points(sc.METRIC_INVOKE_WORKFLOW_DURATION)
    assert point.attributes[sc.ERROR_TYPE] == "MaxTurnsExceeded"
    [point] = pipelines.metric_points(sc.METRIC_INVOKE_AGENT_DURATION)
    assert point.attributes[sc.ERROR_TYPE] == "MaxTurnsExceeded"
    workflow = pipelines.span_named("Agent workflow")
    assert workflow.status.description == "MaxTurnsExceeded: Max turns (1) exceeded"  # the SDK's message


def test_a_failed_streamed_run_leaves_the_next_plain_run_in_the_same_task_alone(pipelines, fake, make_agent):
    fake.enqueue(ASKS_LOOKUP)
    fake.enqueue(ANSWERS)

    async def both() -> tuple[Any, Any]:
        return (await _run(make_agent(tools=[lookup]), True, max_turns=1),
                await _run(make_agent("reviewer"), False, max_turns=1))

    failed, succeeded = asyncio.run(both())
    assert isinstance(failed, agents.MaxTurnsExceeded) and succeeded.final_output == "It shipped."
    workflows = sorted(pipelines.spans(), key=lambda span: span.start_time)
    workflows = [span for span in workflows if span.name == "Agent workflow"]
    assert [span.attributes.get(sc.ERROR_TYPE) for span in workflows] == ["MaxTurnsExceeded", None]
    assert pipelines.span_named("invoke_agent reviewer").status.status_code is StatusCode.UNSET
