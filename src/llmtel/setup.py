"""``instrument()``: one call that sets up traces, metrics and logs over OTLP and instruments libraries.

What the application already set up wins: a signal whose global provider is already real is left alone and
only gets instrumentation. Shutdown is bounded by a deadline so a dead collector never hangs the process.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk.resources import Resource

from llmtel._version import __version__
from llmtel.config import (
    Settings,
    Signal,
    SignalExport,
    SpoolSettings,
    resolve_genai_settings,
    resolve_settings,
    resolve_spool_settings,
)
from llmtel.credentials import CredentialScrubber, mask_environment_secrets
from llmtel.cost import PriceBook
from llmtel.export import build_exporter
from llmtel.export.resilient import ResilientExport, check_batching
from llmtel.export.senders import transport_options
from llmtel.export.scrubbing import ScrubbingSpanExporter
from llmtel.export.stats import ExportStats
from llmtel.instrumentation import instrument_libraries, uninstrument_libraries
from llmtel.pipeline import PipelineSpanProcessor
from llmtel import logs as log_bridge
from llmtel.logs.redaction import reset_log_redaction, use_log_redaction
from llmtel.redaction import default_redactor

_logger = logging.getLogger("llmtel")


class _Unset:
    """Marks a keyword the caller did not pass (for keywords where None is a meaningful value)."""


_UNSET = _Unset()

_lock = threading.Lock()
_active: Telemetry | None = None
_warned_repeat = False


@dataclass(slots=True)
class Telemetry:
    """What ``instrument()`` set up, and the way to flush and stop it within a bounded time."""

    settings: Settings
    resource: Resource
    tracer_provider: Any | None = None  # SDK providers created by llmtel; None where the app's own was kept
    meter_provider: Any | None = None
    logger_provider: Any | None = None
    log_handler: log_bridge.OTelLogHandler | None = None
    instrumented: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()  # signals whose pre-existing provider was kept
    stale: tuple[str, ...] = ()  # signals still held by llmtel's providers of a setup since shut down: not exported
    export: ResilientExport | None = None  # the durable (spooling) export path, when on
    _stopped: bool = field(default=False, repr=False)

    def export_stats(self) -> dict[str, ExportStats]:
        """Per signal: items exported, spooled, replayed, dropped, and waiting in memory or on disk."""
        return dict(self.export.stats()) if self.export is not None else {}

    def _owned(self) -> list[Any]:
        return [p for p in (self.tracer_provider, self.meter_provider, self.logger_provider) if p is not None]

    def force_flush(self, timeout: float | None = None) -> bool:
        """Export what is buffered now; False if that did not finish within ``timeout`` seconds, or if some of
        it could not be delivered (with the spool on, it then waits on disk)."""
        budget = self.settings.shutdown_timeout if timeout is None else timeout
        outcomes: list[object] = []
        calls = [
            lambda left, p=p: outcomes.append(p.force_flush(timeout_millis=int(left * 1000))) for p in self._owned()
        ]
        on_time = _within_deadline(calls, budget, "force_flush")
        return on_time and all(outcome is not False for outcome in outcomes)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush and stop everything llmtel created, returning within ``timeout`` seconds.

        Returns False when the deadline passed first (data still in flight is then abandoned: the export
        threads are daemons and end with the process). Idempotent.
        """
        global _active
        with _lock:
            if self._stopped:
                return True
            self._stopped = True
            if _active is self:
                _active = None
        budget = self.settings.shutdown_timeout if timeout is None else timeout
        if self.log_handler is not None:
            log_bridge.detach(self.log_handler)
        log_bridge.uninstall_record_stamping()
        reset_log_redaction()
        uninstrument_libraries(self.instrumented)
        return _within_deadline([self._shutdown_call(p) for p in self._owned()], budget, "shutdown")

    def _shutdown_call(self, provider: Any) -> Callable[[float], None]:
        """Shut ``provider`` down, given the seconds left: the pipelines finish (sending or spooling) a little
        before that deadline."""

        def shut_down(left: float) -> None:
            if self.export is not None:
                self.export.set_shutdown_timeout(left * 0.9)
            provider.shutdown()

        return shut_down


def _within_deadline(calls: list[Callable[[float], Any]], budget: float, what: str) -> bool:
    """Run each call (given the seconds left) on its own daemon thread; wait for all of them until ``budget``
    seconds have passed. True when every call finished in time.

    Where no thread can be started (an interpreter shutting down: Python 3.12.0 and 3.12.1 refuse new threads in
    ``atexit`` handlers), the calls run here, one after another, each given what is left of the deadline. Skipping
    them would drop everything still buffered; in this thread they are bounded by the time they are given."""
    deadline = time.monotonic() + max(0.0, budget)
    threads: list[threading.Thread] = []
    here: list[Callable[[float], Any]] = []
    for call in calls:
        if not here:
            thread = threading.Thread(target=_quietly(call, budget), name=f"llmtel-{what}", daemon=True)
            try:
                thread.start()
            except RuntimeError:  # no new threads now: this one and the rest run here
                _logger.debug("llmtel: no thread can be started; %s runs in the calling thread", what)
            else:
                threads.append(thread)
                continue
        here.append(call)
    skipped = 0
    for call in here:
        left = deadline - time.monotonic()
        if left <= 0:
            skipped += 1
            continue
        _quietly(call, left)()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    late = sum(thread.is_alive() for thread in threads) + skipped
    overran = bool(here) and time.monotonic() > deadline  # a call run here finished, after the deadline
    if late:
        _logger.warning("llmtel: %s did not finish within %.1f s; unsent telemetry was dropped", what, budget)
    elif overran:
        _logger.warning("llmtel: %s took longer than %.1f s", what, budget)
    return not (late or overran)


def _quietly(call: Callable[..., Any], *args: Any) -> Callable[[], None]:
    def run() -> None:
        try:
            call(*args)
        except Exception:  # noqa: BLE001
            _logger.debug("llmtel: %r failed", call, exc_info=True)

    return run


def build_resource(settings: Settings) -> Resource:
    """``service.name`` and resource attributes from settings, plus ``telemetry.sdk.*`` and llmtel's version."""
    attributes: dict[str, Any] = dict(settings.resource_attributes)
    attributes["service.name"] = settings.service_name
    attributes["telemetry.distro.name"] = "llmtel"
    attributes["telemetry.distro.version"] = __version__
    # Resource.create adds telemetry.sdk.* and the environment's detectors; merging our resolved attributes
    # last makes keyword arguments win over OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES.
    return Resource.create(attributes).merge(Resource(attributes))


def _is_unset(provider: object) -> bool:
    """True while the global provider is still the API's placeholder proxy (nobody configured the signal)."""
    return type(provider).__name__ in ("ProxyTracerProvider", "_ProxyMeterProvider", "ProxyLoggerProvider")


# Per signal: how to read and set the global provider. The API sets each only once per process.
_GLOBALS: dict[Signal, tuple[Callable[[], Any], Callable[[Any], None]]] = {
    "traces": (trace.get_tracer_provider, trace.set_tracer_provider),
    "metrics": (metrics.get_meter_provider, metrics.set_meter_provider),
    "logs": (_logs.get_logger_provider, _logs.set_logger_provider),
}
_installed: dict[Signal, Any] = {}  # the providers llmtel made global; they stay global after shutdown()


def _build_sampler(settings: Settings) -> Any:
    from opentelemetry.sdk.trace import sampling

    ratio = settings.sampler_arg if settings.sampler_arg is not None else 1.0
    return {
        "always_on": lambda: sampling.ALWAYS_ON,
        "always_off": lambda: sampling.ALWAYS_OFF,
        "traceidratio": lambda: sampling.TraceIdRatioBased(ratio),
        "parentbased_always_on": lambda: sampling.ParentBased(sampling.ALWAYS_ON),
        "parentbased_always_off": lambda: sampling.ParentBased(sampling.ALWAYS_OFF),
        "parentbased_traceidratio": lambda: sampling.ParentBased(sampling.TraceIdRatioBased(ratio)),
    }[settings.sampler]()


def _one(export: SignalExport, kind: str) -> SignalExport:
    """``export`` narrowed to one of its exporters, the form ``build_exporter`` takes."""
    return replace(export, exporter=kind, exporters=(kind,))


def _build_traces(settings: Settings, resource: Resource, resilient: ResilientExport | None) -> Any:
    """A TracerProvider (not yet global) with a processor for each exporter of ``settings.traces``."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=resource, sampler=_build_sampler(settings), shutdown_on_exit=False)
    for kind in settings.traces.exporters:
        if resilient is not None and kind == "otlp":
            provider.add_span_processor(resilient.span_processor(settings.traces))
        else:
            exporter = build_exporter("traces", _one(settings.traces, kind))
            provider.add_span_processor(BatchSpanProcessor(ScrubbingSpanExporter(exporter)))
    return provider


def _build_metrics(settings: Settings, resource: Resource, resilient: ResilientExport | None) -> Any:
    """A MeterProvider (not yet global) with a periodic reader for each exporter of ``settings.metrics``."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    readers = []
    for kind in settings.metrics.exporters:
        exporter = build_exporter("metrics", _one(settings.metrics, kind))
        if resilient is not None and kind == "otlp":
            stock = exporter  # only its temporality / aggregation preferences are used
            exporter = resilient.metric_exporter(settings.metrics, stock)
            _quietly(stock.shutdown)()
        interval_ms = settings.metric_export_interval * 1000
        readers.append(PeriodicExportingMetricReader(exporter, export_interval_millis=interval_ms))
    return MeterProvider(metric_readers=readers, resource=resource, shutdown_on_exit=False)


def _build_logs(settings: Settings, resource: Resource, resilient: ResilientExport | None) -> Any:
    """A LoggerProvider (not yet global) with a processor for each exporter of ``settings.logs``."""
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    for kind in settings.logs.exporters:
        if resilient is not None and kind == "otlp":
            provider.add_log_record_processor(resilient.log_processor(settings.logs))
        else:
            exporter = build_exporter("logs", _one(settings.logs, kind))
            provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    return provider


_BUILDERS: dict[Signal, Callable[[Settings, Resource, ResilientExport | None], Any]] = {
    "traces": _build_traces,
    "metrics": _build_metrics,
    "logs": _build_logs,
}


def _readable_tls_files(signal: Signal, export: SignalExport, environ: Mapping[str, str]) -> None:
    """Each TLS file named for a TLS endpoint must be readable now: the exporters read them when they connect
    (gRPC as its channel is built, raising ``FileNotFoundError``), far from the setting that named them."""
    if export.insecure or export.endpoint.startswith("http://"):
        return
    for name in ("CERTIFICATE", "CLIENT_KEY", "CLIENT_CERTIFICATE"):
        for key in (f"OTEL_EXPORTER_OTLP_{signal.upper()}_{name}", f"OTEL_EXPORTER_OTLP_{name}"):
            path = (environ.get(key) or "").strip()
            if path:
                if not (os.path.isfile(path) and os.access(path, os.R_OK)):
                    raise ValueError(f"{key}: {path!r} is not a readable file")
                break


def check_exports(settings: Settings, signals: Iterable[Signal], environ: Mapping[str, str] | None = None) -> None:
    """Validate what the export of ``signals`` reads from the environment itself (timeouts, TLS files, the
    batching variables), raising ``ValueError`` naming the variable before anything is built: a failure after a
    provider went global would leave a half-built setup that cannot be replaced. The batching variables are
    checked with the spool off too, where the SDK's batch processors read them: an unparseable one would be
    logged and defaulted there, and a batch larger than the queue refused in words that name no variable."""
    env = os.environ if environ is None else environ
    for signal in signals:
        export = settings.signal(signal)
        if "otlp" not in export.exporters:
            continue
        transport_options(signal, env)  # OTEL_EXPORTER_OTLP_[SIGNAL_]TIMEOUT
        _readable_tls_files(signal, export, env)
        check_batching(signal, env)


def _signals_to_build() -> tuple[list[Signal], list[Signal], list[Signal]]:
    """Split the signals by their global provider: (unset: llmtel builds one; the application's own: kept;
    llmtel's own from a setup since shut down: stale, as the API allows no second provider)."""
    build: list[Signal] = []
    kept: list[Signal] = []
    stale: list[Signal] = []
    for signal, (get, _) in _GLOBALS.items():
        current = get()
        if _is_unset(current):
            build.append(signal)
        elif current is _installed.get(signal):
            stale.append(signal)
        else:
            kept.append(signal)
    return build, kept, stale


def _warn_stale(stale: list[Signal]) -> None:
    _logger.warning(
        "llmtel: instrument() after shutdown(): %s will not be exported. OpenTelemetry lets a process set each "
        "global provider only once, and llmtel's earlier (shut-down) ones are still set. Call shutdown() once, "
        "when the process is done; use force_flush() to export what is buffered before that.",
        ", ".join(stale),
    )


def _build_all(
    settings: Settings, resource: Resource, signals: list[Signal], resilient: ResilientExport | None
) -> dict[Signal, Any]:
    """Build the providers of ``signals`` without making any global; if one fails, shut down those built."""
    built: dict[Signal, Any] = {}
    try:
        for signal in signals:
            built[signal] = _BUILDERS[signal](settings, resource, resilient)
    except BaseException:
        for provider in built.values():
            _quietly(provider.shutdown)()
        raise
    return built


def configure(
    settings: Settings,
    *,
    instrument: bool = True,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    spool: SpoolSettings | None = None,
) -> Telemetry:
    """Build providers for every signal the application left unset, attach the log bridge, instrument.

    Everything that can fail is checked and built before any provider is made global, so a ``ValueError``
    leaves the process as it was. ``instrument=False`` is for the ``opentelemetry-instrument`` route, where the
    CLI loads instrumentors itself from entry points. ``spool`` defaults to the ``LLMTEL_SPOOL*`` environment.
    """
    resource = build_resource(settings)
    handle = Telemetry(settings=settings, resource=resource)
    if settings.disabled:
        return handle
    if spool is None:
        spool = resolve_spool_settings(service_name=settings.service_name)
    to_build, kept, stale = _signals_to_build()
    check_exports(settings, to_build)
    if stale:
        _warn_stale(stale)
    # The environment's credentials and the exporters' headers are masked by value wherever they would appear.
    signals = (settings.traces, settings.metrics, settings.logs)
    mask_environment_secrets(headers=[value for signal in signals for value in signal.headers.values()])
    resilient = ResilientExport(spool, shutdown_timeout=settings.shutdown_timeout) if spool.enabled else None
    built = _build_all(settings, resource, to_build, resilient)
    for signal, provider in built.items():
        _GLOBALS[signal][1](provider)
        _installed[signal] = provider
    handle.tracer_provider = built.get("traces")
    handle.meter_provider = built.get("metrics")
    handle.logger_provider = built.get("logs")
    handle.kept, handle.stale = tuple(kept), tuple(stale)
    if resilient is not None and resilient.pipelines:
        handle.export = resilient
        resilient.observe(handle.meter_provider or metrics.get_meter_provider())
    tracer_provider = handle.tracer_provider or trace.get_tracer_provider()
    if "traces" not in stale and hasattr(tracer_provider, "add_span_processor"):  # ours, or the app's SDK one
        tracer_provider.add_span_processor(CredentialScrubber())
        tracer_provider.add_span_processor(PipelineSpanProcessor())
    # Log text is masked as the settings say, with the user's content redactor when there is one.
    redactor = (options or {}).get("llmtel_openai", {}).get("redactor", default_redactor)
    use_log_redaction(settings.log_redaction, redactor)
    log_bridge.install_record_stamping()
    if handle.logger_provider is not None and settings.logs.exporters:
        handle.log_handler = log_bridge.OTelLogHandler(handle.logger_provider, level=settings.log_level)
        log_bridge.attach(handle.log_handler)
    if instrument:
        handle.instrumented = tuple(instrument_libraries(settings.disabled_instrumentations, options))
    _at_exit.append(handle)
    return handle


# The set-ups to shut down at interpreter exit. One hook, registered when llmtel is imported: ``atexit`` runs the
# hooks last registered first, so the app's own hooks registered after that (every one, under
# ``opentelemetry-instrument``) run before it, and what they log is still exported.
_at_exit: list[Telemetry] = []


def _shutdown_at_exit() -> None:
    while _at_exit:
        _at_exit.pop().shutdown()  # idempotent: a set-up the app shut down itself returns at once


atexit.register(_shutdown_at_exit)


def activate(build: Callable[[], Telemetry]) -> Telemetry:
    """Install ``build()``'s result as the process's one active setup, unless one is active already."""
    global _active, _warned_repeat
    with _lock:
        if _active is not None:
            if not _warned_repeat:
                _warned_repeat = True
                _logger.warning("llmtel: instrument() was already called; this call changes nothing")
            return _active
        _active = build()
        return _active


def active() -> Telemetry | None:
    """The active setup, if ``instrument()`` (or the ``opentelemetry-instrument`` route) created one."""
    return _active


def check_genai(prices: Mapping[str, Mapping[str, float]] | None = None, **genai: Any) -> None:
    """Validate the GenAI recording settings and the price overrides (``LLMTEL_PRICES`` too) now, raising
    ``ValueError`` naming the setting: the OpenAI instrumentor reads them later, where a failure only logs
    and leaves the library uninstrumented."""
    resolve_genai_settings(**genai)
    PriceBook(prices)


def instrument(
    *,
    service_name: str | None = None,
    resource_attributes: Mapping[str, str] | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: Mapping[str, str] | str | None = None,
    compression: str | None = None,
    insecure: bool | None = None,
    traces_exporter: str | None = None,
    metrics_exporter: str | None = None,
    logs_exporter: str | None = None,
    sampler: str | None = None,
    sampler_arg: float | None = None,
    metric_export_interval: float | None = None,
    shutdown_timeout: float | None = None,
    log_level: int | str | None = None,
    disabled_instrumentations: str | list[str] | tuple[str, ...] | frozenset[str] | None = None,
    log_redaction: bool | None = None,
    capture_content: bool | str | None = None,
    content_max_length: int | None = None,
    content_fields: str | Iterable[str] | None = None,
    redactor: Callable[[str], str] | None | _Unset = _UNSET,
    stream_usage: str | None = None,
    chunk_timing: bool | None = None,
    semconv_opt_in: str | None = None,
    prices: Mapping[str, Mapping[str, float]] | None = None,
    spool: bool | None = None,
    spool_dir: str | os.PathLike[str] | None = None,
    spool_max_bytes: int | str | None = None,
) -> Telemetry:
    """Set up OpenTelemetry traces, metrics and logs over OTLP and instrument every supported library.

    Keyword arguments override the standard ``OTEL_*`` environment variables, which override defaults;
    see the README's configuration table. Raises ``ValueError`` naming the setting when a value is
    unusable. Calling it again returns the first call's handle and changes nothing.
    """
    genai: dict[str, Any] = {
        key: value
        for key, value in (
            ("capture_content", capture_content),
            ("content_max_length", content_max_length),
            ("content_fields", content_fields),
            ("stream_usage", stream_usage),
            ("chunk_timing", chunk_timing),
            ("semconv_opt_in", semconv_opt_in),
            ("prices", prices),
        )
        if value is not None
    }
    if not isinstance(redactor, _Unset):
        genai["redactor"] = redactor
    check_genai(
        prices,
        capture_content=capture_content,
        content_max_length=content_max_length,
        content_fields=content_fields,
        stream_usage=stream_usage,
        chunk_timing=chunk_timing,
        semconv_opt_in=semconv_opt_in,
    )
    settings = resolve_settings(
        service_name=service_name,
        resource_attributes=resource_attributes,
        endpoint=endpoint,
        protocol=protocol,
        headers=headers,
        compression=compression,
        insecure=insecure,
        traces_exporter=traces_exporter,
        metrics_exporter=metrics_exporter,
        logs_exporter=logs_exporter,
        sampler=sampler,
        sampler_arg=sampler_arg,
        metric_export_interval=metric_export_interval,
        shutdown_timeout=shutdown_timeout,
        log_level=log_level,
        disabled_instrumentations=disabled_instrumentations,
        log_redaction=log_redaction,
    )
    spool_settings = resolve_spool_settings(
        service_name=settings.service_name, spool=spool, spool_dir=spool_dir, spool_max_bytes=spool_max_bytes
    )
    return activate(lambda: configure(settings, options={"llmtel_openai": genai}, spool=spool_settings))
