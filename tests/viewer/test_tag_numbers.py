"""Jaeger tag search on numeric attributes: a number matches however it is spelled (``1e-06``, ``1.0e-06``, ``2``
for a double 2.0), strings still match as text, and different numbers never match."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from llmtel.viewer import Viewer
from tests.viewer.conftest import TracerFactory, get_json, hex_trace_id

ATTRIBUTES = {
    "llmtel.cost.usd": 1e-06,
    "temp": 0.7,
    "big": 1e20,
    "whole": 2.0,
    "count": 42,
    "huge": 2**62 + 1,
    "neg": -0.5,
    "label": "2.0",  # a string that looks like a number: text rules
    "key \"quoted\"": 3.0,  # a key no JSON path can name: json_each is used
}


@pytest.fixture
def trace_id(viewer: Viewer, tracer_provider: TracerFactory) -> str:
    provider = tracer_provider("num-svc", region=1.5)
    with provider.get_tracer("t").start_as_current_span("op", attributes=ATTRIBUTES) as span:
        found = hex_trace_id(span)
    viewer.flush()
    return found


def _search(viewer: Viewer, tags: dict[str, object]) -> list[str]:
    query = "/api/traces?service=num-svc&tags=" + urllib.parse.quote(json.dumps(tags))
    status, body = get_json(viewer, query)
    assert status == 200, body
    return [trace["traceID"] for trace in body["data"]]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("llmtel.cost.usd", "1e-06"),
        ("llmtel.cost.usd", "1.0e-06"),
        ("llmtel.cost.usd", "1E-6"),
        ("llmtel.cost.usd", "0.000001"),
        ("llmtel.cost.usd", 1e-06),
        ("temp", "0.7"),
        ("big", "1e+20"),
        ("big", "1.0e+20"),
        ("big", "100000000000000000000"),
        ("big", 1e20),
        ("whole", "2"),
        ("whole", "2.0"),
        ("whole", 2),
        ("count", "42"),
        ("count", "42.0"),
        ("count", 42),
        ("huge", str(2**62 + 1)),
        ("neg", "-0.5"),
        ("neg", "-5e-1"),
        ("label", "2.0"),
        ("key \"quoted\"", "3"),
        ("region", "1.5"),  # a resource attribute
        ("region", "15e-1"),
    ],
)
def test_a_number_matches_however_it_is_written(viewer: Viewer, trace_id: str, key: str, value: object) -> None:
    assert _search(viewer, {key: value}) == [trace_id]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("llmtel.cost.usd", "1e-07"),
        ("llmtel.cost.usd", "1e-06x"),
        ("whole", "2.5"),
        ("whole", "3"),
        ("count", "41"),
        ("huge", str(2**62)),  # a float would round both to the same double: compared exactly as integers
        ("label", "2"),  # a string attribute is compared as text
        ("big", "1e400"),  # infinity is no attribute's value
        ("temp", "NaN"),
        ("region", "2"),
    ],
)
def test_other_values_do_not_match(viewer: Viewer, trace_id: str, key: str, value: object) -> None:
    assert _search(viewer, {key: value}) == []


def test_many_numeric_tag_filters_in_one_search(viewer: Viewer, trace_id: str) -> None:
    # The numeric comparison adds terms per filter; the most filters allowed must still make valid SQL.
    tags: dict[str, object] = {f"absent.{n}": n * 0.5 for n in range(62)}
    tags.update({"whole": "2", "key \"quoted\"": 3})
    assert len(tags) == 64
    assert _search(viewer, tags) == []
    assert _search(viewer, {"whole": "2", "count": 42.0, "llmtel.cost.usd": "1.0e-06"}) == [trace_id]
