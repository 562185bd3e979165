"""An app whose secrets have no recognisable shape (no ``sk-`` prefix, no credential's name beside them where they
appear): an API key from the environment that a server echoes in its 401 error, a key given to a client in code
and echoed the same way, a database password from the environment in a URL's path (percent-encoded) and in a
captured prompt, the exporter's header, and a token the app passes to ``llmtel.mask_secret``. Each also goes to
log lines, a structlog pair and a logged exception. Prints the secrets, for the test to look for them in what the
collector received.

The environment it expects: ``OPENAI_API_KEY``, ``VECTOR_DB_PASSWORD`` and ``OTEL_EXPORTER_OTLP_HEADERS``
(``x-honeycomb-team=…``), with content capture on."""

import json
import logging
import os
import sys
from urllib.parse import quote

import llmtel

if "--no-setup" not in sys.argv:  # under ``opentelemetry-instrument``, which has set everything up
    llmtel.instrument()

import openai  # noqa: E402
import requests  # noqa: E402
import structlog  # noqa: E402

from llmtel.testing import ChatReply, ErrorReply, FakeOpenAI  # noqa: E402

SECRETS = {
    "env_key": os.environ["OPENAI_API_KEY"],
    "code_key": "Pm4Rt8Wq2Zx6Lk0Nv3Bc7Hj",
    "db_password": os.environ["VECTOR_DB_PASSWORD"],
    "exporter_header": os.environ["OTEL_EXPORTER_OTLP_HEADERS"].partition("=")[2],
    "vault_token": "Vt7Qw2Er9Ty4Ui1Op6As3Df",
}

logging.basicConfig(level=logging.INFO)
log = logging.getLogger("app")
structlog.configure(
    processors=[llmtel.structlog_context, llmtel.structlog_otlp, structlog.processors.KeyValueRenderer()]
)
slog = structlog.get_logger("app.structlog")


def echoed(key: str) -> ErrorReply:
    """A 401 as some OpenAI-compatible servers send it: the key the request carried, in full."""
    return ErrorReply(401, "invalid_request_error", "invalid_api_key", f"Invalid key. Received API Key = {key}",
                      headers={})


with FakeOpenAI() as fake:
    from_env = openai.OpenAI(base_url=fake.base_url, max_retries=0)  # its key: OPENAI_API_KEY
    in_code = openai.OpenAI(base_url=fake.base_url, api_key=SECRETS["code_key"], max_retries=0)
    for client, key in ((from_env, SECRETS["env_key"]), (in_code, SECRETS["code_key"])):
        fake.enqueue(echoed(key))
        try:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        except openai.AuthenticationError:
            log.exception("the model call failed")
    fake.enqueue(ChatReply(content=f"Noted: {SECRETS['db_password']}"))
    from_env.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"the password is {SECRETS['db_password']}"}]
    )
    requests.get(f"{fake.root_url}/db/{quote(SECRETS['db_password'], safe='')}/ping", timeout=10)
    llmtel.mask_secret(SECRETS["vault_token"])
    for name, secret in SECRETS.items():
        log.info("using %s %s", name, secret)
        slog.info("using", value=secret)

print(json.dumps({"secrets": SECRETS}), flush=True)
