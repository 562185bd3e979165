"""A web service that answers with the model and has a second service review the answer. The trace context
travels in the HTTP headers (W3C ``traceparent`` and ``baggage``): the reviewer restores it with
``llmtel.continue_run``, so the spans of both services — two processes — form one trace, and the reviewer's
spans carry the caller's ``llmtel.run.id``. Starlette apps served by uvicorn (``pip install
"llmtel[examples]"``).

    python examples/web_service.py   # starts both services on loopback, asks one question, stops them
"""

import logging
import shutil
import socket
import subprocess
import sys
import threading
import urllib.parse
import urllib.request

import requests
import uvicorn
from opentelemetry import trace
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import llmtel
from llmtel.testing import ChatReply, openai_client_or_fake

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("web-example")


def listening_socket() -> socket.socket:
    """A loopback socket on a free port, already listening: requests can be sent before uvicorn starts."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


# -- the second service: reviews answers -------------------------------------------------------------------


async def review(request: Request) -> JSONResponse:
    # continue_run restores the caller's trace context and run id from the request headers (a SERVER span)
    async with llmtel.continue_run(request.headers, "review-answer"):
        answer = (await request.json())["answer"]
        approved = 0 < len(answer) <= 500
        trace.get_current_span().set_attribute("review.approved", approved)
        log.info("reviewed an answer of %d characters: %s", len(answer), "approved" if approved else "rejected")
        return JSONResponse({"approved": approved})


def run_reviewer() -> None:
    """The review service's process: serves until its stdin closes (when the parent is done, or dies)."""
    llmtel.instrument(service_name="review-service")
    sock = listening_socket()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/review", review, methods=["POST"])]),
                                           log_level="warning"))

    def stop_when_the_parent_is_done() -> None:
        sys.stdin.read()
        server.should_exit = True

    threading.Thread(target=stop_when_the_parent_is_done, daemon=True).start()
    print(sock.getsockname()[1], flush=True)  # tell the parent the port
    server.run(sockets=[sock])


# -- the first service: answers questions --------------------------------------------------------------------


def answer_service(client, reviewer_url: str) -> Starlette:
    def ask(request: Request) -> JSONResponse:  # a plain def: Starlette runs it in a worker thread
        with llmtel.run("answer-question"):  # this service starts the run: its caller is not traced
            completion = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": request.query_params["q"]}]
            )
            answer = completion.choices[0].message.content
            # the instrumented HTTP client puts traceparent and baggage (with the run id) on this request
            verdict = requests.post(f"{reviewer_url}/review", json={"answer": answer}, timeout=10).json()
            log.info("answered; the reviewer %s it", "approved" if verdict["approved"] else "rejected")
            return JSONResponse({"answer": answer, **verdict})

    return Starlette(routes=[Route("/ask", ask)])


def main() -> None:
    llmtel.instrument(service_name="answer-service")
    reviewer = subprocess.Popen([sys.executable, __file__, "reviewer"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
    try:
        reviewer_url = f"http://127.0.0.1:{reviewer.stdout.readline().strip()}"
        threading.Thread(target=shutil.copyfileobj, args=(reviewer.stdout, sys.stdout), daemon=True).start()
        with openai_client_or_fake(ChatReply("Two services, one trace.")) as client:
            sock = listening_socket()
            server = uvicorn.Server(uvicorn.Config(answer_service(client, reviewer_url), log_level="warning"))
            serving = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
            serving.start()
            try:  # a client of the service (stdlib urllib: not instrumented, so the service starts the trace)
                question = urllib.parse.quote("How does a trace cross services?")
                port = sock.getsockname()[1]
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ask?q={question}", timeout=30) as reply:
                    print(reply.read().decode())
            finally:
                server.should_exit = True
                serving.join()
    finally:
        reviewer.stdin.close()
        reviewer.wait(timeout=30)


if __name__ == "__main__":
    run_reviewer() if sys.argv[1:] == ["reviewer"] else main()
