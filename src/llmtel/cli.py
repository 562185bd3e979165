"""The ``llmtel`` command: ``demo`` runs an instrumented pipeline locally; ``receive`` runs an OTLP receiver."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence


def _demo(args: argparse.Namespace) -> int:
    from llmtel.demo import run_demo

    result = run_demo(protocol=args.protocol, out=sys.stdout)
    ok = bool(result.llm_spans) and result.correlated_logs > 0 and result.traceparent_propagated
    return 0 if ok else 1


def _receive(args: argparse.Namespace) -> int:
    from llmtel.receiver import OTLPReceiver

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with OTLPReceiver(host=args.host, grpc_port=args.grpc_port, http_port=args.http_port) as receiver:
        print(f"OTLP receiver: grpc {receiver.grpc_endpoint}  http {receiver.http_endpoint}", flush=True)
        seen = 0
        try:
            while not stop.wait(0.5):
                spans = receiver.store.spans()
                for span in spans[seen:]:
                    ms = (span.end_ns - span.start_ns) / 1e6
                    print(f"{span.trace_id} {span.name} {ms:.1f} ms", flush=True)
                seen = len(spans)
        except KeyboardInterrupt:
            pass
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llmtel", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run an instrumented pipeline against local stand-ins")
    demo.add_argument("--protocol", choices=("http/protobuf", "grpc"), default="http/protobuf")
    demo.set_defaults(run=_demo)

    receive = commands.add_parser("receive", help="run an OTLP receiver and print the spans it gets")
    receive.add_argument("--host", default="127.0.0.1")
    receive.add_argument("--grpc-port", type=int, default=4317)
    receive.add_argument("--http-port", type=int, default=4318)
    receive.set_defaults(run=_receive)

    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
