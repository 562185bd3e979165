"""Credentials never reach the collector: a real app hands its keys to URLs, captured headers, log lines,
``extra=`` fields, structlog pairs and a logged exception, and none of them is in what the receiver got."""

from __future__ import annotations

import pytest

from tests.e2e.harness import BIN, run_app

pytestmark = pytest.mark.e2e

ROUTES = {
    "instrument": ["credentials_app.py"],
    "opentelemetry-instrument": [str(BIN / "opentelemetry-instrument"), str(BIN / "python"), "credentials_app.py",
                                 "--no-setup"],
}


@pytest.mark.parametrize("route", ROUTES)
def test_no_credential_reaches_the_collector(otlp_receiver, otlp_env, route):
    env = otlp_env(OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST=".*")  # every request header
    run = run_app(ROUTES[route], env)
    assert run.returncode == 0, run.stderr
    secrets = run.result["secrets"]
    store = otlp_receiver.store
    assert store.wait_for(lambda s: len(s.logs()) >= 6 and len([x for x in s.spans() if x.name == "GET"]) >= 2)

    # What each secret was handed to is there, with the secret masked.
    spans = store.spans()
    http_urls = [s.attributes.get("http.url", s.attributes.get("url.full")) for s in spans if s.name in ("POST", "GET")]
    assert any("api-key=REDACTED" in url for url in http_urls), http_urls
    assert any("token=REDACTED" in url for url in http_urls), http_urls
    headers = {k: v for s in spans for k, v in s.attributes.items() if k.startswith("http.request.header.")}
    assert headers["http.request.header.authorization"] == ("[REDACTED]",)  # Bearer and Basic alike
    assert headers["http.request.header.api_key"] == ("[REDACTED]",)  # Azure's key header
    assert headers["http.request.header.user_agent"]  # other headers are kept
    bodies = [r.body for r in store.logs()]
    assert "connecting to the vector store with password=[REDACTED]" in bodies
    by_body = {r.body: r for r in store.logs()}
    assert by_body["calling the search API"].attributes["api_key"] == "[REDACTED]"
    assert by_body["calling the reranker"].attributes["api_key"] == "[REDACTED]"
    failed = by_body["lookup failed"].attributes
    assert failed["exception.type"] == "requests.exceptions.HTTPError"
    assert "api_key=REDACTED" in failed["exception.message"]
    assert "api_key=REDACTED" in failed["exception.stacktrace"]
    assert any(body.startswith("HTTP Request: POST") and "api-key=REDACTED" in body for body in bodies), bodies

    # And no secret is anywhere in any request the collector received, in any signal.
    received = b"".join(message.SerializeToString() for _, message, _ in store.requests())
    assert received
    for name, secret in secrets.items():
        assert secret.encode() not in received, name
