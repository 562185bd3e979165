"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmtel import pipeline
from llmtel.credentials import forget_secrets
from llmtel.genai.content import use_policy
from llmtel.receiver import OTLPReceiver


@pytest.fixture(autouse=True)
def _private_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's export spool (under the user's cache) and trace database (under the user's data
    directory) in fresh temporary directories; subprocesses inherit them, as ``XDG_*`` survive the e2e
    harness's clean_env()."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data")))
    monkeypatch.delenv("LLMTEL_SPOOL_DIR", raising=False)


@pytest.fixture(autouse=True)
def _no_known_secrets() -> Iterator[None]:
    """Secrets masked by value (``llmtel.credentials.mask_secret``, the environment's at set-up) are process-wide:
    none carries over from one test to the next."""
    forget_secrets()
    yield
    forget_secrets()


@pytest.fixture
def otlp_receiver() -> Iterator[OTLPReceiver]:
    """A started OTLP receiver (gRPC + HTTP) on ephemeral loopback ports, stopped after the test."""
    with OTLPReceiver() as receiver:
        yield receiver


class FinishedSpans(InMemorySpanExporter):
    """The spans a test's pipeline ended, with a lookup by name."""

    def only(self, name: str) -> Any:
        """The one finished span named ``name`` (fails, listing the names, when there is not exactly one)."""
        found = [span for span in self.get_finished_spans() if span.name == name]
        assert len(found) == 1, [span.name for span in self.get_finished_spans()]
        return found[0]


@pytest.fixture
def scope_spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[FinishedSpans]:
    """Runs, steps, tools and agents traced through the real SDK into memory, with the pipeline's span processor;
    the content policy back to the environment's (capture off) before and after."""
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    use_policy(None)  # whatever an earlier test's instrumentation left
    provider = TracerProvider()
    provider.add_span_processor(pipeline.PipelineSpanProcessor())
    exporter = FinishedSpans()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(pipeline, "_tracer", provider.get_tracer("llmtel.pipeline"))
    yield exporter
    use_policy(None)
    provider.shutdown()
