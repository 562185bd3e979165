"""The CLI's answers to bad input, as real processes: numbers argparse must refuse (exit 2, naming the option),
ports out of range or taken, a ``--db`` that is not an llmtel database, and clients that reset their connection
to ``llmtel serve`` — each a one-line message, never a traceback."""

from __future__ import annotations

import re
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmtel.cli import main
from llmtel.viewer import TraceStore
from tests.e2e.harness import clean_env

pytestmark = pytest.mark.e2e


def _llmtel(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``llmtel ARGS`` in a fresh process to completion."""
    return subprocess.run([sys.executable, "-m", "llmtel.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=clean_env())


def _assert_clean_failure(run: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert run.returncode == code, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    for needle in needles:
        assert needle in run.stderr


FREE_PORTS = ("--grpc-port", "0", "--http-port", "0", "--ui-port", "0")


# -- numbers ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["serve", "--db", ":memory:", *FREE_PORTS, "--max-spans", "inf"], "--max-spans"),
        (["serve", "--db", ":memory:", *FREE_PORTS, "--max-spans", "1e400"], "--max-spans"),
        (["serve", "--db", ":memory:", *FREE_PORTS, "--max-spans", "nan"], "--max-spans"),
        (["serve", "--db", ":memory:", *FREE_PORTS, "--max-spans", "1e30"], "--max-spans"),
        (["serve", "--db", ":memory:", *FREE_PORTS, "--max-db-mb", "nan"], "--max-db-mb"),
        (["serve", "--db", ":memory:", *FREE_PORTS, "--max-db-mb", "inf"], "--max-db-mb"),
        (["serve", "--db", ":memory:", *FREE_PORTS, "--max-db-mb", "1e300"], "--max-db-mb"),
        (["serve", "--db", ":memory:", *FREE_PORTS, "--retention", "1e400d"], "--retention"),
        (["report", "--db", ":memory:", "--top", "1e400"], "--top"),
        (["report", "--db", ":memory:", "--top", "inf"], "--top"),
        (["report", "--db", ":memory:", "--since", "99999999999999999999d"], "--since"),
    ],
)
def test_numbers_beyond_range_are_usage_errors_naming_the_option(argv: list[str], option: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "1e400"])
def test_demo_timeout_must_be_a_finite_positive_number(value: str) -> None:
    # A NaN timeout never expires: the old demo would poll for ever when the trace was incomplete.
    run = _llmtel("demo", "--viewer", "http://127.0.0.1:1", "--db", ":memory:", "--timeout", value, timeout=60)
    _assert_clean_failure(run, 2, "argument --timeout")
    assert run.stdout == ""  # refused before anything ran


def test_a_tiny_max_db_mb_is_still_a_positive_limit(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "llmtel.cli", "serve", "--db", ":memory:", *FREE_PORTS,
                             "--max-db-mb", "1e-9"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=clean_env())
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("llmtel viewer: http://127.0.0.1:")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


# -- llmtel receive: ports -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("option", "value"), [("--grpc-port", "70000"), ("--http-port", "70000"),
                                               ("--grpc-port", "-1"), ("--http-port", "65536")])
def test_receive_refuses_ports_out_of_range(option: str, value: str) -> None:
    other = "--http-port" if option == "--grpc-port" else "--grpc-port"
    run = _llmtel("receive", option, value, other, "0", timeout=20)  # the old CLI bound port % 65536 and ran on
    _assert_clean_failure(run, 2, f"argument {option}", "0-65535")


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_receive_reports_a_port_in_use_in_one_line(transport: str, taken_port: int) -> None:
    ports = {"http": "0", "grpc": "0", transport: str(taken_port)}
    run = _llmtel("receive", "--grpc-port", ports["grpc"], "--http-port", ports["http"], timeout=20)
    _assert_clean_failure(run, 1, "llmtel receive: cannot start:", f"127.0.0.1:{taken_port}")


def test_serve_names_the_port_in_use(taken_port: int, capsys) -> None:
    code = main(["serve", "--db", ":memory:", "--grpc-port", "0", "--http-port", str(taken_port), "--ui-port", "0"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("llmtel serve: cannot start: ") and f"127.0.0.1:{taken_port}" in err


# -- a --db that is not an llmtel database ---------------------------------------------------------------------


@pytest.fixture(params=["garbage", "foreign-sqlite"])
def not_a_trace_db(request, tmp_path: Path) -> Path:
    path = tmp_path / "notdb.db"
    if request.param == "garbage":
        path.write_bytes(b"garbage\n" * 100)
    else:
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT)")
    return path


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_report_on_a_file_that_is_not_a_trace_database(not_a_trace_db: Path) -> None:
    before = not_a_trace_db.read_bytes()
    run = _llmtel("report", "--db", str(not_a_trace_db))
    _assert_clean_failure(run, 1, f"llmtel report: {not_a_trace_db} is not an llmtel trace database")
    assert run.stderr.count("\n") == 1
    assert not_a_trace_db.read_bytes() == before  # another program's database is left alone


def test_serve_on_a_file_that_is_not_a_trace_database(not_a_trace_db: Path) -> None:
    before = not_a_trace_db.read_bytes()
    run = _llmtel("serve", "--db", str(not_a_trace_db), *FREE_PORTS)
    _assert_clean_failure(run, 1, f"llmtel serve: cannot start: {not_a_trace_db} is not an llmtel trace database")
    assert not_a_trace_db.read_bytes() == before


def test_trace_store_raises_not_a_trace_database_and_opens_its_own_again(not_a_trace_db: Path, tmp_path: Path):
    with pytest.raises(sqlite3.DatabaseError, match="is not an llmtel trace database") as raised:
        TraceStore(not_a_trace_db)
    assert type(raised.value).__name__ == "NotATraceDatabase"  # exported by llmtel.viewer
    ours = tmp_path / "ours.db"
    TraceStore(ours).close()  # an empty file becomes a trace database...
    TraceStore(ours).close()  # ...which opens again
    assert {"meta", "spans", "traces"} <= _tables(ours)


# -- clients that reset their connection -----------------------------------------------------------------------


def _reset_mid_reply(port: int, request: bytes) -> None:
    """Send `request`, read a few bytes of the reply, then close with RST (SO_LINGER 0), as a killed client."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(request)
    time.sleep(0.2)
    sock.recv(5)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.mark.timeout(60)
def test_serve_stays_quiet_when_clients_reset_their_connections() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "llmtel.cli", "serve", "--db", ":memory:", *FREE_PORTS],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline() + proc.stdout.readline()
        ui = int(re.search(r"llmtel viewer: http://127\.0\.0\.1:(\d+)", banner).group(1))
        otlp = int(re.search(r"OTLP HTTP http://127\.0\.0\.1:(\d+)", banner).group(1))
        for _ in range(3):
            _reset_mid_reply(ui, b"GET /api/services HTTP/1.1\r\nHost: x\r\n\r\n")
            _reset_mid_reply(otlp, b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                   b"Content-Length: 2\r\n\r\n{}")
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert "Traceback" not in err and "Exception occurred" not in err
    assert err == ""
