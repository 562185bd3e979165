"""Provider-neutral GenAI telemetry: the record of one call, the content policy, and emission."""

from llmtel.genai.content import CaptureMode, ContentPolicy, default_redactor
from llmtel.genai.emit import GenAITelemetry
from llmtel.genai.record import GenAICall

__all__ = ["CaptureMode", "ContentPolicy", "GenAICall", "GenAITelemetry", "default_redactor"]
