"""Every dashboard, alert and link query reads series and labels llmtel really emits, named as Prometheus stores them.

The expected names come from llmtel's own emission (see emitted_metrics.py) put through Prometheus'
OTLP translation (otlp_to_prometheus), never from a hand-written list.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.resources import SERVICE_NAME

from llmtel import semconv as sc
from tests.docker.emitted_metrics import EmittedMetric
from tests.docker.stack_files import DOCKER, load_yaml
from tests.docker.otlp_to_prometheus import Kind, bucket_label, label_name, series_names
from tests.docker.promql_selectors import Reads, Selector, reads

# Labels Prometheus' OTLP receiver adds to every series: job (service.namespace/service.name) and instance.
RECEIVER_LABELS = frozenset({"job", "instance"})


@dataclass(frozen=True)
class Series:
    """One Prometheus series name llmtel's metrics produce and the labels it may carry."""

    name: str
    labels: frozenset[str]
    buckets: frozenset[str]  # `le` values, for _bucket series


@pytest.fixture(scope="module")
def promoted_labels() -> frozenset[str]:
    promoted = load_yaml("prometheus/prometheus.yml")["otlp"]["promote_resource_attributes"]
    return frozenset(label_name(attribute) for attribute in promoted)


@pytest.fixture(scope="module")
def stored_series(emitted_metrics: dict[str, EmittedMetric], promoted_labels) -> dict[str, Series]:
    result = {}
    for metric in emitted_metrics.values():
        labels = frozenset(label_name(key) for key in metric.attributes) | promoted_labels | RECEIVER_LABELS
        for name in series_names(metric.name, metric.unit, metric.kind):
            if name.endswith("_bucket"):
                buckets = frozenset(bucket_label(b) for b in metric.bounds) | {"+Inf"}
                result[name] = Series(name, labels | {"le"}, buckets)
            else:
                result[name] = Series(name, labels, frozenset())
    return result


def dashboard() -> dict:
    return json.loads((DOCKER / "grafana/dashboards/llm-overview.json").read_text())


def datasources() -> list[dict]:
    return load_yaml("grafana/provisioning/datasources/datasources.yaml")["datasources"]


def dashboard_queries(datasource_type: str) -> list[tuple[str, str]]:
    """(where, expression) of every dashboard target on a data source type."""
    found = []
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            if target["datasource"]["type"] == datasource_type:
                found.append((panel["title"], target["expr"]))
    return found


def variable_queries() -> list[tuple[str, str, str]]:
    """(variable, selector expression, label) of every label_values() variable."""
    found = []
    for variable in dashboard()["templating"]["list"]:
        m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["query"])
        assert m, f"variable {variable['name']} is not a label_values() query"
        found.append((variable["name"], m.group(1), m.group(2)))
    return found


def alert_rules() -> list[dict]:
    return [rule for group in load_yaml("prometheus/rules/llmtel.rules.yml")["groups"] for rule in group["rules"]]


def trace_to_metrics_queries() -> list[tuple[str, str]]:
    """Tempo's span -> metrics queries, with ``$__tags`` expanded the way Grafana does for a span."""
    (tempo,) = [ds for ds in datasources() if ds["type"] == "tempo"]
    to_metrics = tempo["jsonData"]["tracesToMetrics"]
    tags = ", ".join(f'{tag.get("value") or tag["key"]}="x"' for tag in to_metrics["tags"])
    return [(q["name"], q["query"].replace("$$", "$").replace("$__tags", tags)) for q in to_metrics["queries"]]


def all_prometheus_queries() -> list[tuple[str, str]]:
    queries = dashboard_queries("prometheus")
    queries += [(f"variable {name}", selector) for name, selector, _ in variable_queries()]
    queries += [(f"alert {rule['alert']}", rule["expr"]) for rule in alert_rules()]
    queries += trace_to_metrics_queries()
    return queries


def check_reads(where: str, expr_reads: Reads, stored: dict[str, Series]) -> None:
    assert expr_reads.selectors, f"{where}: reads no series"
    labels_in_scope = {"le"}
    for selector in expr_reads.selectors:
        assert selector.name in stored, f"{where}: {selector.name!r} is not a series llmtel produces"
        series = stored[selector.name]
        labels_in_scope |= series.labels
        for matcher in selector.matchers:
            assert matcher.label in series.labels, f"{where}: {selector.name} has no label {matcher.label!r}"
            if matcher.label == "le":
                matching = [b for b in series.buckets if re.fullmatch(matcher.value, b)]
                assert len(matching) == 1, f"{where}: le=~{matcher.value!r} must pick one bucket boundary"
    unknown = expr_reads.grouping_labels - labels_in_scope
    assert not unknown, f"{where}: groups by labels the series do not have: {unknown}"


def test_llmtel_emits_the_metrics_semconv_names(emitted_metrics):
    semconv_metrics = {value for name, value in vars(sc).items() if name.startswith("METRIC_")}
    assert set(emitted_metrics) <= semconv_metrics
    assert {sc.METRIC_OPERATION_DURATION, sc.METRIC_TOKEN_USAGE, sc.METRIC_TIME_TO_FIRST_CHUNK,
            sc.METRIC_COST} <= set(emitted_metrics)
    assert emitted_metrics[sc.METRIC_COST].kind is Kind.COUNTER


def test_the_series_names_the_stack_relies_on(stored_series):
    assert {"gen_ai_client_operation_duration_seconds_bucket", "gen_ai_client_token_usage_sum",
            "gen_ai_client_operation_time_to_first_chunk_seconds_count", "llmtel_client_cost_USD_total"} <= set(stored_series)
    duration = stored_series["gen_ai_client_operation_duration_seconds_count"]
    assert {"gen_ai_request_model", "gen_ai_response_model", "gen_ai_operation_name", "error_type",
            "service_name"} <= duration.labels
    assert "gen_ai_token_type" in stored_series["gen_ai_client_token_usage_count"].labels
    assert {"llmtel_run_name", "error_type"} <= stored_series["llmtel_run_duration_seconds_bucket"].labels
    assert {"llmtel_run_name", "llmtel_run_cost_status"} <= stored_series["llmtel_run_cost_USD_bucket"].labels


def test_every_prometheus_query_reads_only_what_llmtel_emits(stored_series):
    queries = all_prometheus_queries()
    assert len(queries) >= 25
    for where, expr in queries:
        check_reads(where, reads(expr), stored_series)


def test_variables_offer_labels_the_series_have(stored_series):
    for name, selector, label in variable_queries():
        (series,) = reads(selector).selectors
        assert label in stored_series[series.name].labels, f"variable {name} lists unknown label {label}"


def test_the_checks_reject_a_misnamed_series_or_label(stored_series):
    for wrong in ('rate(gen_ai_client_operation_duration_count[5m])',  # unit suffix missing
                  'llmtel_client_cost_usd_total',  # the unit keeps its case
                  'sum by (model) (rate(gen_ai_client_token_usage_sum[5m]))',
                  'gen_ai_client_token_usage_bucket{le="65535"}',
                  'gen_ai_client_operation_time_per_output_chunk_seconds_count'):  # in semconv, not emitted
        with pytest.raises(AssertionError):
            check_reads("probe", reads(wrong), stored_series)


def selectors_of(exprs: list[str]) -> list[Selector]:
    return [s for expr in exprs for s in reads(expr).selectors]


def test_the_dashboard_covers_every_metric_llmtel_emits(stored_series, emitted_metrics):
    read = {s.name for s in selectors_of([expr for _, expr in dashboard_queries("prometheus")])}
    for metric in emitted_metrics.values():
        names = set(series_names(metric.name, metric.unit, metric.kind))
        assert names & read, f"the dashboard shows nothing of {metric.name}"


def test_the_dashboard_breaks_down_by_model_and_service():
    exprs = [expr for _, expr in dashboard_queries("prometheus")]
    grouped: dict[str, set[str]] = {}
    for expr in exprs:
        expr_reads = reads(expr)
        for selector in expr_reads.selectors:
            grouped.setdefault(selector.name, set()).update(expr_reads.grouping_labels)
    assert {"gen_ai_request_model", "le"} <= grouped["gen_ai_client_operation_duration_seconds_bucket"]
    assert {"gen_ai_request_model", "le"} <= grouped["gen_ai_client_operation_time_to_first_chunk_seconds_bucket"]
    assert {"gen_ai_request_model", "service_name", "gen_ai_token_type"} <= grouped["gen_ai_client_token_usage_sum"]
    assert {"gen_ai_request_model", "service_name", "gen_ai_response_model"} <= grouped["llmtel_client_cost_USD_total"]
    quantiles = {float(q) for expr in exprs for q in re.findall(r"histogram_quantile\(([\d.]+),", expr)}
    assert {0.5, 0.95} <= quantiles
    errors = [m for s in selectors_of(exprs) for m in s.matchers if m.label == "error_type"]
    assert errors and all((m.op, m.value) == ("!=", "") for m in errors)


def test_the_alerts_watch_errors_latency_cost_and_large_calls(emitted_metrics):
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert set(rules) == {"LLMErrorRateHigh", "LLMLatencyP95High", "LLMCostOverBudget", "LLMLargeTokenUsage"}
    errors = reads(rules["LLMErrorRateHigh"]["expr"])
    assert any(m.label == "error_type" for s in errors.selectors for m in s.matchers)
    assert "histogram_quantile(0.95" in rules["LLMLatencyP95High"]["expr"]
    assert {s.name for s in reads(rules["LLMCostOverBudget"]["expr"]).selectors} == {"llmtel_client_cost_USD_total"}
    large = reads(rules["LLMLargeTokenUsage"]["expr"])
    (le,) = [m for s in large.selectors for m in s.matchers if m.label == "le"]
    token_bounds = emitted_metrics[sc.METRIC_TOKEN_USAGE].bounds
    threshold = [b for b in token_bounds if re.fullmatch(le.value, bucket_label(b))]
    assert threshold == [65536] and f"{threshold[0]} tokens" == rules["LLMLargeTokenUsage"]["labels"]["threshold"]
    for rule in rules.values():
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_log_queries_select_streams_by_the_label_loki_makes_of_service_name():
    service_label = label_name(SERVICE_NAME)
    queries = dashboard_queries("loki")
    assert queries
    for where, expr in queries:
        stream = re.match(r"\{[^}]*\}", expr)
        assert stream, f"{where}: no stream selector"
        (selector,) = reads(stream.group()).selectors
        assert {m.label for m in selector.matchers} == {service_label}, where
        for matcher in selector.matchers:
            # Loki refuses selectors that can match the empty string: the variable's "All" must not be ".*".
            (service,) = [v for v in dashboard()["templating"]["list"] if f"${v['name']}" in matcher.value]
            assert not re.fullmatch(service["allValue"], ""), "Loki rejects an empty-compatible matcher"
