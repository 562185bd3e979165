"""Logging behaviour the app sees must not change because llmtel added a handler to the root logger.

``--basic-config``: the app configures logging *after* ``instrument()``; otherwise it configures nothing and
relies on Python printing warnings to stderr.
"""

import json
import logging
import sys

import llmtel

llmtel.instrument()
if "--basic-config" in sys.argv:
    logging.basicConfig(level=logging.INFO, format="APP %(levelname)s %(name)s %(message)s", stream=sys.stdout)

log = logging.getLogger("app")
log.info("info line")
log.warning("warning line")
print(json.dumps({"root_handlers": [type(h).__name__ for h in logging.getLogger().handlers]}), flush=True)
