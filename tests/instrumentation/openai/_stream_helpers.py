"""Shared helpers of the OpenAI stream tests: open-span tracking, context-detach guard, span checks."""

from __future__ import annotations

import gc
import logging
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.trace import StatusCode

from llmtel import semconv as sc
from llmtel.testing import FakeOpenAI

openai = pytest.importorskip("openai")

MESSAGES = [{"role": "user", "content": "say three words"}]
CHAT_MODEL = "gpt-4o-mini"
LEGACY_MODEL = "gpt-3.5-turbo-instruct"


@pytest.fixture(scope="module", autouse=True)
def frozen_heap() -> Iterator[None]:
    """Unfreezes, after the module, what `frozen` froze."""
    yield
    gc.unfreeze()


@pytest.fixture(autouse=True)
def frozen(frozen_heap: None) -> None:
    """Keep what exists before each test (the SDK's thousands of classes and schemas) out of the cycle
    collector: the ``gc.collect()`` calls of the stream tests and of the ``instrument`` fixture then cost
    milliseconds, not ~50 ms each. Whatever the test makes is still collected; all is unfrozen after the
    module (earlier garbage was already collected by the previous test's ``instrument`` teardown)."""
    gc.freeze()


def collect_garbage() -> None:
    """Collect the streams the test dropped and wait until their spans have ended (the spans of abandoned
    streams end on llmtel's own thread, not in the collector)."""
    from llmtel.instrumentation.openai import streams

    gc.collect()
    assert streams.settle_abandoned(), "the spans of abandoned streams did not end within 5 s"


_TLS = ssl.create_default_context()  # loading the CA bundle costs ~50 ms per client otherwise


@pytest.fixture
def client(fake: FakeOpenAI) -> Any:
    from tests.instrumentation.openai.conftest import API_KEY

    http = openai.DefaultHttpxClient(verify=_TLS)
    return openai.OpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=0, http_client=http)


@pytest.fixture
def aclient(fake: FakeOpenAI) -> Any:
    from tests.instrumentation.openai.conftest import API_KEY

    http = openai.DefaultAsyncHttpxClient(verify=_TLS)
    return openai.AsyncOpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=0, http_client=http)


@pytest.fixture(scope="module")
def shared_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake(shared_fake: FakeOpenAI) -> FakeOpenAI:
    """One fake server per module (starting and stopping one per test costs more than the tests);
    queued replies and recorded requests are cleared between tests. Ids keep counting up."""
    shared_fake.reset()
    return shared_fake


class OpenSpans(SpanProcessor):
    """Counts every span started and ended on the provider: what is left in ``open`` never ended."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.open: dict[int, str] = {}
        self.started = 0

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        with self._lock:
            self.started += 1
            self.open[span.context.span_id] = span.name

    def on_end(self, span: Any) -> None:
        with self._lock:
            self.open.pop(span.context.span_id, None)


class Guard:
    """What every stream test checks at its end: no span left open, no context detached in the wrong place."""

    def __init__(self, spans: OpenSpans, caplog: pytest.LogCaptureFixture) -> None:
        self.spans = spans
        self.caplog = caplog

    def check(self) -> None:
        assert self.spans.started > 0  # the tracker is really wired to the provider
        assert self.spans.open == {}, f"spans never ended: {sorted(self.spans.open.values())}"
        detach = [r for r in self.caplog.records if r.name == "opentelemetry.context"]
        assert detach == [], [r.getMessage() for r in detach]


@pytest.fixture
def guard(telemetry: Any, caplog: pytest.LogCaptureFixture) -> Iterator[Guard]:
    spans = OpenSpans()
    telemetry.tracer_provider.add_span_processor(spans)
    caplog.set_level(logging.DEBUG, logger="opentelemetry.context")
    yield Guard(spans, caplog)


def check_stream_span(
    telemetry: Any,
    *,
    end: str,
    chunks: int,
    finish: list[str] | None,
    error_type: str | None = None,
) -> dict[str, Any]:
    """The one llmtel span of a streamed call, checked; returns its attributes."""
    span = telemetry.one_llm_span()
    assert span.end_time is not None and span.end_time >= span.start_time
    attrs = dict(span.attributes)
    assert attrs[sc.GEN_AI_REQUEST_STREAM] is True, attrs
    assert attrs[sc.LLMTEL_STREAM_END] == end, attrs
    assert attrs[sc.LLMTEL_STREAM_CHUNKS] == chunks, attrs
    if finish is None:
        assert sc.GEN_AI_RESPONSE_FINISH_REASONS not in attrs
    else:
        assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == tuple(finish), attrs
    assert (sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in attrs) == (chunks > 0), attrs
    if chunks:
        assert 0 < attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] <= (span.end_time - span.start_time) / 1e9
    if error_type is None:
        assert span.status.status_code is StatusCode.UNSET, (span.status, attrs)
        assert sc.ERROR_TYPE not in attrs
    else:
        assert span.status.status_code is StatusCode.ERROR, (span.status, attrs)
        assert attrs[sc.ERROR_TYPE] == error_type, attrs
    return attrs
