"""Answers a question inside a run (one chat call against BASE_URL) and prints the feedback target ids."""

import json
import sys

import llmtel

base_url = sys.argv[1]
llmtel.instrument()

import openai  # noqa: E402

client = openai.OpenAI(base_url=base_url, api_key="sk-e2e-not-real-0123456789", max_retries=0)
with llmtel.run("answer", session_id="s-1", turn=2) as run:
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    inside = llmtel.feedback_target().as_dict()
print(json.dumps({"target": run.feedback_target().as_dict(), "inside": inside, "response_id": reply.id}), flush=True)
