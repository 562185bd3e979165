"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmtel.receiver import OTLPReceiver


@pytest.fixture(autouse=True)
def _private_spool(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's export spool (the default lives under the user's cache) in a fresh temporary
    directory; subprocesses inherit it, as ``XDG_CACHE_HOME`` survives the e2e harness's clean_env()."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("LLMTEL_SPOOL_DIR", raising=False)


@pytest.fixture
def otlp_receiver() -> Iterator[OTLPReceiver]:
    """A started OTLP receiver (gRPC + HTTP) on ephemeral loopback ports, stopped after the test."""
    with OTLPReceiver() as receiver:
        yield receiver
