"""How runs and steps are named and used as decorators (bare, called, misused), and how a ``with`` block inside
a generator its consumer abandons ends."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest
from opentelemetry.trace import StatusCode

import llmtel
from llmtel import pipeline


def test_bare_step_and_run_decorators_name_the_scope_after_the_function(tel):
    @llmtel.step
    def retrieve(question: str) -> str:
        assert pipeline.current_step() == "retrieve"
        return f"docs for {question}"

    @llmtel.step
    async def rerank(docs: str) -> str:
        return docs.upper()

    @llmtel.step
    def tokens():
        yield from ("a", "b")

    @llmtel.run
    def answer(question: str) -> str:
        run = pipeline.current_run()
        assert run is not None and run.name == "answer"
        return asyncio.run(rerank(retrieve(question))) + "".join(tokens())

    assert answer("q") == "DOCS FOR Qab"
    assert answer("r") == "DOCS FOR Rab"
    spans = tel.span_list()
    runs = [s for s in spans if s.name == "answer"]
    assert len(runs) == 2 and runs[0].attributes["llmtel.run.id"] != runs[1].attributes["llmtel.run.id"]
    for name in ("step retrieve", "step rerank", "step tokens"):
        steps = [s for s in spans if s.name == name]
        assert len(steps) == 2, name
        assert {s.parent.span_id for s in steps} == {r.context.span_id for r in runs}, name


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: llmtel.run(None), TypeError, r"llmtel.run: name must be a string, got None"),
        (lambda: llmtel.run(123), TypeError, r"llmtel.run: name must be a string, got 123"),
        (lambda: llmtel.run(""), ValueError, "llmtel.run: name must not be empty"),
        (lambda: llmtel.run("  "), ValueError, "llmtel.run: name must not be empty"),
        (lambda: llmtel.step(None), TypeError, r"llmtel.step: name must be a string, got None"),
        (lambda: llmtel.step(b"fetch"), TypeError, r"llmtel.step: name must be a string"),
        (lambda: llmtel.step(""), ValueError, "llmtel.step: name must not be empty"),
        (lambda: llmtel.continue_run({}, ""), ValueError, "llmtel.run: name must not be empty"),
        (lambda: llmtel.step("fetch")(42), TypeError, "llmtel.step: decorates a function, got 42"),
        (lambda: llmtel.run("ingest")("not a function"), TypeError, "llmtel.run: decorates a function"),
    ],
)
def test_bad_names_and_decorated_non_functions_get_a_clear_error_and_no_span(tel, caplog, make, error, message):
    caplog.set_level(logging.WARNING, logger="llmtel.pipeline")
    with pytest.raises(error, match=message):
        make()
    assert tel.span_list() == []
    assert caplog.records == []


def test_with_blocks_in_a_generator_its_consumer_abandons_end_ok_as_decorated_ones_do(tel):
    def stream_answer(tokens):
        with llmtel.run("stream-run"):
            with llmtel.step("stream"):
                yield from tokens

    stream = stream_answer(["a", "b", "c"])
    assert next(stream) == "a"
    stream.close()  # the consumer had enough (a client disconnected)
    failing = stream_answer(["a", "b"])
    next(failing)
    with pytest.raises(KeyError):
        failing.throw(KeyError("boom"))  # anything else thrown in is still a failure
    del stream, failing
    gc.collect()

    runs = [s for s in tel.span_list() if s.name == "stream-run"]
    steps = [s for s in tel.span_list() if s.name == "step stream"]
    assert [s.status.status_code for s in runs] == [StatusCode.UNSET, StatusCode.ERROR]
    assert [s.status.status_code for s in steps] == [StatusCode.UNSET, StatusCode.ERROR]
    assert "error.type" not in runs[0].attributes and "error.type" not in steps[0].attributes
    assert steps[1].attributes["error.type"] == "KeyError"
    finished = [(r.attributes["outcome"], r.severity_text) for r in tel.logs() if r.body == "step finished"]
    assert finished == [("ok", "INFO"), ("error", "ERROR")]
