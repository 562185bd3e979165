"""How Prometheus names OTLP metrics and attributes, for the dashboard and alert checks.

A pure re-statement of Prometheus 3's ``UnderscoreEscapingWithSuffixes`` translation (its OTLP receiver with
``otlp.translation_strategy: UnderscoreEscapingWithSuffixes``, the OpenTelemetry spec's "OTLP metric points
to Prometheus"): names split into tokens of ``[a-zA-Z0-9:]``, the unit becomes a suffix unless it is an
annotation in braces, monotonic sums end in ``_total``, histograms add ``_bucket``/``_sum``/``_count``.
"""

from __future__ import annotations

import re
from enum import Enum

# UCUM unit -> Prometheus unit word; units not listed are kept as written (so "USD" stays "USD").
_UNITS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds", "us": "microseconds",
    "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes",
    "TiBy": "tibibytes", "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
    "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams", "Cel": "celsius",
    "Hz": "hertz", "1": "", "%": "percent",
}
_PER_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}
_NAME_TOKEN = re.compile(r"[a-zA-Z0-9:]+")
_INVALID_LABEL_CHAR = re.compile(r"[^a-zA-Z0-9_]")


class Kind(Enum):
    """The OTLP metric types llmtel emits, as far as naming is concerned."""

    HISTOGRAM = "histogram"
    COUNTER = "counter"  # a monotonic cumulative sum
    GAUGE = "gauge"


def _unit_word(unit: str, table: dict[str, str]) -> str:
    unit = unit.strip()
    if not unit or "{" in unit or "}" in unit:
        return ""
    word = table.get(unit, unit)
    return re.sub(r"_+", "_", _INVALID_LABEL_CHAR.sub("_", word)).strip("_")


def metric_name(name: str, unit: str, kind: Kind) -> str:
    """The Prometheus name of an OTLP metric (for histograms, the base the ``_bucket`` etc. suffixes go on)."""
    tokens = _NAME_TOKEN.findall(name)
    main, _, per = unit.partition("/")
    main_word = _unit_word(main, _UNITS)
    per_word = _unit_word(per, _PER_UNITS)
    if main_word and main_word not in tokens:
        tokens.append(main_word)
    if per_word and per_word not in tokens:
        tokens += ["per", per_word]
    if kind is Kind.COUNTER:
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if kind is Kind.GAUGE and unit == "1":
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    result = "_".join(tokens)
    return "_" + result if result[:1].isdigit() else result


def series_names(name: str, unit: str, kind: Kind) -> tuple[str, ...]:
    """Every series name Prometheus stores for one OTLP metric (classic histograms: three)."""
    base = metric_name(name, unit, kind)
    if kind is Kind.HISTOGRAM:
        return (f"{base}_bucket", f"{base}_sum", f"{base}_count")
    return (base,)


def label_name(attribute: str) -> str:
    """The Prometheus (and Loki) label of an OTLP attribute key: invalid characters become underscores."""
    label = _INVALID_LABEL_CHAR.sub("_", attribute)
    if label[:1].isdigit():
        return "key_" + label
    if label.startswith("_") and not label.startswith("__"):
        return "key" + label
    return label


def bucket_label(bound: float) -> str:
    """The ``le`` value of a histogram bucket boundary (shortest decimal form: 65536, 0.01, 10.24)."""
    return str(int(bound)) if float(bound).is_integer() else repr(float(bound))
