"""The ``llmtel serve`` and ``llmtel report`` subcommands: argument parsing and the thin glue around them."""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from llmtel.viewer._params import MAX_INT, parse_count, parse_duration_us, parse_positive_number
from llmtel.viewer._store import NotATraceDatabase, Retention
from llmtel.viewer._viewer import (
    DEFAULT_GRPC_PORT,
    DEFAULT_HTTP_PORT,
    DEFAULT_UI_PORT,
    Viewer,
    default_db_path,
    is_loopback,
)


def port_number(text: str) -> int:
    """An argparse type for a TCP port, 0 (any free one) to 65535; shared by ``serve`` and ``receive``."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:64]!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0-65535)")
    return port


def typed(parse: Callable[..., object], name: str, **options: object) -> Callable[[str], object]:
    """An argparse type calling ``parse(text, name, **options)``: its `ValueError`, which names the option,
    becomes a usage error (exit status 2); argparse's own message would not say why the value was refused."""

    def convert(text: str) -> object:
        try:
            return parse(text, name, **options)
        except ValueError as error:  # argparse says "argument NAME: ": the message need not repeat it
            raise argparse.ArgumentTypeError(str(error).removeprefix(f"{name}: ")) from None

    return convert


MAX_DB_MB = MAX_INT / 1_000_000
"""Largest ``--max-db-mb``: its size in bytes must fit SQLite's integers."""


def add_serve_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    serve = commands.add_parser(
        "serve",
        help="run the local trace viewer: OTLP receiver, SQLite store, Jaeger-compatible API and web UI",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--allow-remote", action="store_true", help="allow a non-loopback --host (the viewer has no authentication)"
    )
    serve.add_argument("--grpc-port", type=port_number, default=DEFAULT_GRPC_PORT, help="OTLP/gRPC port (default 4317)")
    serve.add_argument("--http-port", type=port_number, default=DEFAULT_HTTP_PORT, help="OTLP/HTTP port (default 4318)")
    serve.add_argument(
        "--ui-port", type=port_number, default=DEFAULT_UI_PORT, help="UI and query API port (default 16686)"
    )
    serve.add_argument("--db", default=None, help=f"SQLite file, or :memory: (default {default_db_path()})")
    serve.add_argument(
        "--retention", type=typed(parse_duration_us, "--retention"), default=None, metavar="AGE",
        help="delete traces older than AGE (e.g. 7d, 12h)",
    )
    serve.add_argument(
        "--max-spans", type=typed(parse_count, "--max-spans"), default=None, metavar="N",
        help="keep at most N spans, deleting the oldest traces (e.g. 1000000 or 1M)",
    )
    serve.add_argument(
        "--max-db-mb", type=typed(parse_positive_number, "--max-db-mb", maximum=MAX_DB_MB), default=None, metavar="MB",
        help="keep the database's used space under MB megabytes, deleting the oldest traces",
    )
    serve.set_defaults(run=run_serve)
    return serve


def add_report_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    report = commands.add_parser(
        "report", help="cost, tokens, latency and errors from the viewer's store for a time window"
    )
    report.add_argument("--db", default=None, help=f"SQLite file written by llmtel serve (default {default_db_path()})")
    report.add_argument(
        "--since", type=typed(parse_duration_us, "--since"), default=None, metavar="AGE",
        help="window: the last AGE (default 24h)",
    )
    report.add_argument("--top", type=typed(parse_count, "--top"), default=5, help="traces to list (default 5)")
    report.add_argument("--json", action="store_true", help="print JSON instead of tables")
    report.set_defaults(run=run_report)
    return report


def run_serve(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    if not is_loopback(args.host):
        if not args.allow_remote:
            print(
                f"llmtel serve: --host {args.host} is not a loopback address; the viewer has no authentication, "
                "so anyone who can reach it could read your traces. Add --allow-remote to bind it anyway.",
                file=err,
            )
            return 2
        print(
            f"llmtel serve: WARNING: listening on {args.host}, not loopback: anyone who can reach this machine "
            "can send telemetry and read every stored trace.",
            file=err,
            flush=True,
        )
    db = args.db if args.db is not None else str(default_db_path())
    max_db = max(1, round(args.max_db_mb * 1_000_000)) if args.max_db_mb is not None else None
    retention = Retention(max_age_us=args.retention, max_spans=args.max_spans, max_db_bytes=max_db)
    viewer = Viewer(
        db,
        args.host,
        args.grpc_port,
        args.http_port,
        args.ui_port,
        allow_remote=args.allow_remote,
        retention=retention,
    )
    try:
        viewer.start()
    except (OSError, sqlite3.Error) as error:  # a port taken, a directory not writable, a file not a database
        print(f"llmtel serve: cannot start: {_database_error(error, db)}", file=err)
        return 1
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        print(f"llmtel viewer: {viewer.ui_url}", file=out)
        print(f"  OTLP gRPC {viewer.otlp_grpc_endpoint}   OTLP HTTP {viewer.otlp_http_endpoint}", file=out)
        print(f"  database {viewer.store.path}", file=out, flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        viewer.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def run_report(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    from llmtel.viewer._report import build_report, format_report
    from llmtel.viewer._store import TraceStore

    out = out or sys.stdout
    err = err or sys.stderr
    db = Path(args.db) if args.db is not None else default_db_path()
    if str(db) != ":memory:" and not db.is_file():
        print(f"llmtel report: no database at {db}; run `llmtel serve` first or pass --db", file=err)
        return 1
    since = args.since if args.since is not None else 24 * 3_600_000_000
    now_us = time.time_ns() // 1000
    try:
        store = TraceStore(db)
        try:
            report = build_report(store, since_us=now_us - since, until_us=now_us, top=args.top)
        finally:
            store.close()
    except (OSError, sqlite3.Error) as error:
        print(f"llmtel report: {_database_error(error, db)}", file=err)
        return 1
    if args.json:
        json.dump(report, out, indent=2)
        out.write("\n")
    else:
        out.write(format_report(report, _duration_label(since)))
    return 0


def _database_error(error: BaseException, db: object) -> str:
    """One line for a failure to open or read the store: `NotATraceDatabase` names the file itself; SQLite's
    other errors ("database is locked", "unable to open database file") get the file's name added."""
    if isinstance(error, sqlite3.Error) and not isinstance(error, NotATraceDatabase):
        return f"database {db}: {error}"
    return str(error)


def _duration_label(us: int) -> str:
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000)):
        if us >= size and us % size == 0:
            return f"{us // size}{unit}"
    return f"{us / 1_000_000:g}s"
