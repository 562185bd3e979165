"""Content policy: whether prompts and completions are captured, and how each text is redacted and bounded.

Off by default. When on, every text passes the redaction hook first, then is bounded: beyond
``max_length`` characters it keeps a preview, the full length and a short SHA-256 (of the redacted text),
so the same content can be correlated across systems without storing it whole.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context

from llmtel import semconv as sc
from llmtel.credentials import REDACTED, cleaned_scalar, could_be_secret, is_credential_name, redact_secrets
from llmtel.encodable import encodable_text
from llmtel.redaction import REDACTOR_FAILED, Redactor, default_redactor, with_secrets_masked

if TYPE_CHECKING:
    from llmtel.config import GenAISettings

__all__ = [
    "ALL_CONTENT_FIELDS", "CONTENT_FIELDS", "CONTENT_WITHHELD", "CaptureMode", "ContentPolicy", "Redactor", "active_policy", "content_json",
    "default_redactor", "omit_fields", "parse_capture_mode", "parse_content_fields", "policy_from_settings",
    "short_sha256", "use_policy",
]


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


# What content capture records, field by field (``LLMTEL_CONTENT_FIELDS``). A field left out keeps its place in
# the messages (roles, part types, tool names and ids) with the length and short SHA-256 of what was left out.
CONTENT_FIELDS = ("system_instructions", "input", "output", "tool_definitions", "tool_calls", "tool_results")
ALL_CONTENT_FIELDS = frozenset(CONTENT_FIELDS)


def parse_content_fields(value: object, origin: str) -> frozenset[str]:
    """``all``, ``none`` or a comma-separated list (or an iterable) of ``CONTENT_FIELDS``; anything else is a
    ``ValueError`` naming the setting."""
    if isinstance(value, frozenset) and value <= ALL_CONTENT_FIELDS:
        return value
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, (list, tuple, set)) else None
    if items is None:
        raise ValueError(f"{origin}: {value!r} is not all, none or a list of {', '.join(CONTENT_FIELDS)}")
    names = [str(item).strip().lower() for item in items if str(item).strip()]
    if names == ["all"]:
        return ALL_CONTENT_FIELDS
    if names == ["none"]:
        return frozenset()
    unknown = [name for name in names if name not in ALL_CONTENT_FIELDS]
    if unknown or not names:
        raise ValueError(
            f"{origin}: {value!r} is not all, none or a list of {', '.join(CONTENT_FIELDS)}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    return frozenset(names)


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
    fields: frozenset[str] = ALL_CONTENT_FIELDS  # what is exported of it (``omit_fields``)
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

    def clean_error(self, text: str) -> str:
        """Redact an error's text (a message, an error body that may echo what was sent): as content, and with
        the content redactor off, credentials still masked, as in every error text that leaves the process."""
        return encodable_text(self.clean(text) if self.redactor is not None else redact_secrets(text))

    def bound(self, text: str) -> tuple[str, dict[str, Any] | None]:
        """Redacted text, cut to ``max_length``; the second item describes the cut (or is None). Text UTF-8 cannot
        encode (a surrogate half of an emoji a stream split) is repaired first (``llmtel.encodable``)."""
        text = encodable_text(self.clean(text))
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

    def value(self, value: Any, *, by_name: bool = True) -> Any:
        """Bound an arbitrary captured value (tool arguments, results): every string in it is cleaned and cut,
        keys included; a long whole number is cleaned as its text (a card number sent as a number); and, unless
        ``by_name`` is off (a schema, whose keys name fields rather than hold them), a value under a credential's
        name (``password``, ``api_key``) is masked whatever it is."""
        if isinstance(value, str):
            content, cut = self.bound(value)
            return content if cut is None else {"preview": content, "truncated": cut}
        if isinstance(value, dict):
            return {self._key(key): REDACTED if by_name and could_be_secret(item) and isinstance(key, str)
                    and is_credential_name(key) else self.value(item, by_name=by_name) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(item, by_name=by_name) for item in value]
        return cleaned_scalar(value, self.clean) if self.redactor is not None else value

    def _key(self, key: Any) -> Any:
        return encodable_text(self.clean(key)) if isinstance(key, str) else key


def policy_from_settings(settings: GenAISettings, redactor: Redactor | None = default_redactor) -> ContentPolicy:
    """The content policy resolved settings describe. A user's ``redactor`` runs after the secrets are masked:
    credentials never depend on what a hook does; None (or ``redact_content`` off) disables redaction."""
    return ContentPolicy(
        mode=CaptureMode(settings.capture_content),
        max_length=settings.content_max_length,
        redactor=with_secrets_masked(redactor) if settings.redact_content and redactor is not None else None,
        collect=settings.debug,  # the debug view shows content that is exported only if capture is on
        fields=settings.content_fields,
    )


# The policy of the GenAI instrumentation in force, for content recorded outside a provider's calls (tool
# arguments and results): set when instrumenting, cleared when uninstrumenting; without one, the environment's.
# Set in a context whose calls must record no content whatever the policy (an Agents SDK run told to keep
# sensitive data out of its traces): what a call's record holds of it is dropped as its span ends.
CONTENT_WITHHELD = otel_context.create_key("llmtel.content.withheld")

_active: list[ContentPolicy] = []
_logger = logging.getLogger("llmtel.genai")


def content_json(value: Any) -> str:
    """Captured content (messages, parts, tool definitions) as the JSON text of its span attribute: compact, text
    kept as it is (not ``\\u`` escaped), anything JSON cannot hold as its ``str``. One form for every span."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def use_policy(policy: ContentPolicy | None) -> None:
    """Make ``policy`` the one in force (None: back to the environment's, read afresh on next use)."""
    _active[:] = [] if policy is None else [policy]


def active_policy() -> ContentPolicy:
    """The content policy in force: the instrumentation's, else the one the environment describes (read once).
    A bad setting in the environment captures nothing, with a warning naming it, rather than break the app."""
    if _active:
        return _active[0]
    from llmtel.config import resolve_genai_settings  # not at import: the configuration imports this module

    try:
        policy = policy_from_settings(resolve_genai_settings())
    except ValueError as error:
        _logger.warning("llmtel: content is not captured: %s", error)
        policy = ContentPolicy()
    _active[:] = [policy]
    return policy


def json_ready(value: Any) -> Any:
    """``value`` with what JSON has no form for turned into what it does: models and dataclasses into their
    fields, anything else unknown into its ``str`` (as is a value JSON cannot hold at all, e.g. one containing
    itself)."""
    try:
        return json.loads(json.dumps(value, default=_plain))
    except (TypeError, ValueError, RecursionError):
        return str(value)


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)  # pydantic models, the openai SDK's objects among them
    if callable(dump):
        try:
            return dump(mode="json")
        except TypeError:  # a ``model_dump`` of another kind
            return dump()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return str(value)


# --- leaving fields out -----------------------------------------------------------------------------------

_PAYLOAD_KEYS = ("content", "uri", "arguments", "response")  # where a part carries what was said
_SYSTEM_ROLES = frozenset({"system", "developer"})  # chat's system prompt stays in its history


def omitted(value: Any) -> dict[str, Any]:
    """The length and short SHA-256 of a captured value (a text, or tool arguments / results as JSON)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return {"length": len(text), "sha256": short_sha256(text)}


def _omit_part(part: dict[str, Any]) -> dict[str, Any]:
    """The part without what it carries; a cut text is described by its cut (the length and hash of the whole)."""
    kept = {key: value for key, value in part.items() if key not in _PAYLOAD_KEYS and key != "truncated"}
    for key in _PAYLOAD_KEYS:
        if key in part:
            kept["omitted"] = part["truncated"] if "truncated" in part else omitted(part[key])
            break
    return kept


def _part_field(part: dict[str, Any], said: str) -> str:
    kind = part.get("type")
    if kind == "tool_call":
        return "tool_calls"
    if kind == "tool_call_response":
        return "tool_results"
    return said


def _messages(messages: list[dict[str, Any]], fields: frozenset[str], side: str) -> list[dict[str, Any]]:
    result = []
    for message in messages:
        said = "system_instructions" if side == "input" and message.get("role") in _SYSTEM_ROLES else side
        parts = message.get("parts") or ()
        if all(_part_field(part, said) in fields for part in parts):
            result.append(message)
            continue
        result.append({**message, "parts": [part if _part_field(part, said) in fields else _omit_part(part)
                                            for part in parts]})
    return result


def omit_fields(captured: dict[str, list[dict[str, Any]]], fields: frozenset[str]) -> dict[str, list[dict[str, Any]]]:
    """Captured content (by attribute name, as ``emit.captured_content`` returns it) with the fields not in
    ``fields`` left out: texts, tool arguments and tool results replaced by their length and short SHA-256, tool
    definitions reduced to their type and name. The record itself is not changed."""
    if fields == ALL_CONTENT_FIELDS:
        return captured
    result: dict[str, list[dict[str, Any]]] = {}
    for name, value in captured.items():
        if name == sc.GEN_AI_INPUT_MESSAGES:
            result[name] = _messages(value, fields, "input")
        elif name == sc.GEN_AI_OUTPUT_MESSAGES:
            result[name] = _messages(value, fields, "output")
        elif name == sc.GEN_AI_SYSTEM_INSTRUCTIONS:
            result[name] = value if "system_instructions" in fields else [_omit_part(part) for part in value]
        elif name == sc.GEN_AI_TOOL_DEFINITIONS and "tool_definitions" not in fields:
            result[name] = [{**{key: d[key] for key in ("type", "name") if key in d}, "omitted": omitted(d)}
                            for d in value]
        else:
            result[name] = value
    return result
