"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmtel.receiver import OTLPReceiver


@pytest.fixture
def otlp_receiver() -> Iterator[OTLPReceiver]:
    """A started OTLP receiver (gRPC + HTTP) on ephemeral loopback ports, stopped after the test."""
    with OTLPReceiver() as receiver:
        yield receiver
