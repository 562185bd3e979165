"""Quickstart: one ``llmtel.instrument()`` call, then an ordinary app. The chat call becomes a span with the
model, token counts and cost (and the HTTP request under it); everything leaves over OTLP, to
http://localhost:4318 unless OTEL_EXPORTER_OTLP_ENDPOINT says otherwise.

    python examples/quickstart.py    # the real API if OPENAI_API_KEY is set, else llmtel's local fake
"""

import llmtel
from llmtel.testing import ChatReply, openai_client_or_fake

llmtel.instrument(service_name="quickstart")

# Your own code would say `client = openai.OpenAI()`; this line falls back to a local fake without a key.
with openai_client_or_fake(ChatReply("Hello! Every call I answer becomes a span.")) as client:
    reply = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Say hello in one sentence."}],
    )
    print(reply.choices[0].message.content)
