"""llmtel: OpenTelemetry-native instrumentation for LLM applications.

``llmtel.instrument()`` once at startup sets up traces, metrics and logs over OTLP and instruments every
supported library; ``opentelemetry-instrument python app.py`` does the same with no code change.
"""

from llmtel._version import __version__
from llmtel.agents import agent
from llmtel.config import Settings
from llmtel.credentials import mask_secret
from llmtel.feedback import FeedbackTarget, feedback_target, record_feedback
from llmtel.logs import JsonFormatter
from llmtel.pipeline import run, step
from llmtel.prompts import prompt
from llmtel.propagation import continue_run, extract_context, inject_headers
from llmtel.setup import Telemetry, active, instrument
from llmtel.tools import tool

# structlog processors, imported on first use so ``import llmtel`` stays light
_LAZY = {
    "structlog_context": ("llmtel.logs.structlog_support", "add_context"),
    "structlog_otlp": ("llmtel.logs.structlog_support", "ship_to_otlp"),
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'llmtel' has no attribute {name!r}")


__all__ = [
    "FeedbackTarget",
    "JsonFormatter",
    "Settings",
    "Telemetry",
    "__version__",
    "active",
    "agent",
    "continue_run",
    "extract_context",
    "feedback_target",
    "inject_headers",
    "instrument",
    "mask_secret",
    "prompt",
    "record_feedback",
    "run",
    "step",
    "structlog_context",
    "structlog_otlp",
    "tool",
]
