"""What shipping a log record costs, and what masking its text adds: µs per ``logger.info`` through llmtel's
log handler (an SDK LoggerProvider with a batch processor, exporting nowhere) with credentials masked only
(``LLMTEL_LOG_REDACTION=false``) and with personal data masked too (the default), against the same call with no
handler shipping it. Then the maskers alone, per text, on the same lines.

Run: ``.venv/bin/python bench/bench_logs.py [--quick]``. The three set-ups alternate round by round; each figure is
the median over rounds of the mean per call in that round.
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
import timeit
from collections.abc import Callable, Sequence

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogExportResult, LogRecordExporter

from llmtel.credentials import redact_secrets
from llmtel.logs import OTelLogHandler
from llmtel.logs.redaction import reset_log_redaction, use_log_redaction
from llmtel.redaction import default_redactor, mask_personal_data

QUICK = "--quick" in sys.argv
ROUNDS = 15 if QUICK else 41
PER_ROUND = 200

# (message template, args, extra): what an instrumented pipeline logs.
LINES: Sequence[tuple[str, tuple[object, ...], dict[str, object] | None]] = (
    ("step %s finished in %.3f s with %d documents", ("retrieve", 0.412, 12), None),
    ('HTTP Request: %s %s "%s %d %s"', ("POST", "http://127.0.0.1:4318/v1/chat/completions", "HTTP/1.1", 200, "OK"),
     None),
    ("sending the receipt to %s", ("alice.liddell@example.org",), {"order_id": "ord-2026-11-24-0042", "items": 3}),
    ("processing batch", (), {"batch": 7, "source": "nightly"}),
)


class Nowhere(LogRecordExporter):
    def export(self, batch: Sequence[object]) -> LogExportResult:
        return LogExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def emit_all(logger: logging.Logger) -> Callable[[], None]:
    info = logger.info

    def run() -> None:
        for _ in range(PER_ROUND // len(LINES)):
            for template, args, extra in LINES:
                info(template, *args, extra=extra)

    return run


def main() -> None:
    provider = LoggerProvider()
    provider.add_log_record_processor(BatchLogRecordProcessor(Nowhere(), max_queue_size=65536,
                                                              schedule_delay_millis=200))
    plain = logging.getLogger("bench.plain")
    plain.addHandler(logging.NullHandler())
    shipped = logging.getLogger("bench.shipped")
    shipped.addHandler(OTelLogHandler(provider))
    for logger in (plain, shipped):
        logger.setLevel(logging.INFO)
        logger.propagate = False

    def with_redaction(personal: bool) -> Callable[[], None]:
        ship = emit_all(shipped)

        def run() -> None:
            use_log_redaction(personal)
            ship()

        return run

    setups = {"no handler": emit_all(plain), "credentials only": with_redaction(False),
              "personal data too": with_redaction(True)}
    for run in setups.values():
        run()  # warm up
    per_call: dict[str, list[float]] = {name: [] for name in setups}
    calls = PER_ROUND // len(LINES) * len(LINES)
    for round_ in range(ROUNDS):
        names = list(setups)
        names = names[round_ % 3:] + names[:round_ % 3]
        for name in names:
            start = time.perf_counter()
            setups[name]()
            per_call[name].append((time.perf_counter() - start) / calls * 1e6)
    reset_log_redaction()
    provider.shutdown()

    base = statistics.median(per_call["no handler"])
    print(f"log records: µs per logger.info call, median of {ROUNDS} rounds of {calls} calls over {len(LINES)} lines")
    for name, values in per_call.items():
        value = statistics.median(values)
        added = "" if name == "no handler" else f"  (+{value - base:.1f} µs shipped)"
        print(f"  {name:<18}{value:>8.1f} µs{added}")
    texts = [template % args for template, args, _ in LINES]
    print("maskers alone, µs per text (best of 5), on the same lines:")
    for name, mask in (("credentials", redact_secrets), ("personal data", mask_personal_data),
                       ("both (default)", default_redactor)):
        costs = [min(timeit.repeat(lambda t=text: mask(t), number=2000, repeat=5)) / 2000 * 1e6 for text in texts]
        print(f"  {name:<16}" + "".join(f"{cost:>7.1f}" for cost in costs) + f"   mean {statistics.mean(costs):.1f}")


if __name__ == "__main__":
    main()
