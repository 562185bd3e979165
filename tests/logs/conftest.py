"""Fixtures shared by the log tests: a logger shipping through llmtel's handler, one writing JSON lines."""

from __future__ import annotations

import io
import json
import logging

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

import llmtel
from llmtel.logs import OTelLogHandler


@pytest.fixture
def exported():
    """A logger whose records llmtel's handler ships into an in-memory exporter: (logger, handler, records)."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = OTelLogHandler(provider)
    logger = logging.getLogger("tests.logs.app")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, handler, lambda: [r.log_record for r in exporter.get_finished_logs()]
    logger.removeHandler(handler)
    logger.propagate = True
    provider.shutdown()


@pytest.fixture
def json_lines():
    """A logger writing through ``JsonFormatter``: (logger, the lines written so far, parsed)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(llmtel.JsonFormatter())
    logger = logging.getLogger("tests.logs.json")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.propagate = True
