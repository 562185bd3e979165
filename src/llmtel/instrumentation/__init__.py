"""The library instrumentations ``instrument()`` turns on, keyed by their ``opentelemetry_instrumentor`` names.

Names are the entry-point names the ``opentelemetry-instrument`` CLI uses, so one vocabulary serves the
``disabled_instrumentations`` keyword and ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` on both routes.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Instrumentation:
    """One instrumentable library: its entry-point name, the module it patches, and the instrumentor class."""

    name: str
    library: str
    instrumentor: str  # "module:Class"
    extra: str  # the llmtel extra that installs the instrumentor
    # the distribution that must be installed, when the module's name is one an app's own package may have too
    distribution: str | None = None

    def library_available(self) -> bool:
        if self.distribution is not None:
            try:
                importlib.metadata.distribution(self.distribution)
            except importlib.metadata.PackageNotFoundError:
                return False
        try:
            return importlib.util.find_spec(self.library) is not None
        except (ImportError, ValueError):
            return False

    def load(self) -> Any:
        module, _, cls = self.instrumentor.partition(":")
        return getattr(importlib.import_module(module), cls)()


KNOWN: tuple[Instrumentation, ...] = (
    Instrumentation("llmtel_openai", "openai", "llmtel.instrumentation.openai:OpenAIInstrumentor", "openai"),
    Instrumentation("llmtel_openai_agents", "agents", "llmtel.instrumentation.openai_agents:OpenAIAgentsInstrumentor",
                    "agents", distribution="openai-agents"),
    Instrumentation("httpx", "httpx", "opentelemetry.instrumentation.httpx:HTTPXClientInstrumentor", "httpx"),
    Instrumentation("httpx2", "httpx2", "opentelemetry.instrumentation.httpx:HTTPX2ClientInstrumentor", "httpx"),
    Instrumentation(
        "requests", "requests", "opentelemetry.instrumentation.requests:RequestsInstrumentor", "requests"
    ),
)
KNOWN_NAMES: frozenset[str] = frozenset(i.name for i in KNOWN)


def instrument_libraries(
    disabled: Iterable[str] = (), options: Mapping[str, Mapping[str, Any]] | None = None
) -> list[str]:
    """Instrument every known library that is importable, not disabled and not instrumented already (by the app,
    or another route); return the names this call instrumented, which are what shutdown undoes.

    ``options`` maps an instrumentation's name to keyword arguments for its ``instrument()``. A failure in
    one instrumentor is logged and skipped: instrumentation never stops the application.
    """
    skip = set(disabled)
    done: list[str] = []
    if "*" in skip:
        return done
    for item in KNOWN:
        if item.name in skip or not item.library_available():
            continue
        try:
            instrumentor = item.load()
        except ImportError:
            _logger.info(
                "llmtel: %s is installed but its instrumentation is not; install llmtel[%s] to trace it",
                item.library,
                item.extra,
            )
            continue
        try:
            if instrumentor.is_instrumented_by_opentelemetry:
                continue  # the app's, or another route's: not ours to undo at shutdown
            instrumentor.instrument(**dict((options or {}).get(item.name, {})))
            done.append(item.name)
        except Exception:  # noqa: BLE001 - an instrumentor's failure must not reach the app
            _logger.warning("llmtel: instrumenting %s failed; continuing without it", item.name, exc_info=True)
    return done


def uninstrument_libraries(names: Iterable[str]) -> None:
    """Undo ``instrument_libraries`` for the given names."""
    by_name = {i.name: i for i in KNOWN}
    for name in names:
        item = by_name.get(name)
        if item is None:
            continue
        try:
            instrumentor = item.load()
            if instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.uninstrument()
        except Exception:  # noqa: BLE001
            _logger.warning("llmtel: uninstrumenting %s failed", name, exc_info=True)
