"""An app that hands credentials to everything telemetry is made from: query strings of the URLs it calls,
request headers (captured by OpenTelemetry's header opt-in), log messages, ``extra=`` fields, structlog key-value
pairs and the message of an exception it logs. Prints the secrets it used, so the test can look for them in
what the collector received."""

import json
import logging
import sys

import llmtel

if "--no-setup" not in sys.argv:  # under ``opentelemetry-instrument``, which has set everything up
    llmtel.instrument()

import openai  # noqa: E402
import requests  # noqa: E402
import structlog  # noqa: E402

from llmtel.testing import FakeOpenAI  # noqa: E402

SECRETS = {
    "openai_key": "sk-e2e-secret-openai-0123456789",
    "query_key": "qk-e2e-secret-in-query",
    "azure_key": "az-e2e-secret-azure-key",
    "requests_token": "tk-e2e-secret-token",
    "basic_password": "pw-e2e-secret-basic",
    "logged_password": "pw-e2e-secret-logged",
    "extra_key": "ek-e2e-secret-extra",
    "structlog_key": "sl-e2e-secret-structlog",
    "error_url_key": "eu-e2e-secret-error-url",
}

logging.basicConfig(level=logging.INFO)  # httpx logs every request, URL and all, at INFO
log = logging.getLogger("app")
structlog.configure(
    processors=[llmtel.structlog_context, llmtel.structlog_otlp, structlog.processors.KeyValueRenderer()]
)
slog = structlog.get_logger("app.structlog")
MESSAGES = [{"role": "user", "content": "hi"}]

with FakeOpenAI() as fake:
    client = openai.OpenAI(base_url=fake.base_url, api_key=SECRETS["openai_key"], max_retries=0,
                           default_query={"api-key": SECRETS["query_key"]})
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    azure = openai.AzureOpenAI(azure_endpoint=fake.root_url, api_key=SECRETS["azure_key"], api_version="2024-10-21",
                               max_retries=0)
    azure.chat.completions.create(model="my-deployment", messages=MESSAGES)
    requests.get(f"{fake.base_url}/models?token={SECRETS['requests_token']}",
                 auth=("alice", SECRETS["basic_password"]), timeout=10)
    log.info("connecting to the vector store with password=%s", SECRETS["logged_password"])
    log.info("calling the search API", extra={"api_key": SECRETS["extra_key"]})
    slog.info("calling the reranker", api_key=SECRETS["structlog_key"])
    try:
        requests.get(f"{fake.root_url}/nowhere?api_key={SECRETS['error_url_key']}", timeout=10).raise_for_status()
    except requests.HTTPError:
        log.exception("lookup failed")

print(json.dumps({"secrets": SECRETS}), flush=True)
