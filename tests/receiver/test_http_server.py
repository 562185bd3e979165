"""`TrackingHTTPServer`, the base of the receiver's, the viewer's and the fake OpenAI's HTTP servers: a handler
that fails because its client went away is not worth a word; any other failure is one log line, never
socketserver's traceback on stderr. And the receiver refuses port numbers no socket can have."""

from __future__ import annotations

import http.client
import logging
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from llmtel._http_server import TrackingHTTPServer
from llmtel.receiver import OTLPReceiver


class _Failing(BaseHTTPRequestHandler):
    """Raises the exception named by the request path (``/ConnectionResetError``...)."""

    protocol_version = "HTTP/1.1"
    errors = {cls.__name__: cls for cls in (ConnectionResetError, BrokenPipeError, ConnectionAbortedError,
                                            TimeoutError, RuntimeError, KeyError)}

    def do_GET(self) -> None:  # noqa: N802 (stdlib naming)
        raise self.errors[self.path.strip("/")]("raised by the test handler")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        pass


@pytest.fixture
def server() -> Iterator[TrackingHTTPServer]:
    running = TrackingHTTPServer("127.0.0.1", 0, _Failing)
    running.serve_in_thread("test-failing-http")
    yield running
    running.stop()


def _get(server: TrackingHTTPServer, path: str) -> None:
    """GET `path`; the handler fails, so the server closes the connection without an answer."""
    connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=5)
    try:
        connection.request("GET", path)
        with pytest.raises((http.client.HTTPException, OSError)):
            connection.getresponse()
    finally:
        connection.close()


@pytest.mark.parametrize("error", ["ConnectionResetError", "BrokenPipeError", "ConnectionAbortedError",
                                   "TimeoutError"])
def test_a_client_gone_is_not_reported(server: TrackingHTTPServer, error: str, caplog, capfd) -> None:
    with caplog.at_level(logging.DEBUG, logger="llmtel._http_server"):
        _get(server, f"/{error}")
        _get(server, "/ConnectionResetError")  # the server still serves
    assert [r for r in caplog.records if r.levelno >= logging.INFO] == []
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("error", ["RuntimeError", "KeyError"])
def test_an_unexpected_error_is_one_log_line_not_a_traceback(server: TrackingHTTPServer, error: str, caplog,
                                                             capfd) -> None:
    with caplog.at_level(logging.DEBUG, logger="llmtel._http_server"):
        _get(server, f"/{error}")
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.levelno == logging.ERROR and record.name == "llmtel._http_server"
    message = record.getMessage()
    assert "TrackingHTTPServer" in message and error in message and "raised by the test handler" in message
    assert "\n" not in message and record.exc_info is None
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception occurred" not in err


@pytest.mark.parametrize(("grpc_port", "http_port"), [(70000, 0), (0, 70000), (-1, 0), (0, 65536)])
def test_receiver_refuses_ports_out_of_range(grpc_port: int, http_port: int) -> None:
    # gRPC would have bound port % 65536 (70000 -> 4464, -1 -> 65535) and HTTP raised OverflowError.
    with pytest.raises(ValueError, match="is not a port number"):
        OTLPReceiver(grpc_port=grpc_port, http_port=http_port)
