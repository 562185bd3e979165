"""The docker/ stack cannot start here (no Docker engine); check that its files agree with each other."""

from __future__ import annotations

from pathlib import Path

import yaml

from llmtel.config import DEFAULT_ENDPOINTS

DOCKER = Path(__file__).parents[2] / "docker"


def load(name: str) -> dict:
    return yaml.safe_load((DOCKER / name).read_text())


def published(service: dict) -> dict[int, tuple[str, int]]:
    """container port -> (host address, host port) for "addr:host:container" entries."""
    result = {}
    for entry in service.get("ports", []):
        host_addr, host_port, container_port = str(entry).split(":")
        result[int(container_port)] = (host_addr, int(host_port))
    return result


def test_every_image_is_pinned_to_a_version():
    for name, service in load("docker-compose.yml")["services"].items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name} image {image!r} is not pinned"


def test_ports_are_published_on_loopback_only():
    for name, service in load("docker-compose.yml")["services"].items():
        for addr, _ in published(service).values():
            assert addr == "127.0.0.1", f"{name} publishes on {addr}"


def test_collector_listens_where_llmtel_sends_by_default():
    compose = load("docker-compose.yml")
    collector = load("otel-collector.yaml")
    ports = published(compose["services"]["otel-collector"])
    protocols = collector["receivers"]["otlp"]["protocols"]
    for protocol, key in (("grpc", "grpc"), ("http/protobuf", "http")):
        container_port = int(protocols[key]["endpoint"].rsplit(":", 1)[1])
        default_port = int(DEFAULT_ENDPOINTS[protocol].rsplit(":", 1)[1])
        assert ports[container_port] == ("127.0.0.1", default_port)


def test_collector_pipelines_reference_defined_components_and_reach_jaeger():
    collector = load("otel-collector.yaml")
    compose = load("docker-compose.yml")
    for signal, pipeline in collector["service"]["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in collector[kind], f"{signal} uses undefined {kind[:-1]} {component}"
    jaeger_exporters = [e for e in collector["service"]["pipelines"]["traces"]["exporters"] if "jaeger" in e]
    assert jaeger_exporters
    host, port = collector["exporters"][jaeger_exporters[0]]["endpoint"].split(":")
    assert host in compose["services"] and port == "4317"  # Jaeger v2 accepts OTLP gRPC itself
    assert 16686 in published(compose["services"]["jaeger"])
    health = collector["extensions"]["health_check"]["endpoint"].rsplit(":", 1)[1]
    assert int(health) in published(compose["services"]["otel-collector"])
