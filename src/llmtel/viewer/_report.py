"""``llmtel report``: cost, tokens, latency percentiles, errors and the slowest / most expensive traces of a
time window, computed from the viewer's store, as a terminal table or JSON."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from llmtel.viewer._store import TraceStore


UNSET_ERROR_TYPE = "(unset)"
"""The report's label for error spans with neither ``error.type`` nor ``http.response.status_code``."""

_ERROR_LABEL_SQL = (
    "CASE WHEN error_type IS NOT NULL AND error_type != '_ERROR' THEN error_type"
    " ELSE coalesce('HTTP ' || json_extract(attributes, '$.\"http.response.status_code\"'),"
    f" '{UNSET_ERROR_TYPE}') END"
)
"""SQL labelling an error span for "errors by type": its ``error.type``; without one, its HTTP status
(``HTTP 429``) if it has one, else ``(unset)``. ``_ERROR`` is what databases written before this label
existed hold in place of a missing ``error.type``: it is read as missing."""


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of already sorted values; None for no values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _ms(us: float | None) -> float | None:
    return None if us is None else round(us / 1000, 3)


def build_report(store: TraceStore, *, since_us: int, until_us: int, top: int = 5) -> dict[str, Any]:
    """The report's data for spans and traces that started in [since_us, until_us]."""
    window = (since_us, until_us)
    llm = "FROM spans WHERE model IS NOT NULL AND start_us >= ? AND start_us <= ?"
    totals_row = store.execute(
        "SELECT count(*), coalesce(sum(span_count), 0), coalesce(sum(input_tokens), 0),"
        " coalesce(sum(output_tokens), 0), sum(cost_usd), coalesce(sum(error_count), 0)"
        " FROM traces WHERE start_us >= ? AND start_us <= ?",
        window,
    )[0]
    llm_calls = store.execute(f"SELECT count(*) {llm}", window)[0][0]
    by_model = store.execute(
        "SELECT model, count(*), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), sum(cost_usd)"
        f" {llm} GROUP BY model ORDER BY coalesce(sum(cost_usd), 0) DESC, model",
        window,
    )
    by_service = store.execute(
        "SELECT service, count(*), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), sum(cost_usd)"
        f" {llm} GROUP BY service ORDER BY coalesce(sum(cost_usd), 0) DESC, service",
        window,
    )
    durations: dict[tuple[str, str], list[int]] = {}
    for operation, model, duration_us in store.execute(
        f"SELECT coalesce(operation, name), model, duration_us {llm}", window
    ):
        durations.setdefault((operation, model), []).append(duration_us)
    latency = []
    for (operation, model), values in sorted(durations.items()):
        values.sort()
        latency.append(
            {
                "operation": operation,
                "model": model,
                "calls": len(values),
                "p50_ms": _ms(percentile(values, 50)),
                "p95_ms": _ms(percentile(values, 95)),
                "p99_ms": _ms(percentile(values, 99)),
            }
        )
    errors = store.execute(
        f"SELECT {_ERROR_LABEL_SQL}, count(*) FROM spans"
        " WHERE status_code = 2 AND start_us >= ? AND start_us <= ? GROUP BY 1 ORDER BY 2 DESC, 1",
        window,
    )
    trace_columns = "trace_id, root_name, root_service, start_us, end_us - start_us, cost_usd, span_count, error_count"
    trace_window = "FROM traces WHERE start_us >= ? AND start_us <= ?"
    slowest = store.execute(f"SELECT {trace_columns} {trace_window} ORDER BY end_us - start_us DESC, start_us DESC LIMIT ?", (*window, top))
    priciest = store.execute(
        f"SELECT {trace_columns} {trace_window} AND cost_usd IS NOT NULL ORDER BY cost_usd DESC, start_us DESC LIMIT ?", (*window, top)
    )

    def usage(rows: list[tuple[Any, ...]], key: str) -> list[dict[str, Any]]:
        return [
            {key: r[0], "calls": r[1], "input_tokens": r[2], "output_tokens": r[3], "cost_usd": r[4]} for r in rows
        ]

    def traces(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        return [
            {
                "trace_id": r[0],
                "root_name": r[1],
                "service": r[2],
                "start_us": r[3],
                "duration_ms": _ms(r[4]),
                "cost_usd": r[5],
                "spans": r[6],
                "errors": r[7],
            }
            for r in rows
        ]

    return {
        "window": {"since_us": since_us, "until_us": until_us},
        "totals": {
            "traces": totals_row[0],
            "spans": totals_row[1],
            "llm_calls": llm_calls,
            "input_tokens": totals_row[2],
            "output_tokens": totals_row[3],
            "cost_usd": totals_row[4],
            "error_spans": totals_row[5],
        },
        "cost_by_model": usage(by_model, "model"),
        "cost_by_service": usage(by_service, "service"),
        "latency": latency,
        "errors_by_type": [{"error_type": r[0], "count": r[1]} for r in errors],
        "slowest_traces": traces(slowest),
        "most_expensive_traces": traces(priciest),
    }


def _cost(value: float | None) -> str:
    return "-" if value is None else f"${value:.6f}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"


def _table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    if not rows:
        return [title, "  (none)", ""]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:]))
        return "  " + "  ".join([first, *rest]).rstrip()

    return [title, line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows), ""]


def format_report(report: dict[str, Any], window_label: str) -> str:
    """The report as aligned plain-text tables for a terminal."""
    totals = report["totals"]
    out = [
        f"llmtel report: last {window_label}",
        f"  {totals['traces']:,} traces, {totals['spans']:,} spans, {totals['llm_calls']:,} LLM calls, "
        f"{totals['input_tokens']:,} input / {totals['output_tokens']:,} output tokens, "
        f"cost {_cost(totals['cost_usd'])}, {totals['error_spans']:,} error spans",
        "",
    ]
    usage_headers = ["calls", "input tok", "output tok", "cost"]
    for title, key in (("Cost by model", "model"), ("Cost by service", "service")):
        rows = [
            [str(r[key]), _num(r["calls"]), _num(r["input_tokens"]), _num(r["output_tokens"]), _cost(r["cost_usd"])]
            for r in report[f"cost_by_{key}"]
        ]
        out += _table(title, [key, *usage_headers], rows)
    out += _table(
        "Latency (ms)",
        ["operation", "model", "calls", "p50", "p95", "p99"],
        [
            [r["operation"], r["model"], _num(r["calls"]), _num(r["p50_ms"]), _num(r["p95_ms"]), _num(r["p99_ms"])]
            for r in report["latency"]
        ],
    )
    out += _table("Errors by type", ["error.type", "spans"], [[r["error_type"], _num(r["count"])] for r in report["errors_by_type"]])
    for title, key in (("Slowest traces", "slowest_traces"), ("Most expensive traces", "most_expensive_traces")):
        out += _table(
            title,
            ["trace id", "root", "service", "ms", "cost", "spans"],
            [
                [r["trace_id"], r["root_name"], r["service"], _num(r["duration_ms"]), _cost(r["cost_usd"]), _num(r["spans"])]
                for r in report[key]
            ],
        )
    return "\n".join(out).rstrip() + "\n"
