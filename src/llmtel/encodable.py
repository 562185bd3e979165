"""Values made fit for OTLP, which carries text as UTF-8 and integers in 64 bits. The stock encoders drop an
attribute they cannot encode with an error and a traceback, and a log record's body or a span's name they
cannot encode fails its whole batch.

Lone surrogates are ordinary in Python text: file names and environment bytes that are not UTF-8 decode to
them (``surrogateescape``), and a server that splits an emoji's UTF-16 pair across two stream chunks sends
one half in each. ``encodable_text`` joins the halves of a pair back into their character and replaces the rest
with U+FFFD, as a UTF-8 decoder replaces invalid bytes. An integer beyond 64 bits (``extra={"n": 10**30}``) is
kept as its decimal text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1


def encodable_text(text: str) -> str:
    """``text`` itself when UTF-8 can encode it (the usual case costs one ``isascii`` or one encode); otherwise
    a copy with surrogate pairs joined and lone surrogates replaced by U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _item(value: Any) -> Any:
    if isinstance(value, str):
        return encodable_text(value)
    if type(value) is int and not INT64_MIN <= value <= INT64_MAX:
        return str(value)
    return value


def encodable_value(value: Any) -> Any:
    """An attribute value OTLP can carry (text repaired, huge integers as text): the same object when it is one."""
    if isinstance(value, (list, tuple)):
        items = [_item(item) for item in value]
        if all(new is old for new, old in zip(items, value)):
            return value
        if any(isinstance(item, str) for item in items) and not all(isinstance(item, str) for item in items):
            return [str(item) for item in items]  # an attribute's array holds one type: 10**30 beside ints
        return items
    return _item(value)


def repaired_attributes(attributes: Mapping[str, Any]) -> dict[str, Any] | None:
    """``attributes`` made encodable (keys too), or None when they are already. The check is inline: it runs on
    every attribute of every span exported."""
    for key, value in attributes.items():
        if not key.isascii() and encodable_text(key) is not key:
            break
        kind = type(value)
        if kind is str:
            if value.isascii() or encodable_text(value) is value:
                continue
        elif kind is int:
            if INT64_MIN <= value <= INT64_MAX:
                continue
        elif kind is tuple or kind is list:
            if encodable_value(value) is value:
                continue
        elif not isinstance(value, str) or encodable_value(value) is value:  # a float, a bool; a str subclass
            continue
        break
    else:
        return None
    return {encodable_text(key): encodable_value(value) for key, value in attributes.items()}


def encodable_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """``attributes`` made encodable: the same dict when they are, a copy otherwise."""
    repaired = repaired_attributes(attributes)
    return attributes if repaired is None else repaired
