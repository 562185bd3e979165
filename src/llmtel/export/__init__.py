"""Export: building the exporters each signal ships through (OTLP over HTTP or gRPC, console, none)."""

from llmtel.export.exporters import build_exporter

__all__ = ["build_exporter"]
