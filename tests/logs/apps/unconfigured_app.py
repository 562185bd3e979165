"""An app that never configures logging: the module-level ``logging.warning`` configures it (basicConfig).
``--llmtel``: the same app with ``llmtel.instrument()`` first."""

import logging
import sys

if "--llmtel" in sys.argv:
    import llmtel

    llmtel.instrument()
logging.getLogger("app").info("before any configuration (root level WARNING: not shown)")
logging.getLogger("app").warning("before any configuration")
logging.warning("first module-level call")
logging.getLogger("app.db").error("later, from a named logger")
logging.getLogger("app.db").info("info (root level WARNING: not shown)")
