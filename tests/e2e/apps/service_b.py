"""Service B: a small http.server app that continues the caller's run with ``llmtel.continue_run``.

Prints ``{"port": N}`` once listening, serves until it gets ``POST /shutdown``, then flushes and exits.
"""

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry import trace

import llmtel

telemetry = llmtel.instrument()
log = logging.getLogger("service_b")
log.setLevel(logging.INFO)
tracer = trace.get_tracer("service_b")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - keep stderr quiet
        pass

    def do_POST(self):  # noqa: N802
        if self.path == "/shutdown":
            self._reply({"ok": True})
            threading.Thread(target=server.shutdown).start()
            return
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        with llmtel.continue_run(self.headers, "service_b.handle", component="b") as run:
            with llmtel.step("lookup"):
                with tracer.start_as_current_span("b.work"):
                    log.info("b handled", extra={"path": self.path})
            reply = {"run_id": run.run_id, "session_id": run.session_id}
        self._reply(reply)

    def _reply(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(json.dumps({"port": server.server_address[1]}), flush=True)
server.serve_forever()
telemetry.shutdown()
