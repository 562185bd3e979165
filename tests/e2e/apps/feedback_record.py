"""Another process (the one receiving the user's click) records feedback for ids given as JSON in argv[1]."""

import json
import sys

import llmtel

llmtel.instrument()
ids = json.loads(sys.argv[1])
llmtel.record_feedback(score=0, label="thumbs_down", comment="Wrong answer; mail me at jo@example.com", **ids)
print(json.dumps({"ok": True}), flush=True)
