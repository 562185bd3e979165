"""Responses API: ``client.responses.create`` is traced like chat completions (``openai.api.type=responses``),
streamed or not; a streamed response's span ends with its ``response.completed`` event.

    python examples/responses_api.py
"""

import llmtel
from llmtel.testing import ResponsesReply, openai_client_or_fake

llmtel.instrument(service_name="responses-example")

scripted = [ResponsesReply("A trace is a tree of spans."), ResponsesReply("A span is one timed operation.")]
with openai_client_or_fake(*scripted) as client:  # the real API if OPENAI_API_KEY is set
    response = client.responses.create(
        model="gpt-4o-mini", instructions="Answer in one sentence.", input="What is a trace?"
    )
    print(response.output_text)

    with client.responses.stream(model="gpt-4o-mini", input="And what is a span?") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                print(event.delta, end="", flush=True)
    print()
