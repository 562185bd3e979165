"""One scope object (a module-level ``llmtel.step("fetch")``, an agent, a tool) entered by several asyncio tasks
or threads at once: each ``with`` ends its own entry, and ``set_input`` / ``set_output`` / ``set_result`` write
to the entry of the task or thread calling them."""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import pytest
from opentelemetry import trace

import llmtel
from llmtel import semconv as sc
from llmtel.genai.content import CaptureMode, ContentPolicy, use_policy

app_log = logging.getLogger("tests.pipeline.app")


@pytest.fixture
def detach_errors(caplog):
    """The errors OpenTelemetry logs when a Context token is detached in the wrong task or thread."""
    caplog.set_level(logging.ERROR, logger="opentelemetry.context")
    return lambda: [r for r in caplog.records if "detach" in r.getMessage()]


def texts(span, key: str) -> list[str]:
    return [part["content"] for message in json.loads(span.attributes[key]) for part in message["parts"]]


def test_a_step_entered_by_two_tasks_at_once_ends_each_tasks_own_span(tel, detach_errors):
    fetch = llmtel.step("fetch")
    seen: dict[str, trace.Span] = {}

    async def job(name: str, signal: asyncio.Event, wait: asyncio.Event) -> None:
        async with fetch:
            seen[name] = trace.get_current_span()
            signal.set()
            await wait.wait()
            app_log.warning(name)
        assert seen[name].end_time is not None  # this task's own span ended as it left the block

    async def main() -> None:
        first_inside, second_inside, first_done = asyncio.Event(), asyncio.Event(), asyncio.Event()
        first = asyncio.create_task(job("first", first_inside, second_inside))  # leaves once the second is in
        await first_inside.wait()
        second = asyncio.create_task(job("second", second_inside, first_done))
        await first
        assert seen["second"].end_time is None  # still inside: the first task's exit left it alone
        first_done.set()
        await second

    asyncio.run(main())
    steps = [s for s in tel.span_list() if s.name == "step fetch"]
    assert len(steps) == 2 and seen["first"] is not seen["second"]
    by_body = {r.body: r for r in tel.logs() if r.body in ("first", "second")}
    for name in ("first", "second"):
        assert by_body[name].span_id == seen[name].get_span_context().span_id
    assert detach_errors() == []


def test_a_step_entered_by_two_threads_at_once_ends_each_threads_own_span(tel, detach_errors):
    fetch = llmtel.step("fetch")
    a_inside, a_left = threading.Event(), threading.Event()
    spans: dict[str, trace.Span] = {}
    still_open: list[bool] = []

    def a() -> None:
        with fetch:
            spans["a"] = trace.get_current_span()
            a_inside.set()
            a_left.wait(5)
        still_open.append(spans["a"].end_time is None)

    def b() -> None:
        a_inside.wait(5)
        with fetch:
            spans["b"] = trace.get_current_span()
            a_left.set()
            thread_a.join(5)  # a has left its block; this one is still open
            still_open.append(spans["b"].end_time is None)

    thread_a, thread_b = threading.Thread(target=a), threading.Thread(target=b)
    thread_a.start(), thread_b.start()
    thread_a.join(5), thread_b.join(5)
    assert still_open == [False, True]  # a's exit ended a's span, not b's
    assert spans["a"].end_time is not None and spans["b"].end_time is not None
    assert detach_errors() == []


def test_one_agent_object_in_two_tasks_records_each_invocations_own_input_and_output(tel, detach_errors,
                                                                                      monkeypatch):
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    use_policy(ContentPolicy(mode=CaptureMode.SPAN_ONLY))
    worker = llmtel.agent("worker")

    async def ask(i: int, delay: float) -> None:
        async with worker as invocation:
            invocation.set_input(f"question {i}")
            await asyncio.sleep(delay)
            invocation.set_output(f"answer {i}")

    async def main() -> None:
        await asyncio.gather(ask(1, 0.01), ask(2, 0.05))

    try:
        asyncio.run(main())
        with worker as alone:  # one invocation open: a thread started without the Context still reaches it
            thread = threading.Thread(target=alone.set_output, args=("from a thread",))
            thread.start()
            thread.join(5)
    finally:
        use_policy(None)
    agents = [s for s in tel.span_list() if s.name == "invoke_agent worker"]
    assert len(agents) == 3
    pairs = sorted((texts(s, sc.GEN_AI_INPUT_MESSAGES)[0], texts(s, sc.GEN_AI_OUTPUT_MESSAGES)[0])
                   for s in agents[:2])
    assert pairs == [("question 1", "answer 1"), ("question 2", "answer 2")]
    assert texts(agents[2], sc.GEN_AI_OUTPUT_MESSAGES) == ["from a thread"]
    assert detach_errors() == []
    with pytest.raises(RuntimeError, match="inside the agent's `with` block"):
        worker.set_output("after the block")


def test_one_tool_object_in_two_threads_records_each_runs_own_result(tel, monkeypatch):
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    use_policy(ContentPolicy(mode=CaptureMode.SPAN_ONLY))
    search = llmtel.tool("search")
    first_in, second_in, first_set, first_out = (threading.Event() for _ in range(4))
    span_of: dict[int, int] = {}  # thread's number -> the span it ran in

    def first() -> None:
        with search as current:
            span_of[1] = trace.get_current_span().get_span_context().span_id
            first_in.set()
            second_in.wait(5)
            current.set_result("result 1")  # the second thread entered last: this must not reach its run
            first_set.set()
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with search as current:
            span_of[2] = trace.get_current_span().get_span_context().span_id
            second_in.set()
            first_set.wait(5)
            current.set_result("result 2")
            first_out.wait(5)  # the first run ends while this one is open

    try:
        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
    finally:
        use_policy(None)
    results = {s.context.span_id: s.attributes.get(sc.GEN_AI_TOOL_CALL_RESULT)
               for s in tel.span_list() if s.name == "execute_tool search"}
    assert results == {span_of[1]: '"result 1"', span_of[2]: '"result 2"'}


def test_re_entry_inside_itself_still_nests_while_another_task_holds_the_same_step(tel, detach_errors):
    retrieve = llmtel.step("retrieve")
    spans: dict[str, trace.Span] = {}

    async def nested(inner_entered: asyncio.Event, other_inside: asyncio.Event) -> None:
        async with retrieve:
            spans["outer"] = trace.get_current_span()
            async with retrieve:
                spans["inner"] = trace.get_current_span()
                inner_entered.set()
                await other_inside.wait()  # the other task entered after this one: its entry is the latest
            assert spans["inner"].end_time is not None and spans["outer"].end_time is None
            assert spans["other"].end_time is None
            assert trace.get_current_span() is spans["outer"]
        assert spans["outer"].end_time is not None

    async def other(inner_entered: asyncio.Event, inside: asyncio.Event, leave: asyncio.Event) -> None:
        await inner_entered.wait()
        async with retrieve:
            spans["other"] = trace.get_current_span()
            inside.set()
            await leave.wait()
        assert spans["other"].end_time is not None

    async def main() -> None:
        inner_entered, other_inside = asyncio.Event(), asyncio.Event()
        leave = asyncio.Event()
        holder = asyncio.create_task(other(inner_entered, other_inside, leave))
        await nested(inner_entered, other_inside)
        leave.set()
        await holder

    asyncio.run(main())
    assert spans["inner"].parent.span_id == spans["outer"].get_span_context().span_id
    assert spans["other"].parent is None
    assert len([s for s in tel.span_list() if s.name == "step retrieve"]) == 3
    assert detach_errors() == []
