"""An app that hands credentials to everything telemetry is made from: query strings of the URLs it calls,
request and response headers (captured by OpenTelemetry's header opt-in), the errors its HTTP calls and steps
record on their spans, log messages, ``extra=`` fields, structlog key-value pairs and the message of an exception
it logs; and personal data to its log lines and a failing step. Prints the secrets and the personal data it used,
so the test can look for them in what the collector received.

``--redactor``: set up with a redactor of its own, which masks a customer's name."""

import json
import logging
import socket
import sys

import llmtel



def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def mask_names(text: str) -> str:
    return text.replace("Alice Liddell", "[customer]")


if "--redactor" in sys.argv:
    llmtel.instrument(redactor=mask_names)
elif "--no-setup" not in sys.argv:  # under ``opentelemetry-instrument``, which has set everything up
    llmtel.instrument()

import openai  # noqa: E402
import requests  # noqa: E402
import structlog  # noqa: E402

from llmtel.testing import ChatReply, FakeOpenAI  # noqa: E402

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
    "cookie": "ck-e2e-secret-response-cookie",
    "refused_url_key": "ru-e2e-secret-refused-url",
    "step_token": "st-e2e-secret-step-token",
}

PERSONAL = {
    "email": "alice.liddell@example.org",
    "phone": "+44 20 7946 0958",
    "card": "4111 1111 1111 1111",
    "name": "Alice Liddell",
}

logging.basicConfig(level=logging.INFO)  # httpx logs every request, URL and all, at INFO
log = logging.getLogger("app")
structlog.configure(
    processors=[llmtel.structlog_context, llmtel.structlog_otlp, structlog.processors.KeyValueRenderer()]
)
slog = structlog.get_logger("app.structlog")
MESSAGES = [{"role": "user", "content": "hi"}]
PHONE_NOTE = "{name} at {phone}"

with FakeOpenAI() as fake:
    client = openai.OpenAI(base_url=fake.base_url, api_key=SECRETS["openai_key"], max_retries=0,
                           default_query={"api-key": SECRETS["query_key"]})
    fake.enqueue(ChatReply(headers={"set-cookie": f"session={SECRETS['cookie']}; Path=/; HttpOnly"}))
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # its reply sets a cookie
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
    try:  # the HTTP span records the error, which names the URL, query string and all
        requests.get(f"http://127.0.0.1:{closed_port()}/v1/models?api_key={SECRETS['refused_url_key']}", timeout=10)
    except requests.ConnectionError:
        pass
    try:  # the step's span records the error
        with llmtel.run("support"), llmtel.step("find_account"):
            raise LookupError(f"no account for {PERSONAL['email']} (token={SECRETS['step_token']})")
    except LookupError:
        pass
    log.info("sending the receipt for %s to %s", PERSONAL["name"], PERSONAL["email"])
    log.info("customer called back", extra={"phone": PHONE_NOTE.format(**PERSONAL)})
    slog.info("payment taken", card=PERSONAL["card"], customer=PERSONAL["name"])
    try:
        raise ValueError(f"no account for {PERSONAL['email']}")
    except ValueError:
        log.exception("account lookup failed")

print(json.dumps({"secrets": SECRETS, "personal": PERSONAL}), flush=True)
