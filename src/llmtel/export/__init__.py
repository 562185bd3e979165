"""Export: the stock exporters each signal can ship through (OTLP over HTTP or gRPC, console, none), and the
durable OTLP path that spools to disk what the collector cannot take now (`ResilientExport`)."""

from llmtel.export.exporters import build_exporter
from llmtel.export.resilient import ResilientExport
from llmtel.export.stats import ExportStats

__all__ = ["ExportStats", "ResilientExport", "build_exporter"]
