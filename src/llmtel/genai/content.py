"""Content policy: whether prompts and completions are captured, and how each text is redacted and bounded.

Off by default. When on, every text passes the redaction hook first, then is bounded: beyond
``max_length`` characters it keeps a preview, the full length and a short SHA-256 (of the redacted text),
so the same content can be correlated across systems without storing it whole.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from typing import Any

from llmtel.redaction import REDACTOR_FAILED, Redactor, default_redactor

__all__ = ["CaptureMode", "ContentPolicy", "Redactor", "default_redactor", "parse_capture_mode", "short_sha256"]


class CaptureMode(enum.Enum):
    """Where captured content goes (values as in ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``)."""

    NO_CONTENT = "NO_CONTENT"
    SPAN_ONLY = "SPAN_ONLY"
    EVENT_ONLY = "EVENT_ONLY"
    SPAN_AND_EVENT = "SPAN_AND_EVENT"


def parse_capture_mode(value: object, origin: str) -> CaptureMode:
    """``true``/``false`` or one of the mode names (any case); anything else is a ``ValueError``."""
    if isinstance(value, CaptureMode):
        return value
    if isinstance(value, bool):
        return CaptureMode.SPAN_ONLY if value else CaptureMode.NO_CONTENT
    text = str(value).strip().upper()
    if text in ("TRUE", "1", "YES", "ON"):
        return CaptureMode.SPAN_ONLY
    if text in ("FALSE", "0", "NO", "OFF", ""):
        return CaptureMode.NO_CONTENT
    try:
        return CaptureMode(text)
    except ValueError:
        names = ", ".join(m.value for m in CaptureMode)
        raise ValueError(f"{origin}: {value!r} is not true, false or one of {names}") from None


def short_sha256(text: str) -> str:
    """First 16 hex digits of the SHA-256 of ``text`` (UTF-8): enough to correlate, too short to matter."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class ContentPolicy:
    """What to capture and how to treat each captured text."""

    mode: CaptureMode = CaptureMode.NO_CONTENT
    max_length: int = 4096
    redactor: Redactor | None = default_redactor
    collect: bool = False  # extract content into the record even when it is not exported (LLMTEL_DEBUG)
    capture: bool = field(init=False)  # whether extraction fills content into the record (computed once)

    def __post_init__(self) -> None:
        object.__setattr__(self, "capture", self.collect or self.mode is not CaptureMode.NO_CONTENT)

    @property
    def on_span(self) -> bool:
        return self.mode in (CaptureMode.SPAN_ONLY, CaptureMode.SPAN_AND_EVENT)

    @property
    def on_event(self) -> bool:
        return self.mode in (CaptureMode.EVENT_ONLY, CaptureMode.SPAN_AND_EVENT)

    def clean(self, text: str) -> str:
        """Redact ``text``; a failing redactor yields a placeholder rather than the unredacted text."""
        if self.redactor is None:
            return text
        try:
            return self.redactor(text)
        except Exception:  # noqa: BLE001 - never leak content because the hook failed
            return REDACTOR_FAILED

    def bound(self, text: str) -> tuple[str, dict[str, Any] | None]:
        """Redacted text, cut to ``max_length``; the second item describes the cut (or is None)."""
        text = self.clean(text)
        if len(text) <= self.max_length:
            return text, None
        return text[: self.max_length], {"length": len(text), "sha256": short_sha256(text)}

    def text_part(self, text: str, part_type: str = "text") -> dict[str, Any]:
        """A semantic-convention message part carrying ``text``, with a truncation marker if it was cut."""
        content, cut = self.bound(text)
        part: dict[str, Any] = {"type": part_type, "content": content}
        if cut is not None:
            part["truncated"] = cut
        return part

    def value(self, value: Any) -> Any:
        """Bound an arbitrary captured value (tool arguments, results): every string in it is cleaned and cut."""
        if isinstance(value, str):
            content, cut = self.bound(value)
            return content if cut is None else {"preview": content, "truncated": cut}
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(item) for item in value]
        return value
