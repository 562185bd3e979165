"""One send attempt's outcome, against real loopback sockets: what the pipeline and its log lines are told."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from llmtel.config import resolve_settings
from llmtel.export.senders import build_sender, transport_options


def _http_sender(port: int):
    settings = resolve_settings(environ={}, endpoint=f"http://127.0.0.1:{port}", protocol="http/protobuf")
    return build_sender("traces", settings.traces, transport_options("traces", {}))


@pytest.fixture
def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    yield listener.getsockname()[1]
    listener.close()


def test_a_refused_connection_is_retried_and_named_with_the_systems_reason(closed_port):
    outcome = _http_sender(closed_port).send(b"", 1.0)
    assert outcome.kind == "retry"
    assert outcome.detail == "ConnectionError: Connection refused"


def test_a_collector_that_never_answers_is_a_timeout_retried(silent_port):
    outcome = _http_sender(silent_port).send(b"", 0.2)
    assert outcome.kind == "retry"
    assert outcome.detail == "ReadTimeout"
