"""pytest fixtures for testing an LLM app instrumented with llmtel (registered through the ``pytest11`` entry point).

- ``fake_openai``: a started `FakeOpenAI` on loopback; point ``openai.OpenAI(base_url=fake_openai.base_url,
  api_key="test")`` at it and script replies with ``fake_openai.enqueue(...)``.
- ``llmtel_spans``: a `SpanCapture` of the spans finished during the test (LLM calls, HTTP requests,
  ``llmtel.run``/``llmtel.step`` and the app's own), with llmtel's instrumentation on; fresh for every test.

Nothing is started or instrumented until a test asks for one of them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmtel.testing.fake_openai import FakeOpenAI
from llmtel.testing.span_capture import SpanCapture, capture_spans


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A started fake OpenAI server on an ephemeral loopback port, stopped after the test."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def llmtel_spans() -> Iterator[SpanCapture]:
    """The spans finished during this test, captured in memory with llmtel's instrumentation on."""
    with capture_spans() as capture:
        yield capture
