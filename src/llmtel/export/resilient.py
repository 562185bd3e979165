"""Assemble the durable export path for the signals ``instrument()`` sets up, and observe it.

One `DeliveryPipeline` (with its spool subdirectory) per OTLP signal; `ResilientExport` hands the SDK its
span processor, log processor and metric exporter, and answers ``export_stats()``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from llmtel import semconv
from llmtel.config import Signal, SignalExport, SpoolSettings
from llmtel.export.durable import (
    Backoff,
    Batcher,
    DeliveryPipeline,
    DurableLogProcessor,
    DurableSpanProcessor,
    batch_tuning,
    durable_metric_exporter,
    encode_log_batch,
    encode_span_batch,
)
from llmtel.export.senders import Sender, build_sender, transport_options
from llmtel.export.spool import Spool
from llmtel.export.stats import Counters, ExportStats, RateLimitedWarning

_logger = logging.getLogger("llmtel.export")

# Share of the disk cap each signal's spool gets (spans and logs are the bulk; metrics are small).
_CAP_SHARE: dict[Signal, float] = {"traces": 0.5, "logs": 0.4, "metrics": 0.1}


def _check_count(key: str, environ: Mapping[str, str]) -> None:
    """``key``, when set, must be a whole number of at least 1: a queue or batch of 0.5 items is truncated to
    none, and the error would then blame the other variable it is compared with."""
    raw = (environ.get(key) or "").strip()
    if not raw:
        return
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{key}: {raw!r} is not a number") from None
    if not math.isfinite(value) or value < 1 or value != int(value):
        raise ValueError(f"{key}: must be a whole number of at least 1, got {raw!r}")


def check_batching(signal: Signal, environ: Mapping[str, str]) -> None:
    """Validate the variables the durable path batches ``signal`` by (``OTEL_BSP_*`` for traces,
    ``OTEL_BLRP_*`` for logs, ``LLMTEL_EXPORT_MAX_REQUEST_BYTES``), so that ``instrument()`` can reject a bad
    one, naming it, before any provider is built. Metrics are not batched by these."""
    if signal == "metrics":
        return
    prefix = "OTEL_BSP_" if signal == "traces" else "OTEL_BLRP_"
    for name in ("MAX_QUEUE_SIZE", "MAX_EXPORT_BATCH_SIZE"):
        _check_count(prefix + name, environ)
    batch_tuning(signal, environ)


class ResilientExport:
    """The durable pipelines of one ``instrument()`` call, keyed by signal."""

    def __init__(
        self,
        spool: SpoolSettings,
        *,
        shutdown_timeout: float,
        environ: Mapping[str, str] | None = None,
        backoff: tuple[float, float] = (0.5, 30.0),
        adopt_interval: float = 30.0,
    ) -> None:
        self.settings = spool
        self._environ = os.environ if environ is None else environ
        self._shutdown_timeout = shutdown_timeout
        self._backoff = backoff
        self._adopt_interval = adopt_interval
        self._warn = RateLimitedWarning()
        self.pipelines: dict[Signal, DeliveryPipeline] = {}

    def _open_spool(self, signal: Signal, counters: Counters) -> Spool | None:
        directory = Path(self.settings.directory) / signal
        try:
            return Spool(
                directory,
                signal=signal,
                max_bytes=max(64 * 1024, int(self.settings.max_bytes * _CAP_SHARE[signal])),
                on_drop=counters.drop,
            )
        except OSError as error:
            _logger.warning(
                "llmtel: cannot use %s as the %s spool (%s); undeliverable %s will be dropped",
                directory,
                signal,
                error,
                signal,
            )
            return None

    def _pipeline(self, signal: Signal, export: SignalExport) -> DeliveryPipeline:
        options = transport_options(signal, self._environ)
        counters = Counters()

        def reopen(fresh: Counters) -> tuple[Sender, Spool | None]:  # after a fork, in the child
            return build_sender(signal, export, options), self._open_spool(signal, fresh)

        pipeline = DeliveryPipeline(
            signal,
            build_sender(signal, export, options),
            self._open_spool(signal, counters),
            endpoint=export.endpoint,
            attempt_timeout=options.timeout,
            shutdown_timeout=self._shutdown_timeout,
            backoff=Backoff(*self._backoff),
            adopt_interval=self._adopt_interval,
            counters=counters,
            warn=self._warn,
            reopen=reopen,
        )
        self.pipelines[signal] = pipeline
        return pipeline

    def _batched(
        self, signal: Signal, export: SignalExport, encode: Callable[[list[Any]], bytes]
    ) -> tuple[DeliveryPipeline, Batcher[Any]]:
        """The signal's started pipeline and the batcher feeding it (encoding with ``encode``)."""
        pipeline = self._pipeline(signal, export)
        batcher: Batcher[Any] = Batcher(
            signal, batch_tuning(signal, self._environ), encode, pipeline.counters, self._warn
        )
        pipeline.attach(batcher)
        pipeline.start()
        return pipeline, batcher

    def span_processor(self, export: SignalExport) -> DurableSpanProcessor:
        return DurableSpanProcessor(*self._batched("traces", export, encode_span_batch))

    def log_processor(self, export: SignalExport) -> DurableLogProcessor:
        return DurableLogProcessor(*self._batched("logs", export, encode_log_batch))

    def metric_exporter(self, export: SignalExport, preferred: Any | None = None) -> Any:
        return durable_metric_exporter(self._pipeline("metrics", export).start(), preferred)

    def stats(self) -> dict[Signal, ExportStats]:
        """Counters per signal: exported, spooled, replayed, dropped (by reason), queued, in the spool."""
        return {signal: pipeline.stats() for signal, pipeline in self.pipelines.items()}

    def set_shutdown_timeout(self, seconds: float) -> None:
        """Bound the pipelines' coming shutdown (started by the SDK providers) to ``seconds``."""
        for pipeline in self.pipelines.values():
            pipeline.shutdown_timeout = max(0.0, seconds)

    def observe(self, meter_provider: Any) -> None:
        """Publish the counters as observable instruments ``llmtel.export.*`` on ``meter_provider``."""
        from opentelemetry.metrics import CallbackOptions, Observation

        meter = meter_provider.get_meter("llmtel.export")

        def counter(field: str) -> Any:
            def callback(options: CallbackOptions) -> list[Observation]:
                return [
                    Observation(getattr(stats, field), {semconv.LLMTEL_EXPORT_SIGNAL: signal})
                    for signal, stats in self.stats().items()
                ]

            return callback

        def dropped(options: CallbackOptions) -> list[Observation]:
            return [
                Observation(count, {semconv.LLMTEL_EXPORT_SIGNAL: signal, semconv.LLMTEL_EXPORT_DROP_REASON: reason})
                for signal, stats in self.stats().items()
                for reason, count in stats.dropped_by_reason.items()
            ]

        unit, what = "{item}", "items (spans, log records, metric points) "
        meter.create_observable_counter(
            semconv.METRIC_EXPORT_EXPORTED, [counter("exported")], unit, what + "delivered on the first attempt"
        )
        meter.create_observable_counter(
            semconv.METRIC_EXPORT_SPOOLED, [counter("spooled")], unit, what + "written to the disk spool"
        )
        meter.create_observable_counter(
            semconv.METRIC_EXPORT_REPLAYED, [counter("replayed")], unit, what + "delivered from the disk spool"
        )
        meter.create_observable_counter(semconv.METRIC_EXPORT_DROPPED, [dropped], unit, what + "lost for good")
        meter.create_observable_gauge(
            semconv.METRIC_EXPORT_SPOOL_SIZE, [counter("spool_bytes")], "By", "bytes waiting in the disk spool"
        )
