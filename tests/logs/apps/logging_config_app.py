"""An app that sets up its own logging in one of several ways (``argv[1]``), then logs inside a span.

Prints one JSON line: the root logger's handlers and level. ``--cli``: llmtel is set up by
``opentelemetry-instrument``, not by this script.
"""

import atexit
import json
import logging
import logging.config
import sys
import tempfile
from logging.config import dictConfig  # imported before llmtel hooks anything

how = sys.argv[1]
FORMAT = "APP %(levelname)s %(name)s %(message)s"
CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"f": {"format": FORMAT}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "f", "stream": "ext://sys.stdout"}},
    "root": {"level": "INFO", "handlers": ["console"]},
}
INI = f"""
[loggers]
keys=root
[handlers]
keys=console
[formatters]
keys=f
[logger_root]
level=INFO
handlers=console
[handler_console]
class=StreamHandler
formatter=f
args=(sys.stdout,)
[formatter_f]
format={FORMAT}
"""

if how == "trace-format":  # an atexit hook registered before instrument() runs after llmtel's exit hook
    atexit.register(lambda: logging.getLogger("app").warning("from atexit"))
if "--cli" not in sys.argv:
    import llmtel

    handle = llmtel.instrument()
from opentelemetry import trace  # noqa: E402

if how == "dictConfig":
    logging.config.dictConfig(CONFIG)
elif how == "dictConfig-imported-early":
    dictConfig(CONFIG)
elif how == "dictConfig-repeated":
    dictConfig(CONFIG)
    dictConfig(CONFIG)
    dictConfig({"version": 1, "incremental": True, "root": {"level": "INFO"}})
elif how == "dictConfig-with-llmtel-handler":
    config = dict(CONFIG, handlers=dict(CONFIG["handlers"], otel={"()": lambda: llmtel.active().log_handler}))
    config["root"] = {"level": "INFO", "handlers": ["console", "otel"]}
    dictConfig(config)
elif how == "dictConfig-llmtel-handler-on-app-logger":
    config = dict(CONFIG, handlers=dict(CONFIG["handlers"], otel={"()": lambda: llmtel.active().log_handler}))
    dictConfig(dict(config, loggers={"app": {"handlers": ["otel"]}}))
elif how == "dictConfig-propagation-off":
    dictConfig(dict(CONFIG, loggers={"app.quiet": {"handlers": ["console"], "propagate": False}}))
elif how == "fileConfig":
    with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as ini:
        ini.write(INI)
    logging.config.fileConfig(ini.name, disable_existing_loggers=False)
elif how == "trace-format":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s trace=%(trace_id)s %(message)s", stream=sys.stdout)

root = logging.getLogger()
print(json.dumps({"root_handlers": [type(h).__name__ for h in root.handlers], "root_level": root.level}), flush=True)
with trace.get_tracer("app").start_as_current_span("s"):
    logging.getLogger("app").info("inside a span")
    logging.getLogger("app.quiet").info("not propagated")
if how == "trace-format":
    handle.shutdown()
    logging.getLogger("app").info("after shutdown")
