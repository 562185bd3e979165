"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmtel.receiver import OTLPReceiver


@pytest.fixture(autouse=True)
def _private_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's export spool (under the user's cache) and trace database (under the user's data
    directory) in fresh temporary directories; subprocesses inherit them, as ``XDG_*`` survive the e2e
    harness's clean_env()."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data")))
    monkeypatch.delenv("LLMTEL_SPOOL_DIR", raising=False)


@pytest.fixture
def otlp_receiver() -> Iterator[OTLPReceiver]:
    """A started OTLP receiver (gRPC + HTTP) on ephemeral loopback ports, stopped after the test."""
    with OTLPReceiver() as receiver:
        yield receiver
