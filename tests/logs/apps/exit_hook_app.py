"""An app whose own exit hooks log: one registered before llmtel is imported, one after."""

import atexit
import logging

log = logging.getLogger("app")
atexit.register(lambda: log.warning("exit hook registered before llmtel"))

import llmtel  # noqa: E402

atexit.register(lambda: log.warning("exit hook registered after llmtel"))
llmtel.instrument()
log.warning("running")
