"""Streaming: a streamed chat completion is one span that ends when the stream does, with the time to the
first chunk, the finish reason, and — because the request asks for usage — token counts and cost.

    python examples/streaming.py
"""

import llmtel
from llmtel.testing import ChatReply, openai_client_or_fake

llmtel.instrument(service_name="streaming-example")

answer = ChatReply("A streamed call's span ends when its last chunk arrives.", chunk_delay=0.01)
with openai_client_or_fake(answer) as client:  # the real API if OPENAI_API_KEY is set
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "When does the span of a streamed call end?"}],
        stream=True,
        stream_options={"include_usage": True},  # without it the API sends no token counts for streams
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            print(chunk.choices[0].delta.content, end="", flush=True)
    print()
