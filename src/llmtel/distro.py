"""Entry points for ``opentelemetry-instrument``: it configures the same pipeline as ``llmtel.instrument()``.

The CLI calls the distro, then the configurator, then loads every ``opentelemetry_instrumentor`` entry point
(honouring ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``), so the configurator builds providers only.
"""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro
from opentelemetry.sdk._configuration import _BaseConfigurator

from llmtel.config import resolve_settings, sdk_disabled
from llmtel.setup import activate, check_genai, configure

_logger = logging.getLogger("llmtel")


class LlmtelDistro(BaseDistro):
    """Selected with ``OTEL_PYTHON_DISTRO=llmtel`` (automatic when it is the only distro installed)."""

    def _configure(self, **kwargs: Any) -> None:
        """Nothing to preset: llmtel's defaults already match the standard OTLP defaults."""

    def load_instrumentor(self, entry_point: EntryPoint, **kwargs: Any) -> None:
        """Load the instrumentor, unless ``OTEL_SDK_DISABLED`` is true: the CLI loads instrumentors whatever it
        says, and they would still run (llmtel's debug view printing prompts) with nothing exported."""
        if sdk_disabled():
            _logger.debug("llmtel: OTEL_SDK_DISABLED is true; %s is not loaded", entry_point.name)
            return
        super().load_instrumentor(entry_point, **kwargs)


class LlmtelConfigurator(_BaseConfigurator):
    """Selected with ``OTEL_PYTHON_CONFIGURATOR=llmtel`` (automatic when it is the only one installed)."""

    def _configure(self, **kwargs: Any) -> None:
        """Validate every setting, the instrumentors' GenAI ones included, then build the providers: a bad value
        raises before anything is set up, and the CLI then loads no instrumentor (the app runs untraced)."""
        settings = resolve_settings()
        if not settings.disabled:
            check_genai()
        activate(lambda: configure(settings, instrument=False))
