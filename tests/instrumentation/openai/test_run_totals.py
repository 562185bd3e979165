"""A run's span sums up the LLM calls made inside it: real openai calls against the fake server."""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor

import pytest

import llmtel
from llmtel import semconv as sc
from llmtel.testing import ChatReply, EmbeddingsReply, ErrorReply, Usage

openai = pytest.importorskip("openai")

PRICED = ChatReply(model="gpt-4o-mini-2024-07-18", usage=Usage(prompt=1000, completion=200, cached=600))


def test_the_runs_span_carries_the_sums_of_its_calls(pipelines, fake, client):
    fake.enqueue(PRICED)
    fake.enqueue(EmbeddingsReply(usage=Usage(prompt=40)))
    fake.enqueue(ChatReply(model="gpt-4o-mini-2024-07-18", usage=Usage(prompt=300, completion=20)))
    messages = [{"role": "user", "content": "hi"}]
    with llmtel.run("answer"):
        with llmtel.step("plan"):
            client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        client.embeddings.create(model="text-embedding-3-small", input="hi")
        for _ in client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True,
                                                stream_options={"include_usage": True}):
            pass
    calls = pipelines.llm_spans()
    assert len(calls) == 3
    run = pipelines.span_named("answer").attributes
    assert run[sc.LLMTEL_RUN_LLM_CALLS] == 3
    assert run[sc.LLMTEL_RUN_INPUT_TOKENS] == 1000 + 40 + 300
    assert run[sc.LLMTEL_RUN_OUTPUT_TOKENS] == 200 + 20  # embeddings report no output tokens
    assert run[sc.LLMTEL_RUN_COST_USD] == pytest.approx(sum(s.attributes[sc.LLMTEL_COST_USD] for s in calls))
    assert run[sc.LLMTEL_RUN_COST_STATUS] == "priced"
    for span in (*calls, pipelines.span_named("step plan")):  # the totals are the run's span's alone
        assert not any(key.startswith("llmtel.run.usage") or key.startswith("llmtel.run.cost")
                       for key in span.attributes)


def test_an_unpriced_call_makes_the_sum_a_lower_bound(pipelines, fake, client):
    fake.enqueue(PRICED)
    fake.enqueue(ChatReply(model="house-model-7b", usage=Usage(prompt=50, completion=5)))
    with llmtel.run("answer"):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "a"}])
        client.chat.completions.create(model="house-model-7b", messages=[{"role": "user", "content": "b"}])
    priced = next(s for s in pipelines.llm_spans() if s.attributes[sc.LLMTEL_COST_STATUS] == "priced")
    run = pipelines.span_named("answer").attributes
    assert run[sc.LLMTEL_RUN_COST_USD] == pytest.approx(priced.attributes[sc.LLMTEL_COST_USD])
    assert run[sc.LLMTEL_RUN_COST_STATUS] == "partially_priced"
    assert run[sc.LLMTEL_RUN_INPUT_TOKENS] == 1050


def test_a_failed_call_is_counted_and_costs_nothing(pipelines, fake, client):
    fake.enqueue(ErrorReply.rate_limited())
    fake.enqueue(PRICED)
    with llmtel.run("answer"):
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "a"}])
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "a"}])
    run = pipelines.span_named("answer").attributes
    assert run[sc.LLMTEL_RUN_LLM_CALLS] == 2
    assert run[sc.LLMTEL_RUN_COST_STATUS] == "priced"  # a refused call is not billed: the sum is whole
    assert run[sc.LLMTEL_RUN_INPUT_TOKENS] == 1000


def test_a_stream_still_open_when_the_run_ends_is_counted_but_not_summed(pipelines, fake, client):
    with llmtel.run("answer"):
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "a"}],
                                                stream=True, stream_options={"include_usage": True})
    list(stream)  # read after the run ended
    run = pipelines.span_named("answer").attributes
    assert run[sc.LLMTEL_RUN_LLM_CALLS] == 1
    assert run[sc.LLMTEL_RUN_COST_STATUS] == "unpriced"
    assert sc.LLMTEL_RUN_COST_USD not in run and sc.LLMTEL_RUN_INPUT_TOKENS not in run
    assert pipelines.one_llm_span().attributes[sc.LLMTEL_STREAM_END] == "completed"


def test_nested_runs_each_sum_what_they_hold_and_threads_count(pipelines, fake, client):
    fake.enqueue(PRICED, times=3)
    messages = [{"role": "user", "content": "a"}]
    with llmtel.run("outer"):
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        with llmtel.run("inner"):
            with ThreadPoolExecutor(max_workers=2) as pool:
                futures = [pool.submit(contextvars.copy_context().run, client.chat.completions.create,
                                       model="gpt-4o-mini", messages=messages) for _ in range(2)]
                for future in futures:
                    future.result()
    outer, inner = pipelines.span_named("outer").attributes, pipelines.span_named("inner").attributes
    assert (outer[sc.LLMTEL_RUN_LLM_CALLS], inner[sc.LLMTEL_RUN_LLM_CALLS]) == (3, 2)
    assert (outer[sc.LLMTEL_RUN_INPUT_TOKENS], inner[sc.LLMTEL_RUN_INPUT_TOKENS]) == (3000, 2000)
    assert outer[sc.LLMTEL_RUN_COST_USD] == pytest.approx(1.5 * inner[sc.LLMTEL_RUN_COST_USD])


def test_a_run_entered_again_inside_itself_sums_each_entry_on_its_own_span(pipelines, fake, client):
    fake.enqueue(PRICED, times=2)
    again = llmtel.run("again")
    with again:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "a"}])
        with again:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "a"}])
    inner, outer = (s.attributes[sc.LLMTEL_RUN_LLM_CALLS] for s in pipelines.spans() if s.name == "again")
    assert (inner, outer) == (1, 2)


def test_a_run_without_calls_has_no_totals(pipelines):
    with llmtel.run("quiet"):
        pass
    assert not [key for key in pipelines.span_named("quiet").attributes if key.startswith("llmtel.run.") and
                key not in (sc.LLMTEL_RUN_ID, sc.LLMTEL_RUN_NAME)]


def test_each_run_records_its_duration_and_cost_by_name_with_an_exemplar_of_its_trace(pipelines, fake, client):
    fake.enqueue(PRICED, times=2)
    for _ in range(2):
        with llmtel.run("answer"):
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "a"}])
    with pytest.raises(ValueError), llmtel.run("answer"):
        raise ValueError("no question")
    durations = {tuple(sorted(p.attributes.items())): p for p in pipelines.metric_points(sc.METRIC_RUN_DURATION)}
    ok, failed = durations[((sc.LLMTEL_RUN_NAME, "answer"),)], durations[
        ((sc.ERROR_TYPE, "ValueError"), (sc.LLMTEL_RUN_NAME, "answer"))]
    runs = [s for s in pipelines.spans() if s.name == "answer"]
    assert (ok.count, failed.count) == (2, 1)
    assert ok.sum == pytest.approx(sum((s.end_time - s.start_time) / 1e9 for s in runs[:2]), rel=0.2, abs=0.002)
    assert {e.trace_id for e in ok.exemplars} <= {s.context.trace_id for s in runs[:2]} and ok.exemplars
    (cost,) = pipelines.metric_points(sc.METRIC_RUN_COST)  # the failed run had no calls: no cost point
    assert dict(cost.attributes) == {sc.LLMTEL_RUN_NAME: "answer", sc.LLMTEL_RUN_COST_STATUS: "priced"}
    assert cost.count == 2
    assert cost.sum == pytest.approx(sum(s.attributes[sc.LLMTEL_RUN_COST_USD] for s in runs[:2]))
    assert tuple(cost.explicit_bounds) == sc.RUN_COST_BUCKETS
    assert tuple(ok.explicit_bounds) == sc.RUN_DURATION_BUCKETS


def test_a_run_without_priced_calls_records_its_duration_but_no_cost(pipelines, fake, client):
    fake.enqueue(ChatReply(model="house-model-7b", usage=Usage(prompt=50, completion=5)))
    with llmtel.run("answer"):
        client.chat.completions.create(model="house-model-7b", messages=[{"role": "user", "content": "b"}])
    assert [p.count for p in pipelines.metric_points(sc.METRIC_RUN_DURATION)] == [1]
    assert pipelines.metric_points(sc.METRIC_RUN_COST) == []


def test_a_run_started_here_is_a_genai_workflow_on_its_span_and_in_the_workflow_duration(pipelines, fake, client):
    fake.enqueue(PRICED)
    with llmtel.run("answer"):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "a"}])
        headers = llmtel.inject_headers()
    with pytest.raises(ValueError), llmtel.run("answer"):
        raise ValueError("no question")
    with llmtel.continue_run(headers, "serve"):  # a run continued from a caller is part of the caller's workflow
        pass
    started = [s for s in pipelines.spans() if s.name == "answer"]
    assert all(s.attributes[sc.GEN_AI_OPERATION_NAME] == sc.OP_INVOKE_WORKFLOW for s in started)
    assert all(s.attributes[sc.GEN_AI_WORKFLOW_NAME] == "answer" for s in started)
    served = pipelines.span_named("serve").attributes
    assert sc.GEN_AI_OPERATION_NAME not in served and sc.GEN_AI_WORKFLOW_NAME not in served
    call = pipelines.one_llm_span().attributes  # the workflow's attributes stay on its own span
    assert call[sc.GEN_AI_OPERATION_NAME] == "chat" and sc.GEN_AI_WORKFLOW_NAME not in call
    points = {tuple(sorted(p.attributes.items())): p
              for p in pipelines.metric_points(sc.METRIC_INVOKE_WORKFLOW_DURATION)}
    assert set(points) == {((sc.GEN_AI_WORKFLOW_NAME, "answer"),),
                           ((sc.ERROR_TYPE, "ValueError"), (sc.GEN_AI_WORKFLOW_NAME, "answer"))}
    ok = points[((sc.GEN_AI_WORKFLOW_NAME, "answer"),)]
    assert ok.count == 1
    assert ok.sum == pytest.approx((started[0].end_time - started[0].start_time) / 1e9, rel=0.2, abs=0.002)
    assert tuple(ok.explicit_bounds) == sc.WORKFLOW_DURATION_BUCKETS
    runs = {dict(p.attributes)[sc.LLMTEL_RUN_NAME] for p in pipelines.metric_points(sc.METRIC_RUN_DURATION)}
    assert runs == {"answer", "serve"}  # llmtel's own run duration keeps counting continued runs
