"""An unmodified app under ``opentelemetry-instrument``: no ``instrument()`` call and no OpenTelemetry code
here. The command line sets everything up — llmtel registers the distro and configurator the CLI loads, so
its chat call becomes a GenAI span and its log lines are exported, configured by the OTEL_* variables.

    OTEL_SERVICE_NAME=unmodified-app opentelemetry-instrument python examples/unmodified_app.py
"""

import logging

from llmtel.testing import ChatReply, openai_client_or_fake  # only to run without an API key

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("unmodified-app")


def main() -> None:
    with openai_client_or_fake(ChatReply("Nothing in this file mentions OpenTelemetry.")) as client:
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "What set up the tracing?"}]
        )
    log.info("the model answered: %s", reply.choices[0].message.content)


if __name__ == "__main__":
    main()
