"""The ``llmtel`` command: ``demo`` runs an instrumented pipeline locally; ``receive`` runs an OTLP receiver;
``serve`` runs the local trace viewer; ``report`` summarises what it stored."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmtel.receiver import OTLPReceiver

MAX_DEMO_TIMEOUT_S = 86_400.0
"""Longest ``demo --timeout``: a day. NaN or infinity would make the demo poll for ever."""


def _demo(args: argparse.Namespace) -> int:
    import os

    from llmtel.demo import run_demo

    if args.real and not os.environ.get("OPENAI_API_KEY"):
        print("llmtel demo: --real calls the OpenAI API and needs OPENAI_API_KEY in the environment", file=sys.stderr)
        return 2
    stop = threading.Event()
    if args.keep_serving:
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        result = run_demo(
            protocol=args.protocol, out=sys.stdout, real=args.real, viewer_url=args.viewer,
            otlp_endpoint=args.otlp_endpoint, db=args.db, keep_serving=args.keep_serving, stop=stop,
            timeout=args.timeout,
        )
    except OSError as error:  # e.g. --keep-serving and a default port taken by something that is not a viewer
        print(f"llmtel demo: {error}", file=sys.stderr)
        return 2
    return 0 if result.complete else 1


def _receive(args: argparse.Namespace) -> int:
    from llmtel.receiver import OTLPReceiver

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    receiver = OTLPReceiver(host=args.host, grpc_port=args.grpc_port, http_port=args.http_port)
    try:
        receiver.start()
    except OSError as error:  # a port taken, an address not on this machine: as `llmtel serve` says it
        print(f"llmtel receive: cannot start: {error}", file=sys.stderr)
        return 1
    try:
        print(f"OTLP receiver: grpc {receiver.grpc_endpoint}  http {receiver.http_endpoint}", flush=True)
        _print_spans(receiver, stop)
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
    return 0


def _print_spans(receiver: OTLPReceiver, stop: threading.Event) -> None:
    """Print each span the receiver stores, one line each, until `stop` is set."""
    seen = 0
    while not stop.wait(0.5):
        spans = receiver.store.spans()
        for span in spans[seen:]:
            ms = (span.end_ns - span.start_ns) / 1e6
            print(f"{span.trace_id} {span.name} {ms:.1f} ms", flush=True)
        seen = len(spans)


def main(argv: Sequence[str] | None = None) -> int:
    from llmtel.viewer._commands import add_report_parser, add_serve_parser, port_number, typed
    from llmtel.viewer._params import parse_positive_number

    parser = argparse.ArgumentParser(prog="llmtel", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run an instrumented pipeline against local stand-ins")
    demo.add_argument("--protocol", choices=("http/protobuf", "grpc"), default="http/protobuf")
    demo.add_argument("--real", action="store_true", help="call the real OpenAI API (needs OPENAI_API_KEY)")
    demo.add_argument("--viewer", default="http://127.0.0.1:16686", metavar="URL",
                      help="send to the viewer (or Jaeger) answering here, if one does (default %(default)s)")
    demo.add_argument("--otlp-endpoint", default=None, metavar="URL",
                      help="that viewer's OTLP endpoint (default http://127.0.0.1:4318, or :4317 for grpc)")
    demo.add_argument("--db", default=None, help="database of the viewer the demo starts when none is running "
                                                 "(default: llmtel serve's)")
    demo.add_argument("--keep-serving", action="store_true",
                      help="keep the demo's own viewer running on the default ports until Ctrl-C")
    demo.add_argument("--timeout", type=typed(parse_positive_number, "--timeout", maximum=MAX_DEMO_TIMEOUT_S),
                      default=10.0, metavar="SECONDS",
                      help="how long to wait for the whole trace to be queryable (default %(default)s)")
    demo.set_defaults(run=_demo)

    receive = commands.add_parser("receive", help="run an OTLP receiver and print the spans it gets")
    receive.add_argument("--host", default="127.0.0.1")
    receive.add_argument("--grpc-port", type=port_number, default=4317, help="0 picks a free port (default 4317)")
    receive.add_argument("--http-port", type=port_number, default=4318, help="0 picks a free port (default 4318)")
    receive.set_defaults(run=_receive)

    add_serve_parser(commands)
    add_report_parser(commands)

    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
