"""An instrumented LLM pipeline run in a real process, exporting to the endpoint and protocol in argv.

Prints one JSON line: the trace id and run id, for the test to look up in the viewer.
"""

import json
import logging
import sys

import openai
from opentelemetry import trace

import llmtel
from llmtel.testing import ChatReply, FakeOpenAI

endpoint, protocol = sys.argv[1], sys.argv[2]
handle = llmtel.instrument(service_name="viewer-e2e", endpoint=endpoint, protocol=protocol,
                           metric_export_interval=3600)
log = logging.getLogger("app.answer")
logging.getLogger().setLevel(logging.INFO)

with FakeOpenAI() as fake:
    fake.enqueue(ChatReply("Paris.", model="gpt-4o-mini-2024-07-18"))
    client = openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)
    with llmtel.run("answer-question", session_id="s-9") as run:
        with llmtel.step("call_model"):
            log.info("asking the model")
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Capital?"}])
        trace_id = format(trace.get_current_span().get_span_context().trace_id, "032x")

handle.shutdown(timeout=10)
print(json.dumps({"trace_id": trace_id, "run_id": run.run_id}), flush=True)
