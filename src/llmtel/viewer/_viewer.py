"""`Viewer`: an OTLP receiver storing into SQLite plus the query API and UI server, started and stopped as one."""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
from pathlib import Path
from types import TracebackType

from llmtel.receiver import OTLPReceiver
from llmtel.viewer._api import ViewerHTTPServer
from llmtel.viewer._store import Retention, TraceStore

_logger = logging.getLogger(__name__)

DEFAULT_GRPC_PORT = 4317
DEFAULT_HTTP_PORT = 4318
DEFAULT_UI_PORT = 16686


def default_db_path() -> Path:
    """Where ``llmtel serve`` keeps its database unless told otherwise (the user's data directory)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "llmtel" / "traces.db"


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _format_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class Viewer:
    """The local trace viewer: OTLP in (gRPC and HTTP), SQLite store, Jaeger-compatible API and UI out.

    Port 0 picks a free port, None disables that server. Binding to a non-loopback `host` requires
    ``allow_remote=True`` (the API has no authentication). Use as a context manager or `start()`/`stop()`.
    """

    def __init__(
        self,
        db: str | Path = ":memory:",
        host: str = "127.0.0.1",
        grpc_port: int | None = 0,
        http_port: int | None = 0,
        ui_port: int | None = 0,
        *,
        allow_remote: bool = False,
        retention: Retention | None = None,
        prune_interval: float = 5.0,
        static_dir: Path | None = None,
    ) -> None:
        if not is_loopback(host) and not allow_remote:
            raise ValueError(
                f"host: {host!r} is not a loopback address; the viewer has no authentication, so binding it "
                "elsewhere needs allow_remote=True (--allow-remote)"
            )
        for name, port in (("grpc_port", grpc_port), ("http_port", http_port), ("ui_port", ui_port)):
            if port is not None and not 0 <= port <= 65535:
                raise ValueError(f"{name}: {port} is not a port number")
        self._db = db
        self._host = host
        self._grpc_port = grpc_port
        self._http_port = http_port
        self._ui_port = ui_port
        self._retention = retention
        self._prune_interval = prune_interval
        self._static_dir = static_dir
        self._store: TraceStore | None = None
        self._receiver: OTLPReceiver | None = None
        self._ui_server: ViewerHTTPServer | None = None

    def start(self) -> Viewer:
        """Open the store and start the servers. Returns self."""
        if self._store is not None:
            return self
        if not is_loopback(self._host):
            _logger.warning("llmtel viewer listening on %s: anyone who can reach it can read your traces", self._host)
        store = TraceStore(self._db, retention=self._retention, prune_interval=self._prune_interval)
        try:
            receiver = None
            if self._grpc_port is not None or self._http_port is not None:
                receiver = OTLPReceiver(self._host, self._grpc_port, self._http_port, sink=store).start()
            self._receiver = receiver
            if self._ui_port is not None:
                kwargs = {} if self._static_dir is None else {"static_dir": self._static_dir}
                self._ui_server = ViewerHTTPServer(self._host, self._ui_port, store, **kwargs)
                self._ui_server.serve_in_thread("llmtel-viewer-http")
        except BaseException:
            if self._receiver is not None:
                self._receiver.stop()
                self._receiver = None
            store.close()
            raise
        self._store = store
        return self

    def stop(self) -> None:
        """Stop the servers, commit what was received and close the store. Idempotent."""
        if self._receiver is not None:
            self._receiver.stop()
            self._receiver = None
        if self._ui_server is not None:
            self._ui_server.stop()
            self._ui_server = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Viewer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- endpoints ---------------------------------------------------------------------------------------

    @property
    def store(self) -> TraceStore:
        if self._store is None:
            raise RuntimeError("the viewer is not running; call start() first")
        return self._store

    @property
    def receiver(self) -> OTLPReceiver:
        if self._receiver is None:
            raise RuntimeError("the viewer's OTLP receiver is not running")
        return self._receiver

    @property
    def otlp_grpc_endpoint(self) -> str:
        """``http://host:port`` for the OTLP gRPC exporters."""
        return self.receiver.grpc_endpoint

    @property
    def otlp_http_endpoint(self) -> str:
        """``http://host:port`` for the OTLP HTTP exporters (they append ``/v1/traces`` etc.)."""
        return self.receiver.http_endpoint

    @property
    def ui_port(self) -> int:
        if self._ui_server is None:
            raise RuntimeError("the viewer's UI server is not running")
        return self._ui_server.server_port

    @property
    def ui_url(self) -> str:
        """Base URL of the UI and the query API, e.g. ``http://127.0.0.1:16686``."""
        host = "127.0.0.1" if self._host in ("0.0.0.0", "") else "::1" if self._host == "::" else self._host
        return f"http://{_format_host(host)}:{self.ui_port}"

    def trace_url(self, trace_id: str) -> str:
        """The UI page of one trace."""
        return f"{self.ui_url}/trace/{trace_id.lower()}"

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything received so far is stored and queryable."""
        return self.store.flush(timeout)

    def wait_for_spans(self, n: int, timeout: float = 10.0) -> bool:
        """Block until at least `n` spans have been stored since start."""
        return self.store.wait_for_spans(n, timeout)
