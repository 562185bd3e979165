"""Fixtures for the docker/ stack's checks."""

from __future__ import annotations

import pytest

from tests.docker.emitted_metrics import EmittedMetric, record_emitted_metrics


@pytest.fixture(scope="session")
def emitted_metrics() -> dict[str, EmittedMetric]:
    """Every metric llmtel's GenAI emission produces, by OTLP name."""
    return record_emitted_metrics()
