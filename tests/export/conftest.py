"""Durable export pipelines wired to the real OTLP receiver, with fast retry pacing for tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.trace import TracerProvider

from llmtel.config import SpoolSettings, resolve_settings
from llmtel.export.resilient import ResilientExport
from llmtel.receiver import OTLPReceiver
from tests.export.collectors import DownReceiver

PROTOCOLS = ["http/protobuf", "grpc"]


@dataclass
class Rig:
    """One ResilientExport with a TracerProvider and LoggerProvider feeding it."""

    export: ResilientExport
    tracer_provider: TracerProvider
    logger_provider: LoggerProvider | None

    @property
    def tracer(self) -> Any:
        return self.tracer_provider.get_tracer("test")

    def stats(self, signal: str = "traces") -> Any:
        return self.export.pipelines[signal].stats()

    def shutdown(self, timeout: float = 2.0) -> bool:
        self.export.set_shutdown_timeout(timeout)
        self.tracer_provider.shutdown()
        if self.logger_provider is not None:
            self.logger_provider.shutdown()
        return all(p.shutdown(timeout) for p in self.export.pipelines.values())  # each returns its first result


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def rig(spool_dir: Path) -> Iterator[Any]:
    """``rig(endpoint_receiver, protocol, **options)`` builds a Rig; every Rig is shut down afterwards."""
    made: list[Rig] = []

    def build(
        receiver: OTLPReceiver,
        protocol: str = "http/protobuf",
        *,
        directory: Path | None = None,
        max_bytes: int = 64 << 20,
        attempt_timeout: float = 2.0,
        shutdown_timeout: float = 2.0,
        logs: bool = False,
        env: dict[str, str] | None = None,
    ) -> Rig:
        endpoint = receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint
        settings = resolve_settings(environ={}, endpoint=endpoint, protocol=protocol)
        environ = {
            "OTEL_EXPORTER_OTLP_TIMEOUT": str(attempt_timeout),
            "OTEL_BSP_SCHEDULE_DELAY": "50",
            "OTEL_BLRP_SCHEDULE_DELAY": "50",
            **(env or {}),
        }
        export = ResilientExport(
            SpoolSettings(True, str(directory or spool_dir), max_bytes),
            shutdown_timeout=shutdown_timeout,
            environ=environ,
            backoff=(0.02, 0.2),
            adopt_interval=0.1,
        )
        tracer_provider = TracerProvider(shutdown_on_exit=False)
        tracer_provider.add_span_processor(export.span_processor(settings.traces))
        logger_provider = None
        if logs:
            logger_provider = LoggerProvider(shutdown_on_exit=False)
            logger_provider.add_log_record_processor(export.log_processor(settings.logs))
        made.append(rig := Rig(export, tracer_provider, logger_provider))
        return rig

    yield build
    for made_rig in made:
        made_rig.shutdown(0.3)


@pytest.fixture
def down_receiver() -> Iterator[OTLPReceiver]:
    """A receiver that is NOT started: the collector is down until the test starts it."""
    receiver = DownReceiver()
    yield receiver
    receiver.stop()


def emit_spans(rig: Rig, n: int, name: str = "work") -> None:
    tracer = rig.tracer
    for i in range(n):
        with tracer.start_as_current_span(name, attributes={"i": i}):
            pass


def received_ids(receiver: OTLPReceiver, name: str = "work") -> list[str]:
    return [s.span_id for s in receiver.store.spans() if s.name == name]
