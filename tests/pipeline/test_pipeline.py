"""``llmtel.run`` / ``llmtel.step`` and the pipeline span processor, in-process."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import threading

import pytest
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.trace import SpanKind, StatusCode

import llmtel
from llmtel import pipeline

RUN_KEYS = ("llmtel.run.id", "session.id", "user.id")
app_log = logging.getLogger("tests.pipeline.app")


def run_values(span) -> tuple:
    return tuple(span.attributes.get(k) for k in RUN_KEYS)


def test_run_as_context_manager_generates_an_id_and_marks_every_span_inside(tel):
    with tel.tracer.start_as_current_span("before"):
        pass
    with llmtel.run("ingest", session_id="s-1", user_id="u-1", tenant="acme") as r:
        assert re.fullmatch(r"[0-9a-f]{32}", r.run_id)
        assert pipeline.current_run() is r
        with tel.tracer.start_as_current_span("outer"):
            with tel.tracer.start_as_current_span("inner"):
                pass
    with tel.tracer.start_as_current_span("after"):
        pass
    assert pipeline.current_run() is None

    spans = tel.spans()
    root = spans["ingest"]
    assert root.kind == SpanKind.INTERNAL and root.parent is None
    assert root.attributes["llmtel.run.name"] == "ingest"
    assert "gen_ai.conversation.id" not in root.attributes  # never fabricated
    for name in ("ingest", "outer", "inner"):
        assert run_values(spans[name]) == (r.run_id, "s-1", "u-1"), name
        assert spans[name].attributes["tenant"] == "acme"
        assert spans[name].context.trace_id == root.context.trace_id
    assert spans["outer"].parent.span_id == root.context.span_id
    for name in ("before", "after"):
        assert run_values(spans[name]) == (None, None, None)
        assert "tenant" not in spans[name].attributes


def test_given_run_id_and_conversation_id_are_used(tel):
    with llmtel.run("chat", run_id="run-7", conversation_id="conv-1") as r:
        with tel.tracer.start_as_current_span("llm"):
            pass
    assert r.run_id == "run-7"
    spans = tel.spans()
    for name in ("chat", "llm"):
        assert spans[name].attributes["llmtel.run.id"] == "run-7"
        assert spans[name].attributes["gen_ai.conversation.id"] == "conv-1"
        assert "session.id" not in spans[name].attributes


def test_run_as_sync_decorator_gives_each_call_a_new_run(tel):
    seen = []

    @llmtel.run("job", user_id="u-2")
    def job(x):
        seen.append(pipeline.current_run().run_id)
        with tel.tracer.start_as_current_span("work"):
            return x * 2

    assert job(2) == 4 and job(3) == 6
    assert len(set(seen)) == 2
    work = [s for s in tel.span_list() if s.name == "work"]
    assert [s.attributes["llmtel.run.id"] for s in work] == seen
    assert all(s.attributes["user.id"] == "u-2" for s in work)


def test_run_as_async_decorator_and_asyncio_tasks_inherit_it(tel):
    @llmtel.run("async-job", session_id="s-9")
    async def job():
        async def child():
            await asyncio.sleep(0)
            with tel.tracer.start_as_current_span("in-task"):
                pass

        await asyncio.gather(asyncio.create_task(child()), asyncio.create_task(child()))
        return pipeline.current_run().run_id

    run_id = asyncio.run(job())
    spans = [s for s in tel.span_list() if s.name == "in-task"]
    assert len(spans) == 2
    root = tel.spans()["async-job"]
    for span in spans:
        assert span.attributes["llmtel.run.id"] == run_id
        assert span.attributes["session.id"] == "s-9"
        assert span.context.trace_id == root.context.trace_id


def test_thread_started_with_copied_context_sees_run_and_step(tel):
    def work():
        with tel.tracer.start_as_current_span("in-thread"):
            pass

    with llmtel.run("threaded", user_id="u-3") as r, llmtel.step("fan-out"):
        copied = threading.Thread(target=contextvars.copy_context().run, args=(work,))
        copied.start()
        copied.join()
        plain = threading.Thread(target=work)  # without the copy: a fresh context, no run
        plain.start()
        plain.join()
    in_thread = [s for s in tel.span_list() if s.name == "in-thread"]
    assert len(in_thread) == 2
    with_ctx = [s for s in in_thread if s.parent is not None]
    without = [s for s in in_thread if s.parent is None]
    assert len(with_ctx) == 1 and len(without) == 1
    assert run_values(with_ctx[0]) == (r.run_id, None, "u-3")
    assert with_ctx[0].attributes["llmtel.step"] == "fan-out"
    assert run_values(without[0]) == (None, None, None)
    assert "llmtel.step" not in without[0].attributes


def test_steps_nest_and_log_start_and_finish(tel):
    with llmtel.run("pipe", session_id="s-1") as r:
        with llmtel.step("retrieve"):
            assert pipeline.current_step() == "retrieve"
            with llmtel.step("embed"):
                assert pipeline.current_step() == "embed"
                with tel.tracer.start_as_current_span("llm-call"):
                    app_log.info("calling model")
            assert pipeline.current_step() == "retrieve"
    assert pipeline.current_step() is None

    spans = tel.spans()
    retrieve, embed, call = spans["step retrieve"], spans["step embed"], spans["llm-call"]
    assert retrieve.kind == SpanKind.INTERNAL
    assert retrieve.parent.span_id == spans["pipe"].context.span_id
    assert embed.parent.span_id == retrieve.context.span_id
    assert (retrieve.attributes["llmtel.step"], embed.attributes["llmtel.step"]) == ("retrieve", "embed")
    assert call.attributes["llmtel.step"] == "embed" and call.attributes["llmtel.run.id"] == r.run_id
    assert "llmtel.step" not in spans["pipe"].attributes
    assert retrieve.status.status_code == StatusCode.UNSET

    logs = tel.logs()
    pipeline_logs = [(rec.body, rec.attributes["llmtel.step"]) for rec in logs if rec.body.startswith("step")]
    assert pipeline_logs == [
        ("step started", "retrieve"),
        ("step started", "embed"),
        ("step finished", "embed"),
        ("step finished", "retrieve"),
    ]
    for rec in logs:
        assert rec.attributes["llmtel.run.id"] == r.run_id and rec.attributes["session.id"] == "s-1"
        # the stamped string ids are not exported as payload: the record carries the real ids
        assert not {"trace_id", "span_id", "trace_flags", "run_id", "step"} & set(rec.attributes)
    finished = [rec for rec in logs if rec.body == "step finished"]
    assert all(rec.attributes["outcome"] == "ok" and rec.attributes["duration_ms"] >= 0 for rec in finished)
    assert all(rec.severity_text == "INFO" for rec in finished)
    # the log lines carry the span they were written in
    (model_log,) = [rec for rec in logs if rec.body == "calling model"]
    assert model_log.span_id == call.context.span_id and model_log.attributes["llmtel.step"] == "embed"
    (embed_start,) = [rec for rec in logs if rec.body == "step started" and rec.attributes["llmtel.step"] == "embed"]
    assert embed_start.span_id == embed.context.span_id


def test_failing_step_marks_error_and_logs_outcome_error(tel):
    with pytest.raises(ValueError, match="bad chunk"):
        with llmtel.run("pipe"):
            with llmtel.step("parse"):
                raise ValueError("bad chunk")
    spans = tel.spans()
    for name in ("step parse", "pipe"):
        assert spans[name].status.status_code == StatusCode.ERROR, name
        assert [e.name for e in spans[name].events] == ["exception"]
    (finished,) = [rec for rec in tel.logs() if rec.body == "step finished"]
    assert finished.severity_text == "ERROR"
    assert finished.attributes["outcome"] == "error"
    assert finished.attributes["exception.type"] == "ValueError"
    assert "bad chunk" in finished.attributes["exception.message"]
    assert otel_context.get_value(pipeline._STATE_KEY) is None  # detached despite the error


def test_a_failed_steps_span_has_its_error_text_masked_as_a_logged_exceptions(tel):
    key = "sk-pipeline-test-0123456789abcdef"
    with pytest.raises(LookupError):
        with llmtel.run("pipe"), llmtel.step("lookup"):
            raise LookupError(f"no account for dana@example.org with {key}")
    span = tel.spans()["step lookup"]  # as recorded, before any exporter sees it
    masked = "no account for [REDACTED:email] with [REDACTED:api_key]"
    assert span.status.description == f"LookupError: {masked}"
    [event] = span.events
    assert event.attributes["exception.message"] == masked
    assert event.attributes["exception.type"] == "LookupError"
    assert key not in event.attributes["exception.stacktrace"]
    assert "[REDACTED:email]" in event.attributes["exception.stacktrace"]


def test_step_decorates_sync_and_async_functions(tel):
    @llmtel.step("double")
    def double(x):
        return x * 2, pipeline.current_step()

    @llmtel.step("adouble")
    async def adouble(x):
        await asyncio.sleep(0)
        return x * 2, pipeline.current_step()

    with llmtel.run("pipe"):
        assert double(2) == (4, "double")
        assert asyncio.run(adouble(3)) == (6, "adouble")
    assert {"step double", "step adouble"} <= set(tel.spans())


def test_generator_step_spans_the_whole_iteration_without_leaking_context(tel):
    @llmtel.step("stream")
    def chunks(n):
        for i in range(n):
            with tel.tracer.start_as_current_span(f"chunk-{i}"):
                pass
            yield i, pipeline.current_step()

    with llmtel.run("pipe"):
        gen = chunks(3)
        assert "step stream" not in tel.spans()  # nothing starts before the first next()
        seen = []
        for item in gen:
            seen.append(item)
            assert pipeline.current_step() is None  # the consumer is not inside the step
    assert seen == [(0, "stream"), (1, "stream"), (2, "stream")]
    spans = tel.spans()
    step_span = spans["step stream"]
    for i in range(3):
        assert spans[f"chunk-{i}"].parent.span_id == step_span.context.span_id
        assert spans[f"chunk-{i}"].attributes["llmtel.step"] == "stream"
    assert max(spans[f"chunk-{i}"].end_time for i in range(3)) <= step_span.end_time
    finished = [rec for rec in tel.logs() if rec.body == "step finished"]
    assert [rec.attributes["outcome"] for rec in finished] == ["ok"]


def test_generator_step_closed_early_and_failing(tel):
    @llmtel.step("gen")
    def gen(fail):
        yield 1
        if fail:
            raise RuntimeError("broken stream")
        yield 2

    with llmtel.run("pipe"):
        g = gen(False)
        assert next(g) == 1
        g.close()
        with pytest.raises(RuntimeError):
            list(gen(True))
    steps = [s for s in tel.span_list() if s.name == "step gen"]
    assert [s.status.status_code for s in steps] == [StatusCode.UNSET, StatusCode.ERROR]
    outcomes = [rec.attributes["outcome"] for rec in tel.logs() if rec.body == "step finished"]
    assert outcomes == ["ok", "error"]


def test_async_generator_step(tel):
    @llmtel.step("astream")
    async def chunks():
        for i in range(2):
            await asyncio.sleep(0)
            yield pipeline.current_step()

    async def consume():
        with llmtel.run("pipe"):
            out = []
            async for item in chunks():
                out.append((item, pipeline.current_step()))
            return out

    assert asyncio.run(consume()) == [("astream", None), ("astream", None)]
    assert tel.spans()["step astream"].parent is not None


def test_generator_run_spans_the_whole_iteration_and_each_call_is_a_new_run(tel):
    @llmtel.run("stream-job", user_id="u-5")
    def chunks(n):
        for i in range(n):
            with tel.tracer.start_as_current_span(f"chunk-{i}"):
                app_log.info("producing chunk")
            yield pipeline.current_run().run_id

    gen = chunks(2)
    assert tel.span_list() == []  # nothing starts before the first next()
    seen = []
    for run_id in gen:
        seen.append(run_id)
        assert pipeline.current_run() is None  # the consumer is not inside the run
        assert otel_context.get_value(pipeline._STATE_KEY) is None
        app_log.info("consuming chunk")
    assert len(set(seen)) == 1 and re.fullmatch(r"[0-9a-f]{32}", seen[0])
    spans = tel.spans()
    root = spans["stream-job"]
    assert root.parent is None and root.attributes["llmtel.run.id"] == seen[0]
    for i in range(2):
        assert spans[f"chunk-{i}"].parent.span_id == root.context.span_id
        assert run_values(spans[f"chunk-{i}"]) == (seen[0], None, "u-5")
    assert max(spans[f"chunk-{i}"].end_time for i in range(2)) <= root.end_time
    produced = [rec for rec in tel.logs() if rec.body == "producing chunk"]
    consumed = [rec for rec in tel.logs() if rec.body == "consuming chunk"]
    assert [rec.attributes["llmtel.run.id"] for rec in produced] == seen
    assert all("llmtel.run.id" not in rec.attributes for rec in consumed) and len(consumed) == 2

    again = list(chunks(1))  # a second call: a new run with a new id
    assert again[0] != seen[0]
    assert [s.attributes["llmtel.run.id"] for s in tel.span_list() if s.name == "stream-job"] == [seen[0], again[0]]


def test_generator_run_with_a_given_run_id_and_a_generator_step_inside(tel):
    @llmtel.step("stream")
    def inner():
        yield pipeline.current_run().run_id, pipeline.current_step()

    @llmtel.run("job", run_id="run-9")
    def outer():
        yield from inner()

    assert list(outer()) == [("run-9", "stream")]
    assert list(outer()) == [("run-9", "stream")]
    spans = tel.span_list()
    roots = [s for s in spans if s.name == "job"]
    steps = [s for s in spans if s.name == "step stream"]
    assert len(roots) == len(steps) == 2
    for root, step_span in zip(roots, steps):
        assert step_span.parent.span_id == root.context.span_id
        assert step_span.attributes["llmtel.run.id"] == "run-9"


def test_generator_run_closed_early_and_failing(tel):
    @llmtel.run("gen-job")
    def gen(fail):
        yield 1
        if fail:
            raise RuntimeError("broken stream")
        yield 2

    g = gen(False)
    assert next(g) == 1
    g.close()
    assert [s.name for s in tel.span_list()] == ["gen-job"]  # ended at close, not later
    with pytest.raises(RuntimeError):
        list(gen(True))
    runs = [s for s in tel.span_list() if s.name == "gen-job"]
    assert [s.status.status_code for s in runs] == [StatusCode.UNSET, StatusCode.ERROR]
    assert [e.name for e in runs[1].events] == ["exception"]
    assert runs[1].attributes["error.type"] == "RuntimeError"
    assert otel_context.get_value(pipeline._STATE_KEY) is None  # detached despite the error


def test_async_generator_run(tel):
    @llmtel.run("astream-job", session_id="s-4")
    async def chunks():
        for _ in range(2):
            await asyncio.sleep(0)
            with tel.tracer.start_as_current_span("achunk"):
                app_log.info("producing chunk")
            yield pipeline.current_run().run_id

    async def consume():
        out = []
        async for run_id in chunks():
            out.append((run_id, pipeline.current_run()))
        return out

    first, second = asyncio.run(consume()), asyncio.run(consume())
    assert [r for _, r in first + second] == [None] * 4  # the consumer is not inside the run
    assert len({run_id for run_id, _ in first}) == 1 and first[0][0] != second[0][0]
    roots = [s for s in tel.span_list() if s.name == "astream-job"]
    assert [s.attributes["llmtel.run.id"] for s in roots] == [first[0][0], second[0][0]]
    for span in (s for s in tel.span_list() if s.name == "achunk"):
        assert span.parent.span_id in {r.context.span_id for r in roots}
        assert span.attributes["session.id"] == "s-4"
    produced = [rec for rec in tel.logs() if rec.body == "producing chunk"]
    assert [rec.attributes["llmtel.run.id"] for rec in produced] == [run_id for run_id, _ in first + second]


def test_only_the_run_id_travels_in_baggage_by_default(tel):
    carrier: dict[str, str] = {}
    with llmtel.run("pipe", session_id="s-1", user_id="u-1") as r:
        W3CBaggagePropagator().inject(carrier)
    assert carrier["baggage"] == f"llmtel.run.id={r.run_id}"  # no personal identifiers to third parties


def test_run_id_travels_in_w3c_baggage(tel):
    carrier: dict[str, str] = {}
    with llmtel.run("pipe", session_id="s 1", user_id="u-1", propagate_identity=True) as r:
        W3CBaggagePropagator().inject(carrier)
    header = carrier["baggage"]
    assert f"llmtel.run.id={r.run_id}" in header
    assert "user.id=u-1" in header and "session.id=" in header
    # the receiving side gets the values back with the stock propagator
    assert baggage.get_all(W3CBaggagePropagator().extract(carrier)) == {
        "llmtel.run.id": r.run_id,
        "session.id": "s 1",
        "user.id": "u-1",
    }
    assert baggage.get_all() == {}  # gone once the run ended


def test_receiving_side_copies_run_values_from_baggage(tel):
    carrier = {"baggage": "llmtel.run.id=remote-run,session.id=s-2,other=x"}
    ctx = W3CBaggagePropagator().extract(carrier)
    token = otel_context.attach(ctx)
    try:
        with tel.tracer.start_as_current_span("server"):
            pass
    finally:
        otel_context.detach(token)
    span = tel.spans()["server"]
    assert run_values(span) == ("remote-run", "s-2", None)
    assert "other" not in span.attributes


def test_processor_is_cheap_prebuilt_dict_shared(tel):
    with llmtel.run("pipe", user_id="u") as r:
        state = otel_context.get_value(pipeline._STATE_KEY)
        assert state.span_attributes is r.span_attributes  # built once at entry, not per span
        with tel.tracer.start_as_current_span("a"):
            pass
    assert trace.get_current_span() is trace.INVALID_SPAN
