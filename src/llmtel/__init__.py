"""llmtel: OpenTelemetry-native instrumentation for LLM applications.

``llmtel.instrument()`` once at startup sets up traces, metrics and logs over OTLP and instruments every
supported library; ``opentelemetry-instrument python app.py`` does the same with no code change.
"""

from llmtel._version import __version__
from llmtel.config import Settings
from llmtel.logs import JsonFormatter
from llmtel.pipeline import run, step
from llmtel.setup import Telemetry, active, instrument

__all__ = ["JsonFormatter", "Settings", "Telemetry", "__version__", "active", "instrument", "run", "step"]
