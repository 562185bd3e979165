"""Log bridge: stdlib ``logging`` records shipped as OpenTelemetry log records, correlated with spans."""

from llmtel.logs.formatting import JsonFormatter, install_record_stamping, uninstall_record_stamping
from llmtel.logs.attachment import attach, detach
from llmtel.logs.handler import OTelLogHandler

__all__ = [
    "JsonFormatter",
    "OTelLogHandler",
    "attach",
    "detach",
    "install_record_stamping",
    "uninstall_record_stamping",
]
