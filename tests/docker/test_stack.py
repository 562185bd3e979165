"""The docker/ stack cannot start here (no Docker engine): check that its files parse and agree with each other."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import pytest

from llmtel.config import DEFAULT_ENDPOINTS
from tests.docker.stack_files import DOCKER, load_yaml

COLLECTOR_UID = 10001  # the user otel/opentelemetry-collector-contrib images run as
JAEGER_OTLP_GRPC_PORT = 4317  # Jaeger v2 receives OTLP itself (no config file here to read it from)
JAEGER_UI_PORT = 16686
PROMETHEUS_PORT = 9090  # Prometheus' default --web.listen-address


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml("docker-compose.yml")


@pytest.fixture(scope="module")
def collector() -> dict:
    return load_yaml("otel-collector.yaml")


def services(compose: dict) -> dict:
    return compose["services"]


def published(service: dict) -> dict[int, tuple[str, int]]:
    """container port -> (host address, host port) for "addr:host:container" entries."""
    result = {}
    for entry in service.get("ports", []):
        host_addr, host_port, container_port = str(entry).split(":")
        result[int(container_port)] = (host_addr, int(host_port))
    return result


def mounts(service: dict) -> dict[str, str]:
    """container path -> source (a ./relative path or a named volume) of a service's volumes."""
    result = {}
    for entry in service.get("volumes", []):
        source, target, *_ = str(entry).split(":")
        result[target] = source
    return result


def port_of(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def test_every_yaml_and_json_file_parses():
    files = sorted(DOCKER.rglob("*.y*ml")) + sorted(DOCKER.rglob("*.json"))
    assert len(files) >= 10
    for path in files:
        parsed = json.loads(path.read_text()) if path.suffix == ".json" else load_yaml(str(path.relative_to(DOCKER)))
        assert isinstance(parsed, dict), f"{path} is empty or not a mapping"


def test_every_image_is_pinned_to_a_release(compose):
    for name, service in services(compose).items():
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", image), f"{name} image {image!r} is not pinned to a release"


def test_ports_are_published_on_loopback_only(compose):
    for name, service in services(compose).items():
        for addr, _ in published(service).values():
            assert addr == "127.0.0.1", f"{name} publishes on {addr}"


def test_named_volumes_are_declared_and_config_files_exist(compose):
    for name, service in services(compose).items():
        for target, source in mounts(service).items():
            if source.startswith("./"):
                assert (DOCKER / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"


def test_collector_listens_where_llmtel_sends_by_default(compose, collector):
    ports = published(services(compose)["otel-collector"])
    protocols = collector["receivers"]["otlp"]["protocols"]
    for protocol, key in (("grpc", "grpc"), ("http/protobuf", "http")):
        default_port = port_of(DEFAULT_ENDPOINTS[protocol])
        assert ports[port_of(protocols[key]["endpoint"])] == ("127.0.0.1", default_port)
    health = port_of(collector["extensions"]["health_check"]["endpoint"])
    assert health in published(services(compose)["otel-collector"])


def test_collector_components_are_defined_and_used(collector):
    used: set[tuple[str, str]] = set()
    for signal, pipeline in collector["service"]["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in collector[kind], f"{signal} uses undefined {kind[:-1]} {component}"
                used.add((kind, component))
        assert pipeline["processors"][0] == "memory_limiter", f"{signal}: memory_limiter must come first"
        assert "batch" in pipeline["processors"], f"{signal} has no batch processor"
    for kind in ("receivers", "processors", "exporters"):
        for component in collector[kind]:
            assert (kind, component) in used, f"{kind[:-1]} {component} is defined but in no pipeline"
    assert set(collector["service"]["extensions"]) == set(collector["extensions"])


def test_every_exporter_queues_on_disk_in_a_volume_the_collector_owns(compose, collector):
    storage_dirs = {
        name: ext["directory"] for name, ext in collector["extensions"].items() if name.split("/")[0] == "file_storage"
    }
    assert storage_dirs
    for name, exporter in collector["exporters"].items():
        queue = exporter["sending_queue"]
        assert queue["enabled"] is True and queue["storage"] in storage_dirs, f"{name} has no disk-backed queue"
        assert exporter["retry_on_failure"]["enabled"] is True
    collector_service = services(compose)["otel-collector"]
    init = services(compose)["otelcol-queue-init"]
    for directory in storage_dirs.values():
        volume = mounts(collector_service)[directory]
        assert volume in compose["volumes"], f"{directory} is not on a named volume"
        assert mounts(init)[directory] == volume
        assert init["entrypoint"][0] == "chown" and f"{COLLECTOR_UID}:{COLLECTOR_UID}" in init["entrypoint"]
        assert directory in init["entrypoint"]
    assert collector_service["depends_on"]["otelcol-queue-init"]["condition"] == "service_completed_successfully"


def exporter_url(exporter: dict) -> tuple[str, int, str]:
    """(host, port, path) an exporter sends to."""
    url = exporter.get("endpoint") or exporter.get("logs_endpoint") or exporter.get("metrics_endpoint")
    if "://" not in url:
        host, port = url.rsplit(":", 1)
        return host, int(port), ""
    parts = urlsplit(url)
    return parts.hostname, parts.port, parts.path


def test_each_signal_reaches_its_backends_on_the_ports_they_listen_on(compose, collector):
    tempo = load_yaml("tempo.yaml")
    loki = load_yaml("loki.yaml")
    exporters = collector["exporters"]
    pipelines = collector["service"]["pipelines"]
    destinations = {
        signal: {exporter_url(exporters[name]) for name in pipeline["exporters"]} for signal, pipeline in pipelines.items()
    }
    tempo_port = port_of(tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"])
    assert destinations["traces"] == {("jaeger", JAEGER_OTLP_GRPC_PORT, ""), ("tempo", tempo_port, "")}
    assert destinations["logs"] == {("loki", loki["server"]["http_listen_port"], "/otlp/v1/logs")}
    assert destinations["metrics"] == {("prometheus", PROMETHEUS_PORT, "/api/v1/otlp/v1/metrics")}
    for signal in destinations.values():
        for host, _, _ in signal:
            assert host in services(compose), f"{host} is not a compose service"
    assert "--web.enable-otlp-receiver" in services(compose)["prometheus"]["command"]


def test_prometheus_translates_names_the_way_the_checks_assume(compose):
    prometheus = load_yaml("prometheus/prometheus.yml")
    assert prometheus["otlp"]["translation_strategy"] == "UnderscoreEscapingWithSuffixes"
    assert "service.name" in prometheus["otlp"]["promote_resource_attributes"]
    command = services(compose)["prometheus"]["command"]
    assert "--enable-feature=exemplar-storage" in command  # exemplars: metric -> trace links
    assert "--config.file=/etc/prometheus/prometheus.yml" in command


def test_prometheus_loads_the_rule_files_but_not_their_tests(compose):
    prometheus = load_yaml("prometheus/prometheus.yml")
    rule_mount = {target: source for target, source in mounts(services(compose)["prometheus"]).items()}
    (pattern,) = prometheus["rule_files"]
    directory = str(PurePosixPath(pattern).parent)
    source = DOCKER / rule_mount[directory]
    loaded = [p for p in source.iterdir() if fnmatch.fnmatch(f"{directory}/{p.name}", pattern)]
    assert [p.name for p in loaded] == ["llmtel.rules.yml"]
    assert not fnmatch.fnmatch("llmtel.rules.test.yml", PurePosixPath(pattern).name)


def test_prometheus_scrapes_the_collectors_own_metrics(collector):
    prometheus = load_yaml("prometheus/prometheus.yml")
    targets = {t for job in prometheus["scrape_configs"] for cfg in job["static_configs"] for t in cfg["targets"]}
    (reader,) = collector["service"]["telemetry"]["metrics"]["readers"]
    assert f"otel-collector:{reader['pull']['exporter']['prometheus']['port']}" in targets


def test_grafana_mounts_what_its_provisioning_points_at(compose):
    grafana = services(compose)["grafana"]
    grafana_mounts = mounts(grafana)
    assert grafana_mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"
    provider = load_yaml("grafana/provisioning/dashboards/dashboards.yaml")["providers"][0]
    dashboards_dir = provider["options"]["path"]
    assert (DOCKER / grafana_mounts[dashboards_dir] / "llm-overview.json").exists()
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert str(PurePosixPath(home).parent) == dashboards_dir
    assert (DOCKER / grafana_mounts[dashboards_dir] / PurePosixPath(home).name).exists()


def test_grafana_data_sources_point_at_the_services_ports(compose):
    tempo = load_yaml("tempo.yaml")
    loki = load_yaml("loki.yaml")
    listening = {
        "tempo": tempo["server"]["http_listen_port"],
        "loki": loki["server"]["http_listen_port"],
        "prometheus": PROMETHEUS_PORT,
        "jaeger": JAEGER_UI_PORT,
    }
    datasources = load_yaml("grafana/provisioning/datasources/datasources.yaml")["datasources"]
    assert {ds["type"] for ds in datasources} == set(listening)
    for ds in datasources:
        parts = urlsplit(ds["url"])
        assert parts.hostname == ds["type"] and parts.hostname in services(compose)
        assert parts.port == listening[ds["type"]], f"{ds['name']} points at port {parts.port}"
    assert JAEGER_UI_PORT in published(services(compose)["jaeger"])
