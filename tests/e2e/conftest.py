"""Fixtures for end-to-end tests."""

from __future__ import annotations

import pytest

from tests.e2e.harness import clean_env


@pytest.fixture
def otlp_env(otlp_receiver):
    """Environment pointing an app's OTLP export at the test receiver, over the protocol asked for."""

    def make(protocol: str = "http/protobuf", **extra: str) -> dict[str, str]:
        endpoint = otlp_receiver.grpc_endpoint if protocol == "grpc" else otlp_receiver.http_endpoint
        return clean_env(
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
            OTEL_SERVICE_NAME="e2e-app",
            OTEL_RESOURCE_ATTRIBUTES="deployment.environment.name=test",
            OTEL_METRIC_EXPORT_INTERVAL="600000",  # metrics leave once, at shutdown
            LLMTEL_SHUTDOWN_TIMEOUT="10",
            **extra,
        )

    return make
