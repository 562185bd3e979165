"""Two chat calls against BASE_URL inside a run (the test scripts the replies); errors are caught."""

import json
import sys

import llmtel

base_url = sys.argv[1]
llmtel.instrument()

import openai  # noqa: E402

client = openai.OpenAI(base_url=base_url, api_key="sk-e2e-not-real-0123456789", max_retries=0)
errors = []
with llmtel.run("debugging") as run:
    for question in ("PROMPT-MARKER-1 what is up?", "PROMPT-MARKER-2 again?"):
        try:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
        except openai.APIError as error:
            errors.append(type(error).__name__)
print(json.dumps({"run_id": run.run_id, "errors": errors}), flush=True)
