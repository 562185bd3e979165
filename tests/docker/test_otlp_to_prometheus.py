"""The name translation and the selector reader the stack's checks are built on."""

from __future__ import annotations

import pytest

from tests.docker.otlp_to_prometheus import Kind, bucket_label, label_name, metric_name, series_names
from tests.docker.promql_selectors import Matcher, Selector, matchers, reads


@pytest.mark.parametrize(
    ("name", "unit", "kind", "expected"),
    [
        # examples from the OpenTelemetry spec and Prometheus' translator
        ("http.server.duration", "s", Kind.HISTOGRAM, "http_server_duration_seconds"),
        ("requests.count", "1", Kind.COUNTER, "requests_count_total"),
        ("memory.usage", "By", Kind.GAUGE, "memory_usage_bytes"),
        ("system.network.io", "By/s", Kind.GAUGE, "system_network_io_bytes_per_second"),
        ("cpu.utilization", "1", Kind.GAUGE, "cpu_utilization_ratio"),
        ("process.runtime.seconds", "s", Kind.GAUGE, "process_runtime_seconds"),  # no doubled unit
        ("jobs.total", "", Kind.COUNTER, "jobs_total"),  # no doubled _total
        ("http.requests", "{request}/s", Kind.GAUGE, "http_requests_per_second"),  # annotations are dropped
        ("2xx.responses", "", Kind.GAUGE, "_2xx_responses"),
        # llmtel's own
        ("gen_ai.client.operation.duration", "s", Kind.HISTOGRAM, "gen_ai_client_operation_duration_seconds"),
        ("gen_ai.client.token.usage", "{token}", Kind.HISTOGRAM, "gen_ai_client_token_usage"),
        ("llmtel.client.cost", "USD", Kind.COUNTER, "llmtel_client_cost_USD_total"),  # unknown units kept as is
    ],
)
def test_metric_name(name, unit, kind, expected):
    assert metric_name(name, unit, kind) == expected


def test_series_names():
    assert series_names("a.b", "s", Kind.HISTOGRAM) == ("a_b_seconds_bucket", "a_b_seconds_sum", "a_b_seconds_count")
    assert series_names("a.b", "USD", Kind.COUNTER) == ("a_b_USD_total",)


def test_label_name():
    assert label_name("gen_ai.request.model") == "gen_ai_request_model"
    assert label_name("service.name") == "service_name"
    assert label_name("2xx") == "key_2xx"
    assert label_name("_private") == "key_private"
    assert label_name("__reserved") == "__reserved"


def test_bucket_label():
    assert [bucket_label(b) for b in (65536, 65536.0, 0.01, 10.24, 1)] == ["65536", "65536", "0.01", "10.24", "1"]


def test_reads_selectors_and_grouping_labels():
    expr = ('histogram_quantile(0.95, sum by (le, model) (rate(x_bucket{a="1", b=~"$v|y"}[$__rate_interval])))'
            ' / on (model) group_left sum(rate(y_count[5m])) without (z) > bool 0.5 and z')
    got = reads(expr)
    assert got.selectors == (
        Selector("x_bucket", (Matcher("a", "=", "1"), Matcher("b", "=~", "$v|y"))),
        Selector("y_count", ()),
        Selector("z", ()),
    )
    assert got.grouping_labels == {"le", "model", "z"}


def test_matchers_unquote_and_reject_garbage():
    assert matchers(r'{le=~"65536(\\.0)?", e!=""}') == (Matcher("le", "=~", r"65536(\.0)?"), Matcher("e", "!=", ""))
    with pytest.raises(ValueError, match="cannot read"):
        matchers("{$__tags}")
