"""Credentials kept out of telemetry: names, URLs, free text, span attributes and log values."""

from __future__ import annotations

import time

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmtel.credentials import (
    MAX_KNOWN_SECRETS,
    CredentialScrubber,
    environment_secrets,
    forget_secrets,
    is_credential_name,
    known_secrets,
    mask_environment_secrets,
    mask_secret,
    redact_secrets,
    scrub_url,
    scrubbed_log_value,
    scrubbed_span_attributes,
)
from llmtel.genai.content import default_redactor


@pytest.mark.parametrize("name", [
    "api-key", "api_key", "Authorization", "x-api-key", "x-goog-api-key", "OPENAI_API_KEY", "client_secret",
    "access_token", "password", "Ocp-Apim-Subscription-Key", "cookie", "set-cookie", "aws.secret_access_key",
    "proxy-authorization", "token", "refresh_token",
    "accessToken", "refreshToken", "clientSecret", "SecretAccessKey", "SessionToken", "SharedAccessKey", "xApiKey",
])
def test_credential_names(name):
    assert is_credential_name(name)


@pytest.mark.parametrize("name", [
    "input_tokens", "max_tokens", "author", "key", "monkey", "token_count", "api-version", "user_agent", "model",
    "maxTokens", "inputTokens", "tokenCount", "authorName", "keyId", "APIVersion",
])
def test_names_that_are_not_credentials(name):
    assert not is_credential_name(name)


JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl"


@pytest.mark.parametrize(("url", "scrubbed"), [
    ("http://h/v1/chat/completions?api-key=abc123&api-version=2024-10-21",
     "http://h/v1/chat/completions?api-key=REDACTED&api-version=2024-10-21"),
    ("https://generativelanguage.googleapis.com/v1beta/models?key=AIzaXYZ",
     "https://generativelanguage.googleapis.com/v1beta/models?key=REDACTED"),
    ("https://u:p4ss@h:8443/x", "https://REDACTED:REDACTED@h:8443/x"),
    ("https://h/blob?sv=2024&sig=abc%2Bdef#part", "https://h/blob?sv=2024&sig=REDACTED#part"),
    ("https://h/x?access_token=t0k&page=2&client_secret=s", "https://h/x?access_token=REDACTED&page=2&client_secret=REDACTED"),
    # OAuth's implicit flow returns its tokens in the fragment
    ("https://app.example/cb#access_token=ya29.a0AfH6SMB&token_type=bearer&state=xyz",
     "https://app.example/cb#access_token=REDACTED&token_type=bearer&state=xyz"),
    (f"https://app.example/cb#id_token={JWT}&state=xyz", "https://app.example/cb#id_token=REDACTED&state=xyz"),
    ("https://app.example/cb?code_challenge=c#refresh_token=r1&expires_in=3600",
     "https://app.example/cb?code_challenge=c#refresh_token=REDACTED&expires_in=3600"),
])
def test_scrub_url_masks_credentials_in_query_and_user_info(url, scrubbed):
    assert scrub_url(url) == scrubbed


@pytest.mark.parametrize("url", [
    "https://x.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21",
    "https://api.openai.com/v1/embeddings",
    "http://127.0.0.1:8080/v1/models?limit=20&after=model-1",
    "https://docs.example/guide#section-2", "https://app.example/#/settings?tab=keys", "https://h/cb#state=xyz&page=2",
])
def test_scrub_url_leaves_urls_without_credentials_as_they_are(url):
    assert scrub_url(url) is url or scrub_url(url) == url


@pytest.mark.parametrize(("text", "redacted"), [
    ("connecting with password=hunter2 to db", "connecting with password=[REDACTED] to db"),
    ('{"api_key": "abc123", "model": "gpt"}', '{"api_key": "[REDACTED]", "model": "gpt"}'),
    ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic [REDACTED]"),
    ("X-Api-Key: k-123", "X-Api-Key: [REDACTED]"),
    ("404 Client Error: Not Found for url: http://h/x?api_key=abc", "404 Client Error: Not Found for url: http://h/x?api_key=REDACTED"),
    ("dsn postgres://app:pw@db:5432/x", "dsn postgres://REDACTED:REDACTED@db:5432/x"),
    ("Server=db;Database=x;Password=s3cr3t;", "Server=db;Database=x;Password=REDACTED;"),
    ("key sk-abcdefghijklmnopqrstuvwx used", "key [REDACTED:api_key] used"),
    ("run run-sk-proj-abcdefghijklmnopqrstuvwx done", "run run-[REDACTED:api_key] done"),  # glued after a dash
    ("worker-sk-svcacct-abcdefghijklmnopqrstuvwx", "worker-[REDACTED:api_key]"),
    ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz", "Authorization: Bearer [REDACTED:token]"),
    ('{"password": "correct horse battery staple", "user": "bob"}', '{"password": "[REDACTED]", "user": "bob"}'),
    ("login password='two words' failed", "login password='[REDACTED]' failed"),
    ('{"message": "Invalid (password=hunter2, user=ann)", "code": null}',  # inside a quoted value taken whole
     '{"message": "Invalid (password=[REDACTED], user=ann)", "code": null}'),
    ("redirected to https://app.example/cb#access_token=ya29.a0AfH6SMB&state=xyz",  # as a query parameter is
     "redirected to https://app.example/cb#access_token=REDACTED&state=xyz"),
    ("Authorization: Token 0123456789abcdef0123", "Authorization: Token [REDACTED]"),  # GitHub's, DRF's scheme
    ("Authorization: ApiKey dGVzdDp0ZXN0", "Authorization: ApiKey [REDACTED]"),  # Elasticsearch's
    ('{"accessToken": "abc.def", "refreshToken": "r1", "maxTokens": 100}',  # camelCase names
     '{"accessToken": "[REDACTED]", "refreshToken": "[REDACTED]", "maxTokens": 100}'),
])
def test_redact_secrets_in_free_text(text, redacted):
    assert redact_secrets(text) == redacted


@pytest.mark.parametrize("text", [
    "used input_tokens=12 output_tokens=30",
    "author: Jane",
    "GET http://localhost:8080/health",
    "key=value pairs are parsed",
    "max_tokens: 100",
    "token budget exhausted",
    "write to alice@example.com",  # personal data is the content redactor's, not this one's
    "model task-sk-learn-classifier-v2 loaded",  # a hyphenated word: after a dash, only OpenAI's typed prefixes
])
def test_redact_secrets_leaves_other_text_alone(text):
    assert redact_secrets(text) == text


AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documentation example


@pytest.mark.parametrize(("text", "redacted"), [
    (f"{AWS_KEY_ID} {AWS_SECRET}", "[REDACTED:aws_key] [REDACTED:aws_secret]"),
    (f"{AWS_KEY_ID}:{AWS_SECRET}", "[REDACTED:aws_key]:[REDACTED:aws_secret]"),
    (f'{{"AccessKeyId": "ASIAIOSFODNN7EXAMPLE", "SecretAccessKey": "{AWS_SECRET}", "SessionToken": "IQoJb3JpZ2lu"}}',
     '{"AccessKeyId": "[REDACTED:aws_key]", "SecretAccessKey": "[REDACTED:aws_secret]", "SessionToken": "[REDACTED]"}'),
    (f"AWS Secret Access Key [None]: {AWS_SECRET}", "AWS Secret Access Key [None]: [REDACTED:aws_secret]"),
    (f"aws configure set aws_secret_access_key {AWS_SECRET}",
     "aws configure set aws_secret_access_key [REDACTED:aws_secret]"),
    (f"secret access key: {AWS_SECRET}", "secret access key: [REDACTED:aws_secret]"),
    (f"aws_secret_access_key = {AWS_SECRET}", "aws_secret_access_key = [REDACTED]"),  # as before: name=value
])
def test_aws_secret_access_keys_next_to_their_key_id_or_their_name(text, redacted):
    assert redact_secrets(text) == redacted


@pytest.mark.parametrize("text", [
    AWS_SECRET,  # alone: 40 characters of base64 look like any other id
    f"zone Asia/Tokyo, blob {AWS_SECRET}",  # "asia", but no access key id
    "secret access key: ThisIsAVeryLongCamelCaseIdentifierForXyz",  # no digit: a word, not a key
])
def test_40_character_runs_with_no_access_key_id_or_name_are_left_alone(text):
    assert redact_secrets(text) == text


def test_a_git_commit_next_to_an_access_key_id_is_not_taken_for_its_secret():
    sha = "3f786850e387550fdab836ed7e6dc881de23001b"
    assert redact_secrets(f"commit {sha} by {AWS_KEY_ID}") == f"commit {sha} by [REDACTED:aws_key]"


def test_a_url_fragments_token_is_scrubbed_on_spans():
    attributes = {"url.full": "https://app.example/cb#access_token=ya29.a0AfH6SMB&state=xyz"}
    assert scrubbed_span_attributes(attributes) == {
        "url.full": "https://app.example/cb#access_token=REDACTED&state=xyz",
    }


def test_camel_case_credential_names_are_masked_as_log_values():
    assert scrubbed_log_value("sessionToken", "IQoJb3JpZ2lu") == "[REDACTED]"
    assert scrubbed_log_value("maxTokens", 100) == 100


def test_the_content_redactor_masks_the_same_secrets():
    assert default_redactor("retry with password=hunter2, mail bob@example.com") == (
        "retry with password=[REDACTED], mail [REDACTED:email]"
    )


@pytest.mark.parametrize("redact", [redact_secrets, default_redactor], ids=["secrets", "content"])
@pytest.mark.parametrize("shape", ["a", "a-", "a.", "?a", "a:", "a=b&", "eyJ-", "sk-", "http://", "a@", "1 "])
def test_redaction_takes_time_linear_in_the_text(redact, shape):
    """Catastrophic backtracking would hang the app's call: 64,000 characters of each shape take tens of
    milliseconds; with the patterns before this guard, some took seconds (``a.``) to minutes (``a-``)."""
    text = shape * (64_000 // len(shape))
    started = time.perf_counter()
    redact(text)
    assert time.perf_counter() - started < 2.0


def test_scrubbed_span_attributes_names_only_what_changes():
    attributes = {
        "url.full": "http://h/v1/chat?api-key=abc",
        "url.query": "token=t&page=1",
        "http.request.header.authorization": ("Bearer sk-x",),
        "http.request.header.accept": ("application/json",),
        "http.response.header.set_cookie": ("a=b", "c=d"),
        "http.url": "http://h/v1/models",
        "server.address": "h",
    }
    assert scrubbed_span_attributes(attributes) == {
        "url.full": "http://h/v1/chat?api-key=REDACTED",
        "url.query": "token=REDACTED&page=1",
        "http.request.header.authorization": ["[REDACTED]"],
        "http.response.header.set_cookie": ["[REDACTED]", "[REDACTED]"],
    }


def _provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(CredentialScrubber())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_the_scrubber_rewrites_the_attributes_a_span_starts_with():
    provider, exporter = _provider()
    tracer = provider.get_tracer("opentelemetry.instrumentation.httpx")
    attributes = {"http.url": "http://h/x?api_key=abc", "http.request.header.x_api_key": ("abc",), "http.method": "GET"}
    tracer.start_span("GET", attributes=attributes).end()
    assert dict(exporter.get_finished_spans()[0].attributes) == {
        "http.url": "http://h/x?api_key=REDACTED",
        "http.request.header.x_api_key": ("[REDACTED]",),
        "http.method": "GET",
    }


def test_the_scrubber_passes_over_llmtel_spans_and_never_raises(caplog):
    provider, exporter = _provider()
    provider.get_tracer("llmtel").start_span("chat m", attributes={"url.full": "http://h/?key=k"}).end()
    assert exporter.get_finished_spans()[0].attributes["url.full"] == "http://h/?key=k"  # not ours to look at

    class Unreadable:
        instrumentation_scope = None

        @property
        def attributes(self):
            raise RuntimeError("boom")

    scrubber = CredentialScrubber()
    scrubber.on_start(Unreadable())  # type: ignore[arg-type]
    scrubber.on_start(Unreadable())  # type: ignore[arg-type]
    assert [r.message for r in caplog.records].count("llmtel: could not scrub a span's attributes of credentials") == 1


@pytest.mark.parametrize(("key", "value", "shipped"), [
    ("api_key", "abc", "[REDACTED]"),
    ("password", ["a", "b"], ["[REDACTED]", "[REDACTED]"]),
    ("url", "http://h/?token=t", "http://h/?token=REDACTED"),
    ("tags", ["ok", "Bearer abcdefghijklmnopqrstuvwxyz"], ["ok", "Bearer [REDACTED:token]"]),
    ("token", 42, 42),  # a small number: a count, not a secret
    ("password", 98765432109876, "[REDACTED]"),  # a long number under a credential's name is one
    ("secret", b"raw", "[REDACTED]"),
    ("emails", ["dave@example.com", 1], ["dave@example.com", 1]),  # secrets only: personal data is `clean`'s
    ("keys", ["Bearer abcdefghijklmnopqrstuvwxyz", 1], ["Bearer [REDACTED:token]", 1]),
    ("body", b"Bearer abcdefghijklmnopqrstuvwxyz", "Bearer [REDACTED:token]"),
    ("model", "gpt-4o-mini", "gpt-4o-mini"),
])
def test_scrubbed_log_value(key, value, shipped):
    assert scrubbed_log_value(key, value) == shipped


# --- secrets known by their value -----------------------------------------------------------------------------

SHAPELESS = "Zq8v3Lm1Rt7Xp2Nc9Wk4Hb6Jd0Fs5Gy"  # a key with no recognisable shape (Mistral's, Azure's are like it)


def test_a_known_secret_is_masked_by_value_in_free_text_urls_and_log_values():
    text = f"Incorrect API key provided: {SHAPELESS}. Received API Key = {SHAPELESS}"
    assert redact_secrets(text) == text  # no shape, no credential's name before it
    assert mask_secret(SHAPELESS)
    assert redact_secrets(text) == ("Incorrect API key provided: [REDACTED:secret]. "
                                    "Received API Key = [REDACTED:secret]")
    assert default_redactor(f"key {SHAPELESS}, mail bob@example.com") == "key [REDACTED:secret], mail [REDACTED:email]"
    assert scrub_url(f"http://h/v1/keys/{SHAPELESS}/check") == "http://h/v1/keys/REDACTED/check"
    assert scrubbed_log_value("note", [f"x{SHAPELESS}y", "ok"]) == ["x[REDACTED:secret]y", "ok"]


def test_a_known_secret_is_masked_percent_encoded_and_whole_when_it_contains_another():
    password = "Hq3-kz9!Lw2@pv8#/x-yz0"
    assert mask_secret("Lw2@pv8#/x-yz0") and mask_secret(password)  # the second holds the first
    assert scrub_url("http://h/db/Hq3-kz9%21Lw2%40pv8%23%2Fx-yz0/ping") == "http://h/db/REDACTED/ping"
    assert redact_secrets(f"pw {password} and Lw2@pv8#/x-yz0") == "pw [REDACTED:secret] and [REDACTED:secret]"
    assert known_secrets()[0] == "Hq3-kz9%21Lw2%40pv8%23%2Fx-yz0"  # longest first


@pytest.mark.parametrize("value", ["", "short-value", "/etc/llm/key.json", "~/.config/key", "./key.pem",
                                   r"C:\keys\service.json", "  short-value  "])
def test_values_too_short_to_tell_from_text_or_naming_files_are_not_masked(value):
    assert not mask_secret(value)
    assert known_secrets() == ()


def test_mask_secret_takes_only_text():
    with pytest.raises(TypeError, match="takes the secret as a str, not bytes"):
        mask_secret(b"Zq8v3Lm1Rt7Xp2Nc9Wk4")  # type: ignore[arg-type]


def test_the_number_of_known_secrets_is_bounded(caplog):
    for index in range(MAX_KNOWN_SECRETS):
        assert mask_secret(f"secret-value-{index:04d}")
    assert not mask_secret("one-secret-too-many")
    assert not mask_secret("and-yet-another-one")
    assert len(known_secrets()) == MAX_KNOWN_SECRETS
    assert [r.message for r in caplog.records].count(
        f"llmtel: {MAX_KNOWN_SECRETS} secrets are masked by value already; no more are added") == 1
    assert mask_secret("secret-value-0007")  # known already: still masked
    forget_secrets()
    assert known_secrets() == () and redact_secrets("secret-value-0007") == "secret-value-0007"


def test_the_environments_secrets():
    environ = {
        "OPENAI_API_KEY": SHAPELESS,
        "OPENAI_ADMIN_KEY": "admin-key-0123456789",  # any ``…_KEY``
        "DB_PASSWORD": " Hq3-kz9!Lw2@pv8# ",
        "HF_TOKEN": "hf-token-0123456789",
        "GOOGLE_APPLICATION_CREDENTIALS": "/etc/gcp/service-account.json",  # a file's path
        "AUTH_TOKEN": "dev",  # too short to tell from text
        "OTEL_EXPORTER_OTLP_HEADERS": ("x-honeycomb-team=Hk2Pq9Zr4Tn7Wx1Vb5Cm,"
                                       "authorization=Basic%20YWxpY2U6c2VjcmV0LXB3"),
        "OTEL_EXPORTER_OTLP_LOGS_HEADERS": "x-scope-orgid=tenant1",  # too short
        "HOME": "/home/someone-with-a-long-name",
        "SORTING_ORDER": "descending-by-date",
    }
    assert environment_secrets(environ) == [
        SHAPELESS, "admin-key-0123456789", "Hq3-kz9!Lw2@pv8#", "hf-token-0123456789",
        "Hk2Pq9Zr4Tn7Wx1Vb5Cm", "Basic YWxpY2U6c2VjcmV0LXB3", "YWxpY2U6c2VjcmV0LXB3",
    ]
    mask_environment_secrets(environ, headers=["Bearer tok-from-the-arguments-0123"])
    assert redact_secrets(f"{SHAPELESS} tok-from-the-arguments-0123 YWxpY2U6c2VjcmV0LXB3") == (
        "[REDACTED:secret] [REDACTED:secret] [REDACTED:secret]")


def test_known_secrets_are_masked_in_any_span_attribute_of_other_instrumentations():
    assert scrubbed_span_attributes({"db.statement": f"CONNECT '{SHAPELESS}'"}) == {}  # not known yet
    mask_secret(SHAPELESS)
    attributes = {
        "db.statement": f"CONNECT '{SHAPELESS}'",
        "http.request.header.x_custom": (SHAPELESS, "other"),  # a header whose name is not a credential's
        "url.full": f"http://h/v1/{SHAPELESS}",
        "http.method": "GET",
        "retries": 3,
    }
    assert scrubbed_span_attributes(attributes) == {
        "db.statement": "CONNECT '[REDACTED:secret]'",
        "http.request.header.x_custom": ["[REDACTED:secret]", "other"],
        "url.full": "http://h/v1/REDACTED",
    }
