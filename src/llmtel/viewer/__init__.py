"""The local trace viewer behind ``llmtel serve``: an OTLP receiver storing traces, logs and metrics in SQLite,
a Jaeger-compatible query API, llmtel's own trace/log/model endpoints and the web UI on one port, and the data
behind ``llmtel report``. The HTTP contract is in `llmtel.viewer._api`'s docstring."""

from llmtel.viewer._store import NotATraceDatabase, Retention, TraceStore
from llmtel.viewer._viewer import (
    DEFAULT_GRPC_PORT,
    DEFAULT_HTTP_PORT,
    DEFAULT_UI_PORT,
    Viewer,
    default_db_path,
    is_loopback,
)

__all__ = [
    "DEFAULT_GRPC_PORT",
    "DEFAULT_HTTP_PORT",
    "DEFAULT_UI_PORT",
    "NotATraceDatabase",
    "Retention",
    "TraceStore",
    "Viewer",
    "default_db_path",
    "is_loopback",
]
