"""Requests sized for a collector with stock limits: the OpenTelemetry Collector, like any gRPC server left at its
defaults, refuses an OTLP/gRPC message over 4 MiB with RESOURCE_EXHAUSTED. A batch of records with captured
prompts easily exceeds that; before, it was retried forever, and every batch after it waited behind it."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from llmtel.export.durable import DEFAULT_MAX_REQUEST_BYTES, batch_tuning
from tests.export.test_durable import eventually


class StockGrpcCollector:
    """A gRPC server with gRPC's default limits taking OTLP logs: the bodies of the records of each request."""

    def __init__(self) -> None:
        self.requests: list[tuple[int, list[str]]] = []  # (size in bytes, bodies)
        self._server = grpc.server(futures.ThreadPoolExecutor(2))
        handler = grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.logs.v1.LogsService",
            {"Export": grpc.unary_unary_rpc_method_handler(self._export, response_serializer=lambda _: b"")},
        )
        self._server.add_generic_rpc_handlers((handler,))
        self.grpc_endpoint = f"http://127.0.0.1:{self._server.add_insecure_port('127.0.0.1:0')}"
        self._server.start()

    def _export(self, request: bytes, context: object) -> bytes:
        message = ExportLogsServiceRequest.FromString(request)
        bodies = [r.body.string_value for rl in message.resource_logs for sl in rl.scope_logs for r in sl.log_records]
        self.requests.append((len(request), bodies))
        return b""

    def bodies(self) -> list[str]:
        return [body for _, bodies in self.requests for body in bodies]

    def stop(self) -> None:
        self._server.stop(0)


@pytest.fixture
def collector() -> Iterator[StockGrpcCollector]:
    server = StockGrpcCollector()
    yield server
    server.stop()


def test_a_batch_too_large_for_one_request_is_split_and_all_of_it_arrives(collector, rig):
    r = rig(collector, "grpc", logs=True, env={"OTEL_BLRP_SCHEDULE_DELAY": "500"})
    logger = r.logger_provider.get_logger("app")
    for i in range(400):  # one batch of 400 records of 16 KiB: 6.4 MiB
        logger.emit(body=f"{i:03d}" + "x" * 16_384)
    assert eventually(lambda: len(collector.bodies()) == 400), collector.requests
    assert sorted(body[:3] for body in collector.bodies()) == [f"{i:03d}" for i in range(400)]
    assert len(collector.requests) >= 2
    assert all(size <= DEFAULT_MAX_REQUEST_BYTES for size, _ in collector.requests)
    stats = r.stats("logs")
    assert (stats.dropped, stats.spool_items) == (0, 0)


def test_one_record_too_large_for_any_request_is_dropped_and_the_rest_is_delivered(collector, rig, caplog):
    """It is sent alone, refused without the RetryInfo that would make RESOURCE_EXHAUSTED worth retrying, dropped
    and counted; nothing waits behind it."""
    r = rig(collector, "grpc", logs=True)
    logger = r.logger_provider.get_logger("app")
    logger.emit(body="before")
    logger.emit(body="x" * (5 << 20))
    for i in range(5):
        logger.emit(body=f"after {i}")
    assert eventually(lambda: len(collector.bodies()) == 6), collector.requests
    assert sorted(collector.bodies()) == ["after 0", "after 1", "after 2", "after 3", "after 4", "before"]
    assert eventually(lambda: r.stats("logs").dropped_by_reason == {"rejected": 1})
    assert r.stats("logs").spool_items == 0
    assert any("RESOURCE_EXHAUSTED" in rec.getMessage() and "rejected 1 logs" in rec.getMessage()
               for rec in caplog.records)


def test_the_request_size_limit_is_a_setting():
    assert batch_tuning("logs", {}).max_request_bytes == 4 * 1024 * 1024
    assert batch_tuning("traces", {"LLMTEL_EXPORT_MAX_REQUEST_BYTES": "16MiB"}).max_request_bytes == 16 * 1024 * 1024
    with pytest.raises(ValueError, match="LLMTEL_EXPORT_MAX_REQUEST_BYTES: 'lots' is not a size in bytes"):
        batch_tuning("logs", {"LLMTEL_EXPORT_MAX_REQUEST_BYTES": "lots"})
