"""Fixtures for the fake OpenAI server tests."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from llmtel.testing import FakeOpenAI
from tests.testing.clients import make_client


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    """A running fake on an ephemeral loopback port."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def client(fake: FakeOpenAI) -> Iterator[openai.OpenAI]:
    """A real sync openai client pointed at ``fake``, with ``max_retries=0``."""
    with make_client(fake) as sdk_client:
        yield sdk_client
