"""Grafana provisioning: data sources link to each other by uid and trace id; the dashboard is well-formed."""

from __future__ import annotations

import json
import re

import pytest
from opentelemetry.sdk.resources import SERVICE_NAME

from tests.docker.stack_files import DOCKER, load_yaml
from tests.docker.otlp_to_prometheus import label_name

# Where the trace id of a record lives once stored (backend facts, not llmtel's choice): Loki's OTLP endpoint
# keeps it as structured metadata `trace_id`, Prometheus' OTLP receiver as the exemplar label `trace_id`.
LOKI_TRACE_ID_FIELD = "trace_id"
PROMETHEUS_EXEMPLAR_TRACE_ID = "trace_id"


def unescape(value: str) -> str:
    """Grafana provisioning writes a literal `$` as `$$`."""
    return value.replace("$$", "$")


@pytest.fixture(scope="module")
def datasources() -> dict[str, dict]:
    entries = load_yaml("grafana/provisioning/datasources/datasources.yaml")["datasources"]
    by_uid = {ds["uid"]: ds for ds in entries}
    assert len(by_uid) == len(entries), "data source uids must be unique"
    return by_uid


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads((DOCKER / "grafana/dashboards/llm-overview.json").read_text())


def of_type(datasources: dict[str, dict], kind: str) -> dict:
    (found,) = [ds for ds in datasources.values() if ds["type"] == kind]
    return found


def test_exactly_one_default_data_source_prometheus(datasources):
    defaults = [ds["uid"] for ds in datasources.values() if ds.get("isDefault")]
    assert defaults == [of_type(datasources, "prometheus")["uid"]]


def test_every_cross_link_names_a_data_source_of_the_right_type(datasources):
    links = []
    prometheus, loki, tempo = (of_type(datasources, k) for k in ("prometheus", "loki", "tempo"))
    links += [(d["datasourceUid"], "tempo") for d in prometheus["jsonData"]["exemplarTraceIdDestinations"]]
    links += [(d["datasourceUid"], "tempo") for d in loki["jsonData"]["derivedFields"]]
    for traces in (tempo, of_type(datasources, "jaeger")):
        links.append((traces["jsonData"]["tracesToLogsV2"]["datasourceUid"], "loki"))
    links.append((tempo["jsonData"]["tracesToMetrics"]["datasourceUid"], "prometheus"))
    links.append((tempo["jsonData"]["lokiSearch"]["datasourceUid"], "loki"))
    for uid, kind in links:
        assert uid in datasources and datasources[uid]["type"] == kind, f"link to {uid!r} should reach {kind}"


def test_a_log_line_opens_its_trace(datasources):
    (field,) = of_type(datasources, "loki")["jsonData"]["derivedFields"]
    assert field["matcherType"] == "label"  # structured metadata, not a regex over the log line
    assert field["matcherRegex"] == LOKI_TRACE_ID_FIELD
    assert unescape(field["url"]) == "${__value.raw}"


def test_a_trace_shows_its_logs(datasources):
    service_label = label_name(SERVICE_NAME)  # Loki's OTLP endpoint: service.name -> service_name stream label
    for kind in ("tempo", "jaeger"):
        to_logs = of_type(datasources, kind)["jsonData"]["tracesToLogsV2"]
        assert {"key": SERVICE_NAME, "value": service_label} in to_logs["tags"]
        assert to_logs["customQuery"] is True
        query = unescape(to_logs["query"])
        assert query == "{${__tags}} | " + f'{LOKI_TRACE_ID_FIELD}="${{__trace.traceId}}"'


def test_a_metric_exemplar_opens_its_trace(datasources):
    (destination,) = of_type(datasources, "prometheus")["jsonData"]["exemplarTraceIdDestinations"]
    assert destination["name"] == PROMETHEUS_EXEMPLAR_TRACE_ID


def test_dashboard_identity_and_layout(dashboard):
    assert dashboard["title"] == "LLM overview" and dashboard["uid"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells = set()
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, f"{panel['title']} overflows the 24-column grid"
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))


def test_dashboard_uses_only_provisioned_data_sources(dashboard, datasources):
    refs = [v["datasource"] for v in dashboard["templating"]["list"]]
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        refs.append(panel["datasource"])
        refs += [t["datasource"] for t in panel["targets"]]
    assert refs
    for ref in refs:
        assert ref["uid"] in datasources and datasources[ref["uid"]]["type"] == ref["type"], ref


def test_dashboard_variables_are_defined_before_use(dashboard):
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    text = json.dumps(dashboard["panels"]) + json.dumps([v["query"] for v in dashboard["templating"]["list"]])
    used = set(re.findall(r"\$(?!__)(\w+)", text))
    assert used and used <= defined, f"undefined variables: {used - defined}"


def test_dashboard_has_the_panels_users_ask_for(dashboard):
    titles = " | ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("calls", "error rate", "p50 / p95", "tokens per minute by model", "tokens per minute by service",
                  "cost per hour by model", "cost per hour by service", "time to first chunk", "logs",
                  "runs per minute", "run duration", "cost per run", "agent invocation", "per agent invocation",
                  "workflow duration", "tool run p50 / p95", "tool runs and failures"):
        assert topic in titles, f"no panel about {topic!r}"


def test_latency_panels_show_exemplars(dashboard):
    latency = [p for p in dashboard["panels"] if "p50 / p95" in p["title"].lower()]
    assert len(latency) == 6  # calls, first chunks, runs' durations and costs, agent invocations, tool runs
    for panel in latency:
        assert all(t.get("exemplar") for t in panel["targets"]), panel["title"]
