"""Credentials never reach the collector: a real app hands its keys to URLs, captured request and response
headers, the errors its spans record, log lines, ``extra=`` fields, structlog pairs and a logged exception, and
none of them is in what the receiver got."""

from __future__ import annotations

import pytest

from tests.e2e.harness import BIN, run_app

pytestmark = pytest.mark.e2e

ROUTES = {
    "instrument": ["credentials_app.py"],
    "opentelemetry-instrument": [str(BIN / "opentelemetry-instrument"), str(BIN / "python"), "credentials_app.py",
                                 "--no-setup"],
}
# Spans leave through the durable pipeline by default, through the stock exporter with the spool off.
EXPORT_PATHS = {"spool": {}, "stock exporter": {"LLMTEL_SPOOL": "false"}}


@pytest.mark.parametrize("export_path", EXPORT_PATHS)
@pytest.mark.parametrize("route", ROUTES)
def test_no_credential_reaches_the_collector(otlp_receiver, otlp_env, route, export_path):
    env = otlp_env(OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST=".*",  # every request header
                   OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE=".*",  # and every response header
                   **EXPORT_PATHS[export_path])
    run = run_app(ROUTES[route], env)
    assert run.returncode == 0, run.stderr
    secrets = run.result["secrets"]
    store = otlp_receiver.store
    assert store.wait_for(lambda s: len(s.logs()) >= 6 and len([x for x in s.spans() if x.name == "GET"]) >= 3
                          and any(x.name == "step find_account" for x in s.spans()))

    # What each secret was handed to is there, with the secret masked.
    spans = store.spans()
    http_urls = [s.attributes.get("http.url", s.attributes.get("url.full")) for s in spans if s.name in ("POST", "GET")]
    assert any("api-key=REDACTED" in url for url in http_urls), http_urls
    assert any("token=REDACTED" in url for url in http_urls), http_urls
    headers = {k: v for s in spans for k, v in s.attributes.items() if k.startswith("http.request.header.")}
    assert headers["http.request.header.authorization"] == ("[REDACTED]",)  # Bearer and Basic alike
    assert headers["http.request.header.api_key"] == ("[REDACTED]",)  # Azure's key header
    assert headers["http.request.header.user_agent"]  # other headers are kept
    # Set after the span started, and masked as the spans are exported.
    responses = {k: v for s in spans for k, v in s.attributes.items() if k.startswith("http.response.header.")}
    assert responses["http.response.header.set_cookie"] == ("[REDACTED]",)
    assert responses["http.response.header.content_type"]
    # The error an HTTP span records names the URL it failed on (nothing listens there), key and all.
    refused = next(s for s in spans if s.name == "GET" and s.events)
    assert "api_key=REDACTED" in refused.status_message
    [error] = [attributes for name, attributes in refused.events if name == "exception"]
    assert "api_key=REDACTED" in error["exception.message"]
    assert "api_key=REDACTED" in error["exception.stacktrace"]
    step = next(s for s in spans if s.name == "step find_account")
    assert step.status_message == "LookupError: no account for [REDACTED:email] (token=[REDACTED]"  # the mask
    # takes the value to the next space, bracket or quote: a ")" may be part of a password
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


def _received_logs(otlp_receiver, run):
    assert run.returncode == 0, run.stderr
    store = otlp_receiver.store
    assert store.wait_for(lambda s: any(r.body == "account lookup failed" for r in s.logs()))
    received = b"".join(message.SerializeToString() for _, message, _ in store.requests())
    return {r.body: r for r in store.logs()}, received


@pytest.mark.parametrize("route", ROUTES)
def test_personal_data_in_log_lines_is_masked_by_default(otlp_receiver, otlp_env, route):
    run = run_app(ROUTES[route], otlp_env())
    logs, received = _received_logs(otlp_receiver, run)
    assert "sending the receipt for Alice Liddell to [REDACTED:email]" in logs
    assert logs["customer called back"].attributes["phone"] == "Alice Liddell at [REDACTED:phone]"
    assert logs["payment taken"].attributes["card"] == "[REDACTED:card_number]"
    failed = logs["account lookup failed"].attributes
    assert failed["exception.message"] == "no account for [REDACTED:email]"
    assert "[REDACTED:email]" in failed["exception.stacktrace"]
    personal = run.result["personal"]
    for name in ("email", "phone", "card"):  # a name is not recognisable as such: only a redactor of the app's
        assert personal[name].encode() not in received, name
    for name, secret in run.result["secrets"].items():
        assert secret.encode() not in received, name


def test_a_redactor_of_the_apps_own_masks_log_lines_after_the_secrets(otlp_receiver, otlp_env):
    run = run_app(["credentials_app.py", "--redactor"], otlp_env())
    logs, received = _received_logs(otlp_receiver, run)
    assert "sending the receipt for [customer] to alice.liddell@example.org" in logs  # the app's rules, not ours
    assert logs["payment taken"].attributes["customer"] == "[customer]"
    assert b"Alice Liddell" not in received
    for name, secret in run.result["secrets"].items():  # credentials are masked whatever the redactor does
        assert secret.encode() not in received, name


def test_with_log_redaction_off_only_credentials_are_masked(otlp_receiver, otlp_env):
    run = run_app(["credentials_app.py"], otlp_env(LLMTEL_LOG_REDACTION="false"))
    logs, received = _received_logs(otlp_receiver, run)
    personal = run.result["personal"]
    assert f"sending the receipt for Alice Liddell to {personal['email']}" in logs
    assert logs["payment taken"].attributes["card"] == personal["card"]
    assert logs["account lookup failed"].attributes["exception.message"] == f"no account for {personal['email']}"
    assert "connecting to the vector store with password=[REDACTED]" in logs
    for name, secret in run.result["secrets"].items():
        assert secret.encode() not in received, name
