"""Secrets with no recognisable shape never reach the collector: the values the app's environment, its
exporter headers, its failing OpenAI clients and ``llmtel.mask_secret`` make known are masked wherever they
appear, in any signal, whichever route set llmtel up."""

from __future__ import annotations

import pytest

from tests.e2e.harness import BIN, run_app

pytestmark = pytest.mark.e2e

ROUTES = {
    "instrument": ["known_secrets_app.py"],
    "opentelemetry-instrument": [str(BIN / "opentelemetry-instrument"), str(BIN / "python"),
                                 "known_secrets_app.py", "--no-setup"],
}


@pytest.mark.parametrize("route", ROUTES)
def test_secrets_known_by_value_never_reach_the_collector(otlp_receiver, otlp_env, route):
    env = otlp_env(OPENAI_API_KEY="Zq8v3Lm1Rt7Xp2Nc9Wk4Hb6Jd0Fs5Gy", VECTOR_DB_PASSWORD="Hq3-kz9!Lw2@pv8#",
                   OTEL_EXPORTER_OTLP_HEADERS="x-honeycomb-team=Hk2Pq9Zr4Tn7Wx1Vb5Cm",
                   OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="SPAN_ONLY")
    run = run_app(ROUTES[route], env)
    assert run.returncode == 0, run.stderr
    secrets = run.result["secrets"]
    store = otlp_receiver.store
    assert store.wait_for(lambda s: sum(str(r.body).startswith("using ") for r in s.logs()) >= 5
                          and len([x for x in s.spans() if x.name == "chat gpt-4o-mini"]) >= 3
                          and any(x.name == "GET" for x in s.spans()))

    # Where each secret went, it is masked.
    chats = [s for s in store.spans() if s.name == "chat gpt-4o-mini"]
    failed = [s for s in chats if s.status_message]
    assert len(failed) == 2
    for span in failed:  # the key the server echoed: the environment's, then the one given in code
        assert span.status_message.endswith("Received API Key = [REDACTED:secret]"), span.status_message
    [answered] = [s for s in chats if not s.status_message]
    assert "the password is [REDACTED:secret]" in answered.attributes["gen_ai.input.messages"]
    assert "Noted: [REDACTED:secret]" in answered.attributes["gen_ai.output.messages"]
    [get] = [s for s in store.spans() if s.name == "GET"]
    assert get.attributes["url.full" if "url.full" in get.attributes else "http.url"].endswith("/db/REDACTED/ping")
    bodies = {r.body for r in store.logs()}
    for name in secrets:
        assert f"using {name} [REDACTED:secret]" in bodies, sorted(bodies)
    exceptions = [r.attributes["exception.message"] for r in store.logs() if r.body == "the model call failed"]
    assert exceptions == ["Error code: 401 - Invalid key. Received API Key = [REDACTED:secret]"] * 2

    # And none is anywhere in any request the collector received, in any signal.
    received = b"".join(message.SerializeToString() for _, message, _ in store.requests())
    assert received
    for name, secret in secrets.items():
        assert secret.encode() not in received, name
