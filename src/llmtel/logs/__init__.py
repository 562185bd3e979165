"""Log bridge: stdlib ``logging`` records shipped as OpenTelemetry log records, correlated with spans."""

from llmtel.logs.handler import OTelLogHandler, attach, detach

__all__ = ["OTelLogHandler", "attach", "detach"]
