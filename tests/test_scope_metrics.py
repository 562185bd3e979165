"""The metric points of runs, agents and tool runs, recorded through the real SDK and read back."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from llmtel import semconv as sc
from llmtel.scope_metrics import ScopeMetrics


@pytest.fixture
def recorded() -> Any:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    scopes = ScopeMetrics(provider.get_meter("test"))

    def collect() -> dict[str, tuple[str, list[Any]]]:
        found: dict[str, tuple[str, list[Any]]] = {}
        for resource_metrics in reader.get_metrics_data().resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    found[metric.name] = (metric.unit, list(metric.data.data_points))
        return found

    yield scopes, collect
    provider.shutdown()


def test_units_and_boundaries_are_the_conventions(recorded):
    scopes, collect = recorded
    scopes.run("ingest", 2.0, {}, None)
    scopes.agent("helpdesk", None, 1.0, 3, 0, None)
    scopes.tool("search", "datastore", None, 0.2, None)
    found = collect()
    expected = {
        sc.METRIC_INVOKE_WORKFLOW_DURATION: ("s", sc.WORKFLOW_DURATION_BUCKETS),
        sc.METRIC_INVOKE_AGENT_DURATION: ("s", sc.AGENT_DURATION_BUCKETS),
        sc.METRIC_INVOKE_AGENT_INFERENCE_CALLS: ("{inference_call}", sc.CALL_COUNT_BUCKETS),
        sc.METRIC_INVOKE_AGENT_TOOL_CALLS: ("{tool_call}", sc.CALL_COUNT_BUCKETS),
        sc.METRIC_EXECUTE_TOOL_DURATION: ("s", sc.DURATION_BUCKETS),
        sc.METRIC_RUN_DURATION: ("s", sc.RUN_DURATION_BUCKETS),
    }
    for name, (unit, bounds) in expected.items():
        got_unit, (point,) = found[name]
        assert (got_unit, tuple(point.explicit_bounds)) == (unit, bounds), name
    assert sc.METRIC_RUN_COST not in found  # no priced call: no cost point
    _, (calls,) = found[sc.METRIC_INVOKE_AGENT_INFERENCE_CALLS]
    assert (calls.sum, list(calls.bucket_counts[:3])) == (3, [0, 0, 1])  # 3 calls: in the (2, 4] bucket


def test_an_agent_without_name_or_model_records_only_what_it_has(recorded):
    scopes, collect = recorded
    scopes.agent(None, None, 0.5, 1, 1, KeyError("x"))
    found = collect()
    _, (duration,) = found[sc.METRIC_INVOKE_AGENT_DURATION]
    assert dict(duration.attributes) == {sc.ERROR_TYPE: "KeyError"}
    _, (calls,) = found[sc.METRIC_INVOKE_AGENT_INFERENCE_CALLS]
    assert dict(calls.attributes) == {}  # the counts are by agent name alone, never by error


def test_a_name_otlp_cannot_carry_is_repaired_in_the_attribute_set(recorded):
    scopes, collect = recorded
    scopes.tool("report-\udcff", None, "agent-\ud83d\ude00", 0.1, None)  # a lone surrogate; a split pair
    _, (point,) = collect()[sc.METRIC_EXECUTE_TOOL_DURATION]
    assert dict(point.attributes) == {sc.GEN_AI_TOOL_NAME: "report-\ufffd", sc.GEN_AI_AGENT_NAME: "agent-\U0001f600"}
    for value in point.attributes.values():
        value.encode("utf-8")  # what the OTLP encoders do: raises on a lone surrogate
