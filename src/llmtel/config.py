"""Resolved configuration: keyword arguments override environment variables, which override defaults.

Every value is read and validated once, at ``instrument()`` time, so a bad setting fails loudly with the
setting's name instead of deep inside an exporter thread later.
"""

from __future__ import annotations

import logging
import math
import os
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

from llmtel.semconv import SEMCONV_OPT_IN_GENAI_LATEST

Protocol = Literal["http/protobuf", "grpc"]
ExporterKind = Literal["otlp", "console", "none"]
Signal = Literal["traces", "metrics", "logs"]

SIGNALS: tuple[Signal, ...] = ("traces", "metrics", "logs")
_PROTOCOLS: tuple[str, ...] = get_args(Protocol)
_EXPORTER_KINDS: tuple[str, ...] = get_args(ExporterKind)
_SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
_COMPRESSIONS = ("gzip", "deflate", "none")
_LOG_LEVELS = {"NOTSET": 0, "DEBUG": 10, "INFO": 20, "WARNING": 30, "WARN": 30, "ERROR": 40, "CRITICAL": 50}

DEFAULT_ENDPOINTS: dict[str, str] = {"http/protobuf": "http://localhost:4318", "grpc": "http://localhost:4317"}
DEFAULT_SHUTDOWN_TIMEOUT = 2.0
DEFAULT_METRIC_EXPORT_INTERVAL = 60.0
DEFAULT_SERVICE_NAME = "unknown_service"


@dataclass(frozen=True, slots=True)
class SignalExport:
    """Where and how one signal (traces, metrics or logs) is exported."""

    exporter: ExporterKind
    protocol: Protocol
    endpoint: str  # full URL for http/protobuf (…/v1/traces); scheme://host:port for grpc
    headers: Mapping[str, str]
    compression: str | None
    insecure: bool  # grpc only: plaintext channel
    exporters: tuple[ExporterKind, ...] = ()  # every exporter named for the signal; ``exporter`` is the first

    def __post_init__(self) -> None:
        if not self.exporters and self.exporter != "none":  # built with one exporter only
            object.__setattr__(self, "exporters", (self.exporter,))


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything ``instrument()`` needs, resolved and validated."""

    disabled: bool
    service_name: str
    resource_attributes: Mapping[str, str]
    traces: SignalExport
    metrics: SignalExport
    logs: SignalExport
    sampler: str
    sampler_arg: float | None
    metric_export_interval: float  # seconds
    shutdown_timeout: float  # seconds
    log_level: int  # threshold for exporting stdlib log records
    disabled_instrumentations: frozenset[str]
    log_redaction: bool = True  # mask personal data in log records (credentials are masked regardless)
    source: Mapping[str, str] = field(default_factory=dict)  # setting -> "keyword" | env var name | "default"

    def signal(self, name: Signal) -> SignalExport:
        return getattr(self, name)


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


_logger = logging.getLogger("llmtel")
_warned: set[str] = set()  # each configuration warning is reported once per process


def _warn_once(message: str) -> None:
    """Log ``message`` as a WARNING the first time: the distro, the configurator and ``instrument()`` may all
    read the same variable."""
    if message not in _warned:
        _warned.add(message)
        _logger.warning("llmtel: %s", message)


def _otel_bool(value: object, origin: str) -> bool:
    """A boolean ``OTEL_*`` variable as the specification reads it: only ``true`` (any case) is true; anything
    else is false, with a warning unless it is ``false``. A typo never stops the application."""
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        _warn_once(f"{origin}: {value!r} is not true or false; read as false, as OpenTelemetry specifies")
    return text == "true"


def sdk_disabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``OTEL_SDK_DISABLED`` turns the SDK off (``true``, any case; other values warn and mean false)."""
    value = _env(os.environ if environ is None else environ, "OTEL_SDK_DISABLED")
    return value is not None and _otel_bool(value, "OTEL_SDK_DISABLED")


class _Resolver:
    """Picks each setting from keyword, then environment, then default, remembering where it came from."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.source: dict[str, str] = {}

    def pick(
        self, setting: str, keyword: object, *env_names: str, default: object = None, kwarg: str | None = None
    ) -> tuple[object, str]:
        """Return (value, origin); ``origin`` names where the value came from, for error messages."""
        if keyword is not None:
            self.source[setting] = "keyword"
            return keyword, f"keyword argument {(kwarg or setting)!r}"
        for name in env_names:
            value = _env(self.environ, name)
            if value is not None:
                self.source[setting] = name
                return value, name
        self.source[setting] = "default"
        return default, f"default for {setting!r}"


def _entries(raw: str) -> Iterator[tuple[int, str, str | None]]:
    """``(position, key, value)`` of each non-empty entry of a ``k1=v1,k2=v2`` list, position counted from 1
    over the commas; ``value`` is None for an entry without ``=``. Keys and values are URL-decoded."""
    for position, item in enumerate(raw.split(","), start=1):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        yield position, urllib.parse.unquote(key.strip()), urllib.parse.unquote(value.strip()) if sep else None


def _entry_problem(key: str, value: str | None) -> str | None:
    """Why an entry of a ``key=value`` list is unusable, in words that quote neither its key nor its value
    (an entry without ``=`` may be a whole ``Authorization: Bearer ...`` header); None when it is fine."""
    if value is None:
        return "has no '=' (expected 'key=value' pairs separated by commas)"
    if not key:
        return "has an empty key"
    return None


def parse_key_value_list(raw: str, setting: str) -> dict[str, str]:
    """Parse the W3C-baggage-like ``k1=v1,k2=v2`` format used by OTEL_*_HEADERS and OTEL_RESOURCE_ATTRIBUTES.

    A malformed entry raises ``ValueError`` naming the setting and the entry's position, never its text: these
    lists carry credentials."""
    result: dict[str, str] = {}
    for position, key, value in _entries(raw):
        problem = _entry_problem(key, value)
        if problem is not None:
            raise ValueError(f"{setting}: entry {position} {problem}; its text is not shown, it may hold a secret")
        result[key] = value  # type: ignore[assignment]  # a problem-free entry has a value
    return result


def _resource_attributes(raw: str, setting: str) -> dict[str, str]:
    """``OTEL_RESOURCE_ATTRIBUTES``, leniently: the specification says an invalid value is discarded with an
    error reported, so each malformed entry is dropped with a warning and the rest is kept (as the stock
    SDK's ``OTELResourceDetector`` does), rather than failing the application's start."""
    result: dict[str, str] = {}
    for position, key, value in _entries(raw):
        problem = _entry_problem(key, value)
        if problem is None:
            result[key] = value  # type: ignore[assignment]
        else:
            _warn_once(f"{setting}: entry {position} {problem}; it is ignored")
    return result


def _headers(value: object, origin: str) -> dict[str, str]:
    if isinstance(value, str):
        headers = parse_key_value_list(value, origin)
    elif isinstance(value, Mapping):
        headers = {str(k): str(v) for k, v in value.items()}
    else:
        raise ValueError(f"{origin}: expected a mapping or a 'key=value,...' string, got {type(value).__name__}")
    for key, val in headers.items():
        if any(ch in key for ch in " \t\r\n:"):  # likely 'Authorization: Bearer ...': do not quote it
            raise ValueError(f"{origin}: a header name holds a space, colon or line break and cannot be sent "
                             "(it is not shown, it may hold a secret)")
        if any(ch in val for ch in "\r\n"):
            raise ValueError(f"{origin}: header {key!r} has a value that cannot be sent (line breaks)")
    return headers


def _choice(value: object, allowed: tuple[str, ...], origin: str) -> str:
    text = str(value).strip().lower()
    if text not in allowed:
        raise ValueError(f"{origin}: {value!r} is not one of {', '.join(allowed)}")
    return text


def _positive_seconds(value: object, origin: str, *, unit_ms: bool = False) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{origin}: {value!r} is not a number") from None
    if unit_ms:
        number /= 1000.0
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{origin}: must be a positive number, got {value!r}")
    return number


def _validate_url(url: str, origin: str, protocol: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    if protocol == "grpc" and "://" not in url and ":" in url:
        parsed = urllib.parse.urlsplit("http://" + url)  # grpc accepts bare host:port
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"{origin}: {_shown(url)!r} is not a valid endpoint; expected e.g. http://localhost:4318")
    try:
        parsed.port  # noqa: B018 - raises on a non-numeric port
    except ValueError:
        raise ValueError(f"{origin}: {_shown(url)!r} has an invalid port") from None
    return urllib.parse.urlunsplit(parsed)


def _shown(url: str) -> str:
    """``url`` as an error may show it: without the credentials or token it may carry."""
    from llmtel.export.senders import display_endpoint  # imported here: the export layer reads this module

    return display_endpoint(url)


def _signal_export(
    signal: Signal,
    r: _Resolver,
    *,
    exporter: object,
    protocol: object,
    endpoint: object,
    headers: object,
    compression: object,
    insecure: object,
) -> SignalExport:
    upper = signal.upper()
    kind_raw, origin = r.pick(f"{signal}_exporter", exporter, f"OTEL_{upper}_EXPORTER", default="otlp")
    kinds = _exporter_kinds(kind_raw, origin)

    proto_raw, origin = r.pick(
        f"{signal}_protocol",
        protocol,
        f"OTEL_EXPORTER_OTLP_{upper}_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        default="http/protobuf",
        kwarg="protocol",
    )
    proto = _protocol(proto_raw, origin, from_keyword=protocol is not None)

    # A signal-specific endpoint is used as-is; the shared one gets the signal path appended (http only).
    specific = None if endpoint is not None else _env(r.environ, f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT")
    if specific is not None:
        r.source[f"{signal}_endpoint"] = f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT"
        raw_url = specific
        url = _validate_url(specific, f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT", proto)
    else:
        base_raw, origin = r.pick(
            f"{signal}_endpoint",
            endpoint,
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            default=DEFAULT_ENDPOINTS[proto],
            kwarg="endpoint",
        )
        raw_url = str(base_raw)
        url = _validate_url(raw_url, origin, proto)
        if proto == "http/protobuf":
            url = url.rstrip("/") + f"/v1/{signal}"
    has_scheme = "://" in raw_url

    hdr_raw, origin = r.pick(
        f"{signal}_headers",
        headers,
        f"OTEL_EXPORTER_OTLP_{upper}_HEADERS",
        "OTEL_EXPORTER_OTLP_HEADERS",
        default={},
        kwarg="headers",
    )
    hdrs = _headers(hdr_raw, origin)

    comp_raw, origin = r.pick(
        f"{signal}_compression",
        compression,
        f"OTEL_EXPORTER_OTLP_{upper}_COMPRESSION",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        default="none",
        kwarg="compression",
    )
    comp = _choice(comp_raw, _COMPRESSIONS, origin)
    if proto == "grpc" and comp == "deflate":
        raise ValueError(f"{origin}: the grpc protocol supports gzip or none, not deflate")

    ins_raw, origin = r.pick(
        f"{signal}_insecure",
        insecure,
        f"OTEL_EXPORTER_OTLP_{upper}_INSECURE",
        "OTEL_EXPORTER_OTLP_INSECURE",
        kwarg="insecure",
    )
    if ins_raw is None:
        insecure_flag = None
    else:  # the keyword is a Python bool; the variable is read as OpenTelemetry reads booleans
        insecure_flag = _bool(ins_raw, origin) if insecure is not None else _otel_bool(ins_raw, origin)
    if has_scheme:  # the scheme decides; OTEL_EXPORTER_OTLP_INSECURE applies to scheme-less grpc endpoints only
        secure = url.startswith("https://")
    else:
        secure = not insecure_flag

    return SignalExport(
        exporter=kinds[0] if kinds else "none",  # type: ignore[arg-type]
        protocol=proto,  # type: ignore[arg-type]
        endpoint=url,
        headers=hdrs,
        compression=None if comp == "none" else comp,
        insecure=not secure,
        exporters=kinds,  # type: ignore[arg-type]
    )


def _exporter_kinds(value: object, origin: str) -> tuple[str, ...]:
    """The exporters named for one signal: a comma list (or a list), as the stock SDK reads
    ``OTEL_TRACES_EXPORTER``. Repeats and ``none`` beside other names are dropped; ``()`` means none."""
    if isinstance(value, str):
        parts = value.split(",")
    else:
        parts = [str(part) for part in value]  # type: ignore[attr-defined]
    kinds: list[str] = []
    for part in parts:
        if not part.strip():
            continue
        kind = _choice(part, _EXPORTER_KINDS, origin)
        if kind != "none" and kind not in kinds:
            kinds.append(kind)
    return tuple(kinds)


def _protocol(value: object, origin: str, *, from_keyword: bool) -> str:
    """``http/protobuf`` or ``grpc``. ``http/json`` is a legal OTLP protocol the Python exporters do not
    implement: as a keyword it is an error; from the environment (shared with other SDKs in the deployment) it
    falls back to ``http/protobuf``, which OTLP/HTTP receivers such as the Collector take on the same paths."""
    text = str(value).strip().lower()
    if text == "http/json" and not from_keyword:
        _warn_once(f"{origin}: 'http/json' is not implemented by the Python exporters; using http/protobuf")
        return "http/protobuf"
    if text == "http/json":
        raise ValueError(f"{origin}: 'http/json' is not implemented by the Python exporters; use http/protobuf")
    return _choice(value, _PROTOCOLS, origin)


def _bool(value: object, origin: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{origin}: {value!r} is not a boolean (use true or false)")


def _names(value: object, origin: str) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(part.strip() for part in value.split(",") if part.strip())
    try:
        return frozenset(str(part).strip() for part in value)  # type: ignore[union-attr]
    except TypeError:
        raise ValueError(f"{origin}: expected a comma-separated string or a list of names") from None


def resolve_settings(
    *,
    environ: Mapping[str, str] | None = None,
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
) -> Settings:
    """Resolve every setting; raise ``ValueError`` naming the setting when a value is unusable."""
    env = os.environ if environ is None else environ
    r = _Resolver(env)

    r.pick("disabled", None, "OTEL_SDK_DISABLED", default="false")
    disabled = sdk_disabled(env)

    attrs_raw, origin = r.pick("resource_attributes", None, "OTEL_RESOURCE_ATTRIBUTES", default="")
    attrs = _resource_attributes(str(attrs_raw), origin)
    if resource_attributes is not None:
        r.source["resource_attributes"] = "keyword"
        attrs.update({str(k): str(v) for k, v in resource_attributes.items()})

    name_raw, _ = r.pick(
        "service_name", service_name, "OTEL_SERVICE_NAME", default=attrs.get("service.name", DEFAULT_SERVICE_NAME)
    )
    if not str(name_raw).strip():
        raise ValueError("service_name: must not be empty")

    per_signal = {"traces": traces_exporter, "metrics": metrics_exporter, "logs": logs_exporter}
    exports = {
        signal: _signal_export(
            signal,
            r,
            exporter=per_signal[signal],
            protocol=protocol,
            endpoint=endpoint,
            headers=headers,
            compression=compression,
            insecure=insecure,
        )
        for signal in SIGNALS
    }

    sampler_raw, origin = r.pick("sampler", sampler, "OTEL_TRACES_SAMPLER", default="parentbased_always_on")
    sampler_name = _choice(sampler_raw, _SAMPLERS, origin)
    arg_raw, origin = r.pick("sampler_arg", sampler_arg, "OTEL_TRACES_SAMPLER_ARG")
    ratio: float | None = None
    if sampler_name.endswith("traceidratio"):
        try:
            ratio = 1.0 if arg_raw is None else float(arg_raw)  # type: ignore[arg-type]
        except ValueError:
            raise ValueError(f"{origin}: {arg_raw!r} is not a number") from None
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"{origin}: sampling ratio must be between 0 and 1, got {arg_raw!r}")

    interval_raw, origin = r.pick("metric_export_interval", metric_export_interval, "OTEL_METRIC_EXPORT_INTERVAL")
    if interval_raw is None:
        interval = DEFAULT_METRIC_EXPORT_INTERVAL
    else:  # the environment variable is in milliseconds, the keyword in seconds
        interval = _positive_seconds(interval_raw, origin, unit_ms=metric_export_interval is None)

    shutdown_raw, origin = r.pick(
        "shutdown_timeout", shutdown_timeout, "LLMTEL_SHUTDOWN_TIMEOUT", default=DEFAULT_SHUTDOWN_TIMEOUT
    )
    shutdown = _positive_seconds(shutdown_raw, origin)

    level_raw, origin = r.pick("log_level", log_level, "OTEL_PYTHON_LOG_LEVEL", default="NOTSET")
    if isinstance(level_raw, int) and not isinstance(level_raw, bool):
        level = level_raw
    elif str(level_raw).strip().upper() in _LOG_LEVELS:
        level = _LOG_LEVELS[str(level_raw).strip().upper()]
    else:
        raise ValueError(f"{origin}: {level_raw!r} is not a log level (DEBUG, INFO, WARNING, ERROR, CRITICAL)")

    dis_raw, origin = r.pick(
        "disabled_instrumentations", disabled_instrumentations, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", default=""
    )
    disabled_names = _names(dis_raw, origin)

    redaction_raw, origin = r.pick("log_redaction", log_redaction, "LLMTEL_LOG_REDACTION", default=True)
    redact_logs = _bool(redaction_raw, origin)

    return Settings(
        disabled=disabled,
        service_name=str(name_raw).strip(),
        resource_attributes=attrs,
        traces=exports["traces"],
        metrics=exports["metrics"],
        logs=exports["logs"],
        sampler=sampler_name,
        sampler_arg=ratio,
        metric_export_interval=interval,
        shutdown_timeout=shutdown,
        log_level=level,
        disabled_instrumentations=disabled_names,
        log_redaction=redact_logs,
        source=r.source,
    )


DEFAULT_SPOOL_MAX_BYTES = 64 * 1024 * 1024
_BYTE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
               "g": 1000**3, "gb": 1000**3, "gib": 1024**3}


@dataclass(frozen=True, slots=True)
class SpoolSettings:
    """Resilient export: whether undeliverable telemetry is kept on disk, where, and how much at most."""

    enabled: bool
    directory: str  # the service's spool; each signal uses a subdirectory
    max_bytes: int  # for all signals together


def default_spool_directory(service_name: str, environ: Mapping[str, str]) -> str:
    """``$XDG_CACHE_HOME/llmtel/spool/<service>``, else ``~/.cache/llmtel/spool/<service>``."""
    cache = _env(environ, "XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in service_name).strip(".") or "service"
    return os.path.join(cache, "llmtel", "spool", safe)


def byte_size(value: object, origin: str) -> int:
    """A size in bytes, given as a number or with a unit (``64MiB``, ``500MB``); ``ValueError`` names ``origin``."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        text = str(value).strip().lower().replace(" ", "")
        digits = text.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = _BYTE_UNITS.get(text[len(digits) :])
        try:
            number = int(float(digits) * unit) if unit is not None else None
        except (ValueError, OverflowError):  # not a number, NaN, or infinite (1e400)
            number = None
        if number is None:
            raise ValueError(f"{origin}: {value!r} is not a size in bytes (e.g. 67108864 or 64MiB)")
    if number < 64 * 1024:
        raise ValueError(f"{origin}: must be at least 65536 bytes, got {value!r}")
    return number


def resolve_spool_settings(
    *,
    service_name: str,
    environ: Mapping[str, str] | None = None,
    spool: bool | None = None,
    spool_dir: str | os.PathLike[str] | None = None,
    spool_max_bytes: int | str | None = None,
) -> SpoolSettings:
    """Resolve ``LLMTEL_SPOOL``, ``LLMTEL_SPOOL_DIR``, ``LLMTEL_SPOOL_MAX_BYTES`` (keywords win)."""
    env = os.environ if environ is None else environ
    r = _Resolver(env)
    enabled_raw, origin = r.pick("spool", spool, "LLMTEL_SPOOL", default=True)
    enabled = _bool(enabled_raw, origin)
    dir_raw, origin = r.pick("spool_dir", spool_dir, "LLMTEL_SPOOL_DIR")
    if dir_raw is None:
        directory = default_spool_directory(service_name, env)
    else:
        directory = os.path.abspath(os.path.expanduser(os.fspath(dir_raw)))  # type: ignore[arg-type]
        if os.path.exists(directory) and not os.path.isdir(directory):
            raise ValueError(f"{origin}: {dir_raw!r} exists and is not a directory")
    size_raw, origin = r.pick(
        "spool_max_bytes", spool_max_bytes, "LLMTEL_SPOOL_MAX_BYTES", default=DEFAULT_SPOOL_MAX_BYTES
    )
    return SpoolSettings(enabled=enabled, directory=directory, max_bytes=byte_size(size_raw, origin))


StreamUsage = Literal["off", "inject"]


@dataclass(frozen=True, slots=True)
class GenAISettings:
    """How GenAI calls are recorded: content capture and its bounds, stream usage, price overrides."""

    capture_content: str  # a CaptureMode value
    content_max_length: int
    redact_content: bool
    stream_usage: StreamUsage
    content_fields: frozenset[str]  # what of the captured content is exported (``llmtel.genai.content``)
    chunk_timing: bool = False  # one time_per_output_chunk point per streamed chunk (costs a record each)
    debug: bool = False  # LLMTEL_DEBUG: a readable console view of each call on stderr (environment only)
    latest_metrics: bool = False  # OTEL_SEMCONV_STABILITY_OPT_IN has gen_ai_latest_experimental: newest names


_GENAI_OPT_INS = frozenset({SEMCONV_OPT_IN_GENAI_LATEST})


def _genai_latest(value: object, origin: str, *, strict: bool) -> bool:
    """Whether the comma list of ``OTEL_SEMCONV_STABILITY_OPT_IN`` asks for the newest GenAI conventions.

    The variable is shared with every instrumentation: tokens of other areas (``http``, ``database``) are theirs.
    An unknown ``gen_ai`` token is a typo of ours to report: an error when passed as a keyword, a warning when
    read from the environment (an app must not fail to start over a variable other libraries read too).
    """
    tokens = [value] if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    names = {part.strip() for token in tokens for part in str(token).split(",") if part.strip()}
    unknown = sorted(name for name in names if name.startswith("gen_ai") and name not in _GENAI_OPT_INS)
    if unknown:
        message = (
            f"{origin}: unknown GenAI opt-in {', '.join(map(repr, unknown))}; "
            f"the one known is {SEMCONV_OPT_IN_GENAI_LATEST!r}"
        )
        if strict:
            raise ValueError(message)
        _warn_once(f"{message} (ignored)")
    return SEMCONV_OPT_IN_GENAI_LATEST in names


def resolve_genai_settings(
    *,
    environ: Mapping[str, str] | None = None,
    capture_content: bool | str | None = None,
    content_max_length: int | None = None,
    redact_content: bool | None = None,
    stream_usage: str | None = None,
    chunk_timing: bool | str | None = None,
    content_fields: str | Iterable[str] | None = None,
    semconv_opt_in: str | Iterable[str] | None = None,
) -> GenAISettings:
    """Resolve the GenAI recording settings (keyword > environment > default); ``ValueError`` names the setting."""
    from llmtel.genai.content import parse_capture_mode, parse_content_fields

    r = _Resolver(os.environ if environ is None else environ)
    mode_raw, origin = r.pick(
        "capture_content", capture_content, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", default="false"
    )
    mode = parse_capture_mode(mode_raw, origin)

    length_raw, origin = r.pick("content_max_length", content_max_length, "LLMTEL_CONTENT_MAX_LENGTH", default=4096)
    try:
        length = int(length_raw)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ValueError(f"{origin}: {length_raw!r} is not a whole number") from None
    if length < 1:
        raise ValueError(f"{origin}: must be at least 1, got {length_raw!r}")

    fields_raw, origin = r.pick("content_fields", content_fields, "LLMTEL_CONTENT_FIELDS", default="all")
    fields = parse_content_fields(fields_raw, origin)

    redact_raw, origin = r.pick("redact_content", redact_content, "LLMTEL_CONTENT_REDACTION", default=True)
    redact = _bool(redact_raw, origin)

    usage_raw, origin = r.pick("stream_usage", stream_usage, "LLMTEL_STREAM_USAGE", default="off")
    usage = _choice(usage_raw, ("off", "inject"), origin)

    timing_raw, origin = r.pick("chunk_timing", chunk_timing, "LLMTEL_CHUNK_TIMING", default=False)
    timing = _bool(timing_raw, origin)

    debug_raw, origin = r.pick("debug", None, "LLMTEL_DEBUG", default="false")
    debug = _bool(debug_raw, origin)

    opt_in_raw, origin = r.pick("semconv_opt_in", semconv_opt_in, "OTEL_SEMCONV_STABILITY_OPT_IN", default="")
    latest = _genai_latest(opt_in_raw, origin, strict=r.source["semconv_opt_in"] == "keyword")

    return GenAISettings(
        capture_content=mode.value,
        content_max_length=length,
        redact_content=redact,
        stream_usage=usage,  # type: ignore[arg-type]
        content_fields=fields,
        chunk_timing=timing,
        debug=debug,
        latest_metrics=latest,
    )
