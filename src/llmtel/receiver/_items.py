"""Counting the items (spans, log records, metric data points) of an export request before it is built, so a
small body cannot make the receiver allocate millions of objects before refusing it.

Protobuf is counted on the wire, without parsing; OTLP/JSON on the `json.loads` result, before the conversion
to protobuf. Both walk only the groups on the way to the items (resource, scope, metric), never into an item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from google.protobuf.descriptor import Descriptor
from google.protobuf.message import DecodeError

from llmtel.receiver._json import REQUEST_TYPES
from llmtel.receiver._store import Signal

# The fields leading from an Export*ServiceRequest down to its items; a metric keeps its points under
# whichever data kind it has, hence the alternatives on that level.
_ITEM_PATHS: Final[dict[Signal, tuple[tuple[str, ...], ...]]] = {
    "traces": (("resource_spans",), ("scope_spans",), ("spans",)),
    "logs": (("resource_logs",), ("scope_logs",), ("log_records",)),
    "metrics": (
        ("resource_metrics",),
        ("scope_metrics",),
        ("metrics",),
        ("gauge", "sum", "histogram", "exponential_histogram", "summary"),
        ("data_points",),
    ),
}
_ITEM_NOUNS: Final[dict[Signal, str]] = {
    "traces": "spans",
    "logs": "log records",
    "metrics": "metric data points",
}

# Fields (or JSON group entries) the count may step over per allowed item, plus a fixed allowance: room for
# the groups, names and units around the items of any real request, none for millions of empty groups.
_STEPS_PER_ITEM: Final = 10
_STEPS_ALLOWANCE: Final = 100

_VARINT: Final = 0
_FIXED64: Final = 1
_LENGTH_DELIMITED: Final = 2
_FIXED32: Final = 5


class TooManyItems(Exception):
    """An export request carries more items than the receiver accepts (or is padded with empty groups)."""


@dataclass(frozen=True, slots=True)
class _Level:
    """One step of an item path: its protobuf field numbers and its JSON keys (lowerCamelCase and snake_case)."""

    numbers: frozenset[int]
    keys: tuple[str, ...]


def _resolve(root: Descriptor, path: Sequence[Sequence[str]]) -> tuple[_Level, ...]:
    """Look the field names of `path` up in the protobuf descriptors, starting at the message `root`."""
    levels: list[_Level] = []
    parents = [root]
    for names in path:
        fields = [parent.fields_by_name[name] for parent in parents for name in names if name in parent.fields_by_name]
        keys = dict.fromkeys(key for field in fields for key in (field.json_name, field.name))
        levels.append(_Level(frozenset(field.number for field in fields), tuple(keys)))
        parents = [field.message_type for field in fields]
    return tuple(levels)


_LEVELS: Final[dict[Signal, tuple[_Level, ...]]] = {
    signal: _resolve(REQUEST_TYPES[signal].DESCRIPTOR, path) for signal, path in _ITEM_PATHS.items()
}


class _Tally:
    """Items and steps counted so far; raises `TooManyItems` as soon as either passes its budget."""

    def __init__(self, signal: Signal, limit: int) -> None:
        self._signal: Signal = signal
        self._limit = limit
        self._items = 0
        self._steps_left = _STEPS_PER_ITEM * limit + _STEPS_ALLOWANCE

    def items(self, count: int) -> None:
        self._items += count
        if self._items > self._limit:
            raise TooManyItems(f"more than {self._limit} {_ITEM_NOUNS[self._signal]} in one request")

    def step(self) -> None:
        self._steps_left -= 1
        if self._steps_left < 0:
            raise TooManyItems(f"too many entries around the {_ITEM_NOUNS[self._signal]} of one request")


def check_protobuf_items(signal: Signal, data: bytes, limit: int) -> None:
    """Raise `TooManyItems` if the serialized request holds more than `limit` items, and `DecodeError` if its
    framing is broken on the way to them (parsing would reject it too). Costs a few steps per item at most."""
    _walk_wire(data, 0, len(data), _LEVELS[signal], _Tally(signal, limit))


def check_json_items(signal: Signal, payload: Any, limit: int) -> None:
    """Raise `TooManyItems` if a decoded OTLP/JSON body holds more than `limit` items. Misshapen parts are
    skipped: the conversion to protobuf reports them."""
    _walk_json(payload, _LEVELS[signal], _Tally(signal, limit))


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """The base-128 varint at `pos`, and the position after it."""
    value = shift = 0
    while pos < end and shift < 64:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    raise DecodeError("truncated or overlong varint")


def _walk_wire(data: bytes, pos: int, end: int, levels: tuple[_Level, ...], tally: _Tally) -> None:
    """Step over the fields of the message in data[pos:end], descending into those on the item path."""
    level, deeper = levels[0], levels[1:]
    while pos < end:
        tally.step()
        tag, pos = _varint(data, pos, end)
        wire_type = tag & 7
        if wire_type == _LENGTH_DELIMITED:
            length, pos = _varint(data, pos, end)
            if length > end - pos:
                raise DecodeError("truncated length-delimited field")
            if tag >> 3 in level.numbers:
                if deeper:
                    _walk_wire(data, pos, pos + length, deeper, tally)
                else:
                    tally.items(1)
            pos += length
        elif wire_type == _VARINT:
            _, pos = _varint(data, pos, end)
        elif wire_type in (_FIXED64, _FIXED32):
            pos += 8 if wire_type == _FIXED64 else 4
        else:  # groups (proto2 only) or no wire type at all
            raise DecodeError(f"unexpected wire type {wire_type}")
    if pos > end:
        raise DecodeError("truncated fixed-size field")


def _walk_json(node: Any, levels: tuple[_Level, ...], tally: _Tally) -> None:
    """Count the items under a JSON object, descending through the groups on the item path."""
    if not isinstance(node, Mapping):
        return
    level, deeper = levels[0], levels[1:]
    for key in level.keys:
        if key not in node:
            continue
        child = node[key]
        entries = child if isinstance(child, list) else [child]  # a metric's data kind is an object
        if not deeper:
            tally.items(len(entries))
            continue
        for entry in entries:
            tally.step()
            _walk_json(entry, deeper, tally)
