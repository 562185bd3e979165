"""An unmodified OpenAI app (no llmtel import unless ``--setup``): one chat call against BASE_URL."""

import json
import sys

base_url = sys.argv[1]
if "--setup" in sys.argv:
    import llmtel

    llmtel.instrument()

import openai

client = openai.OpenAI(base_url=base_url, api_key="sk-e2e-not-real-0123456789", max_retries=0)
reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
print(json.dumps({"content": reply.choices[0].message.content}), flush=True)
