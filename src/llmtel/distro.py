"""Entry points for ``opentelemetry-instrument``: it configures the same pipeline as ``llmtel.instrument()``.

The CLI calls the distro, then the configurator, then loads every ``opentelemetry_instrumentor`` entry point
(honouring ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``), so the configurator builds providers only.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro
from opentelemetry.sdk._configuration import _BaseConfigurator

from llmtel.config import resolve_settings
from llmtel.setup import activate, configure


class LlmtelDistro(BaseDistro):
    """Selected with ``OTEL_PYTHON_DISTRO=llmtel`` (automatic when it is the only distro installed)."""

    def _configure(self, **kwargs: Any) -> None:
        """Nothing to preset: llmtel's defaults already match the standard OTLP defaults."""


class LlmtelConfigurator(_BaseConfigurator):
    """Selected with ``OTEL_PYTHON_CONFIGURATOR=llmtel`` (automatic when it is the only one installed)."""

    def _configure(self, **kwargs: Any) -> None:
        settings = resolve_settings()
        activate(lambda: configure(settings, instrument=False))
