"""A small threaded HTTP/1.1 server base for llmtel's loopback servers (OTLP receiver, fake OpenAI).

It skips the FQDN lookup ``HTTPServer`` does on bind, serves IPv6 hosts, and remembers open connections so
``stop()`` can end keep-alive clients at once. ``send_reply`` writes a whole response for the handlers.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Iterable
from typing import Any


_logger = logging.getLogger(__name__)

CLIENT_GONE_ERRORS: tuple[type[OSError], ...] = (
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
    TimeoutError,
)
"""What a handler meets when its client resets, closes or stalls the connection: the client's doing, not a fault
of the server, so `TrackingHTTPServer.handle_error` says nothing about them."""


def _format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class TrackingHTTPServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` with daemon handler threads, address reuse and cuttable connections."""

    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog of 5 makes a burst of parallel clients see refused or reset
    # connections; the kernel caps this at net.core.somaxconn.
    request_queue_size = 1024

    def __init__(self, host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._serving: threading.Thread | None = None
        try:
            super().__init__((host, port), handler)
        except OSError as error:  # "Address already in use" alone would not say which of a command's ports
            raise OSError(error.errno, f"cannot bind HTTP server to {_format_address(host, port)}: "
                          f"{error.strerror or error}") from error

    def serve_in_thread(self, name: str) -> None:
        """Serve on a daemon thread called ``name`` until ``stop()``."""
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True)
        self._serving = thread
        thread.start()

    def stop(self) -> None:
        """Stop serving (if it was), close the listening socket and cut the open connections."""
        thread, self._serving = self._serving, None
        if thread is not None:
            self.shutdown()
            thread.join(timeout=2.0)
        self.server_close()
        self.cut_connections()

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # HTTPServer's version would do a DNS lookup of the host
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Called by socketserver, inside its ``except``, when a handler raised: stay quiet when the client went
        away mid-request or mid-reply, and log anything else on one line, never socketserver's traceback on
        stderr (``llmtel serve`` promises no tracebacks)."""
        error = sys.exc_info()[1]
        if isinstance(error, CLIENT_GONE_ERRORS):
            _logger.debug("client %s went away: %r", client_address, error)
            return
        _logger.error("%s: unexpected error serving client %s: %s: %s", type(self).__name__, client_address,
                      type(error).__name__, error)

    def cut_connections(self) -> None:
        """Shut down every open client connection; their handler threads then see EOF and exit."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def send_reply(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    content_type: str,
    headers: Iterable[tuple[str, str]] = (),
) -> None:
    """Write a complete response (no body for HEAD); a client that went away just closes the connection."""
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            handler.send_header(name, value)
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)
    except OSError:
        handler.close_connection = True
