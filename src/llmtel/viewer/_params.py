"""Parsing and validation of query parameters and retention settings; every error is a `ValueError` naming
the parameter, which the HTTP layer answers with 400 and the CLI with exit status 2."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)")
_UNIT_US = {"ns": 0.001, "us": 1, "µs": 1, "μs": 1, "ms": 1_000, "s": 1_000_000, "m": 60_000_000,
            "h": 3_600_000_000, "d": 86_400_000_000}
_HEX = re.compile(r"[0-9a-fA-F]{1,32}")
_SIZE_UNITS = {"": 1, "k": 1_000, "m": 1_000_000}

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
MAX_INT = 2**62
"""Largest time, duration or count accepted (about 146,000 years in microseconds): well inside SQLite's 64-bit
integers, so a query never overflows them, nor does ``end - lookback``."""
MAX_TAGS = 64
"""Most tag filters in one search: each adds terms to the SQL, and SQLite refuses an expression tree too large."""


def parse_duration_us(text: str, name: str) -> int:
    """A Go-style duration (``100ms``, ``1.5s``, ``1h30m``; also ``7d``) in microseconds."""
    raw = text.strip()
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(raw):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_US[match.group(2)]
        position = match.end()
    if not raw or position != len(raw):
        raise ValueError(f"{name}: {text[:64]!r} is not a duration such as 100ms, 1.5s, 2h or 7d")
    if not total <= MAX_INT:  # also an infinite total, from a number of 400 digits
        raise ValueError(f"{name}: {text[:64]!r} is longer than {MAX_INT} microseconds")
    return round(total)


def parse_int(text: str, name: str, *, minimum: int = 0) -> int:
    """A whole number from `minimum` to `MAX_INT`."""
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(f"{name}: {text[:64]!r} is not an integer") from None
    if value < minimum:
        raise ValueError(f"{name}: {value} is below {minimum}")
    if value > MAX_INT:
        raise ValueError(f"{name}: {text.strip()[:64]} is above {MAX_INT}")
    return value


def parse_count(text: str, name: str) -> int:
    """A positive count up to `MAX_INT`, optionally with a k/M suffix (``1M`` spans).

    NaN, infinity and numbers too large to be a count (``1e400``) are refused here: ``int()`` of them would
    raise OverflowError, which argparse does not turn into a usage error."""
    raw = text.strip().lower()
    unit = raw[-1:] if raw[-1:] in ("k", "m") else ""
    try:
        value = float(raw[: len(raw) - len(unit)]) * _SIZE_UNITS[unit]
    except ValueError:
        raise ValueError(f"{name}: {text[:64]!r} is not a count such as 100000 or 1M") from None
    if not math.isfinite(value):  # nan, inf, 1e400
        raise ValueError(f"{name}: {text[:64]!r} is not a count such as 100000 or 1M")
    if value < 1:
        raise ValueError(f"{name}: {text[:64]!r} must be at least 1")
    if value > MAX_INT:
        raise ValueError(f"{name}: {text[:64]!r} is above {MAX_INT}")
    return int(value)


def parse_positive_number(text: str, name: str, *, maximum: float) -> float:
    """A finite number above zero and at most `maximum` (seconds, megabytes...); NaN and infinity are refused,
    since a limit or timeout of either would never be reached."""
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"{name}: {text[:64]!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{name}: {text[:64]!r} is not a finite number")
    if value <= 0:
        raise ValueError(f"{name}: {value:g} must be positive")
    if value > maximum:
        raise ValueError(f"{name}: {value:g} is above {maximum:g}")
    return value


def parse_bool(text: str, name: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no", ""):
        return False
    raise ValueError(f"{name}: {text!r} is not true or false")


def parse_trace_id(text: str) -> str:
    """A trace id as 32 lower-case hex digits (shorter ids, as Jaeger prints 64-bit ones, are zero-padded)."""
    raw = text.strip()
    if not _HEX.fullmatch(raw):
        raise ValueError(f"traceID: {text[:64]!r} is not a hex trace id of up to 32 digits")
    return raw.lower().rjust(32, "0")


def parse_tags(tags_json: Sequence[str], tag_pairs: Sequence[str]) -> dict[str, str]:
    """Jaeger's ``tags={"k":"v"}`` (JSON object) and ``tag=k:v`` parameters merged into one dict of strings."""
    out: dict[str, str] = {}
    for raw in tags_json:
        try:
            parsed = json.loads(raw)
            pairs = [(str(key), _tag_text(value)) for key, value in parsed.items()] if isinstance(parsed, dict) else []
        except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
            parsed, pairs = None, []
        if not isinstance(parsed, dict):
            raise ValueError(f"tags: {raw[:200]!r} is not a JSON object such as {{\"key\":\"value\"}}")
        out.update(pairs)
    for pair in tag_pairs:
        key, sep, value = pair.partition(":")
        if not sep or not key:
            raise ValueError(f"tag: {pair[:200]!r} is not key:value")
        out[key] = value
    if len(out) > MAX_TAGS:
        raise ValueError(f"tags: {len(out)} tag filters; at most {MAX_TAGS} are allowed")
    return out


def _tag_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


@dataclass(frozen=True, slots=True)
class TraceQuery:
    """A validated trace search (Jaeger's ``/api/traces`` or llmtel's ``/api/llmtel/traces``)."""

    service: str | None = None
    operation: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    min_duration_us: int | None = None
    max_duration_us: int | None = None
    start_us: int | None = None
    end_us: int | None = None
    limit: int = DEFAULT_LIMIT
    model: str | None = None
    errors_only: bool = False
    text: str | None = None
    trace_ids: tuple[str, ...] = ()


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = [v for v in params.get(name, ()) if v.strip()]
    return values[-1] if values else None


def parse_trace_query(params: Mapping[str, Sequence[str]], *, now_us: int, jaeger: bool) -> TraceQuery:
    """Validate search parameters (as from `urllib.parse.parse_qs`, blank values kept)."""
    trace_ids = tuple(parse_trace_id(t) for value in params.get("traceID", ()) for t in value.split(",") if t)
    service = _one(params, "service")
    if jaeger and service is None and not trace_ids:
        raise ValueError("service: parameter 'service' is required")
    min_duration = _one(params, "minDuration")
    max_duration = _one(params, "maxDuration")
    start = _one(params, "start")
    end = _one(params, "end")
    lookback = _one(params, "lookback")
    limit = _one(params, "limit")
    end_us = parse_int(end, "end") if end is not None else None
    start_us = parse_int(start, "start") if start is not None else None
    if start_us is None and lookback is not None and lookback != "custom":
        start_us = (end_us if end_us is not None else now_us) - parse_duration_us(lookback, "lookback")
    if start_us is not None and end_us is not None and start_us > end_us:
        raise ValueError(f"start: {start_us} is after end {end_us}")
    query = TraceQuery(
        service=service,
        operation=_one(params, "operation"),
        tags=parse_tags(params.get("tags", ()), params.get("tag", ())),
        min_duration_us=parse_duration_us(min_duration, "minDuration") if min_duration is not None else None,
        max_duration_us=parse_duration_us(max_duration, "maxDuration") if max_duration is not None else None,
        start_us=start_us,
        end_us=end_us,
        limit=min(parse_int(limit, "limit", minimum=1), MAX_LIMIT) if limit is not None else DEFAULT_LIMIT,
        model=_one(params, "model"),
        errors_only=parse_bool(_one(params, "errors") or "", "errors"),
        text=_one(params, "q"),
        trace_ids=trace_ids,
    )
    if (
        query.min_duration_us is not None
        and query.max_duration_us is not None
        and query.min_duration_us > query.max_duration_us
    ):
        raise ValueError("minDuration: greater than maxDuration")
    return query
