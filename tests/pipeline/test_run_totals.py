"""``CallTotals``: what a run's or agent's span says of its LLM calls and tool runs, from the counts alone."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from llmtel import semconv as sc
from llmtel.cost import Cost
from llmtel.pipeline import CallTotals

PRICED = Cost(0.25, "priced", "test")
PARTIAL = Cost(0.5, "partially_priced", "test")  # tokens priced, a search without a price
UNKNOWN = Cost(None, "unknown_model", "test")
NO_USAGE = Cost(None, "no_usage", "test")


def totals(started: int, *ended: tuple[int | None, int | None, Any]) -> dict[str, Any]:
    calls = CallTotals()
    for _ in range(started):
        calls.start()
    for call in ended:
        calls.end(*call)
    return calls.attributes()


def test_nothing_without_calls():
    assert totals(0) == {}


def test_every_call_priced_sums_tokens_and_usd():
    assert totals(2, (10, 2, PRICED), (5, None, PRICED)) == {
        sc.LLMTEL_RUN_LLM_CALLS: 2, sc.LLMTEL_RUN_INPUT_TOKENS: 15, sc.LLMTEL_RUN_OUTPUT_TOKENS: 2,
        sc.LLMTEL_RUN_COST_USD: 0.5, sc.LLMTEL_RUN_COST_STATUS: "priced"}


@pytest.mark.parametrize("other", [UNKNOWN, NO_USAGE, PARTIAL])
def test_a_call_without_a_whole_price_makes_the_usd_a_lower_bound(other):
    found = totals(2, (10, 2, PRICED), (1, 1, other))
    assert found[sc.LLMTEL_RUN_COST_STATUS] == "partially_priced"
    assert found[sc.LLMTEL_RUN_COST_USD] == pytest.approx(0.25 + (other.usd or 0.0))


def test_calls_not_billed_leave_the_sum_whole():
    found = totals(2, (None, None, None), (10, 2, PRICED))
    assert found[sc.LLMTEL_RUN_COST_STATUS] == "priced" and found[sc.LLMTEL_RUN_COST_USD] == 0.25


def test_a_call_still_open_makes_the_sum_partial():
    found = totals(2, (10, 2, PRICED))
    assert found[sc.LLMTEL_RUN_LLM_CALLS] == 2 and found[sc.LLMTEL_RUN_COST_STATUS] == "partially_priced"


def test_no_price_at_all_is_unpriced_without_a_usd():
    found = totals(1, (10, 2, UNKNOWN))
    assert found[sc.LLMTEL_RUN_COST_STATUS] == "unpriced" and sc.LLMTEL_RUN_COST_USD not in found


def test_only_calls_not_billed_say_nothing_of_cost():
    assert totals(1, (None, None, None)) == {sc.LLMTEL_RUN_LLM_CALLS: 1}


def test_ended_calls_count_when_no_start_was_seen():
    # a tracer provider of the app's own, without llmtel's span processor, sees no starts
    assert totals(0, (3, 1, PRICED))[sc.LLMTEL_RUN_LLM_CALLS] == 1


def test_calls_ending_on_many_threads_are_all_counted():
    calls = CallTotals()

    def work() -> None:
        for _ in range(2_000):
            calls.start()
            calls.end(3, 1, PRICED)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = calls.attributes()
    assert found[sc.LLMTEL_RUN_LLM_CALLS] == 8_000 and found[sc.LLMTEL_RUN_INPUT_TOKENS] == 24_000
    assert found[sc.LLMTEL_RUN_COST_USD] == pytest.approx(2_000.0) and found[sc.LLMTEL_RUN_COST_STATUS] == "priced"


def test_tool_runs_are_counted_with_or_without_calls():
    calls = CallTotals()
    calls.tool()
    calls.tool()
    assert calls.attributes() == {sc.LLMTEL_RUN_TOOL_CALLS: 2}
    calls.start()
    calls.end(4, 1, PRICED)
    assert calls.attributes()[sc.LLMTEL_RUN_TOOL_CALLS] == 2 and calls.attributes()[sc.LLMTEL_RUN_LLM_CALLS] == 1


def test_an_agents_keys_name_the_same_sums_its_way():
    from llmtel.agents import AGENT_TOTALS

    calls = CallTotals()
    calls.start()
    calls.end(10, 2, PRICED)
    calls.tool()
    assert calls.attributes(AGENT_TOTALS) == {
        sc.LLMTEL_AGENT_TOOL_CALLS: 1, sc.LLMTEL_AGENT_LLM_CALLS: 1, sc.GEN_AI_USAGE_INPUT_TOKENS: 10,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 2, sc.LLMTEL_AGENT_COST_USD: 0.25, sc.LLMTEL_AGENT_COST_STATUS: "priced"}


def test_an_agents_own_calls_keep_the_first_asked_and_the_last_that_answered():
    from llmtel.genai.record import GenAICall

    def call(asked: str | None, answered: str | None, error: str | None = None) -> GenAICall:
        record = GenAICall(operation="chat", provider="openai")
        record.input_messages = None if asked is None else [{"role": "user", "parts": [asked]}]
        record.output_messages = None if answered is None else [{"role": "assistant", "parts": [answered]}]
        record.error_type = error
        return record

    calls = [call(None, None), call("first", "one"), call("second", "two"), call("third", "three", error="Boom"),
             call("fourth", None)]
    agent = CallTotals(agent=True)
    for record in calls:
        agent.end(1, 1, None, True, "m", record)
    agent.end(1, 1, None, False, "m", call("a sub-agent's", "its own"))  # not the agent's own: not kept
    agent.end(1, 1, None, True, "m", None)  # content not captured: not kept
    assert (agent.own_asked, agent.own_answered) == (calls[1], calls[2])
    assert CallTotals(agent=True).own_asked is None
