"""Bounded flush and shutdown (``llmtel.setup._within_deadline``), with and without new threads.

Delivery at exit through real processes and a real receiver: ``tests/e2e/test_instrument.py``."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from llmtel.setup import _within_deadline


@pytest.fixture
def no_new_threads(monkeypatch):
    """Threads refuse to start, as in an ``atexit`` handler on Python 3.12.0 and 3.12.1."""

    def start(self: threading.Thread) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(threading.Thread, "start", start)


def test_each_call_runs_on_its_own_thread_given_the_budget():
    seen: list[tuple[str, float]] = []
    calls = [lambda left, n=n: seen.append((threading.current_thread().name, left)) for n in range(3)]
    assert _within_deadline(calls, 5.0, "flush") is True
    assert [name for name, _ in seen] == ["llmtel-flush"] * 3
    assert all(left == 5.0 for _, left in seen)


def test_a_call_past_the_deadline_is_left_behind_and_reported(caplog):
    release = threading.Event()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="llmtel"):
        assert _within_deadline([lambda left: release.wait(10)], 0.2, "shutdown") is False
    release.set()
    assert time.monotonic() - started < 2.0
    assert "shutdown did not finish within 0.2 s" in caplog.text


def test_without_threads_the_calls_run_here_in_order_each_given_what_is_left(no_new_threads):
    seen: list[tuple[int, str, float]] = []

    def call(n: int):
        def run(left: float) -> None:
            seen.append((n, threading.current_thread().name, left))
            time.sleep(0.05)

        return run

    assert _within_deadline([call(0), call(1), call(2)], 5.0, "shutdown") is True
    assert [n for n, _, _ in seen] == [0, 1, 2]
    assert {name for _, name, _ in seen} == {threading.current_thread().name}
    lefts = [left for _, _, left in seen]
    assert 4.8 < lefts[0] <= 5.0
    assert lefts[0] > lefts[1] > lefts[2]  # each is given what the ones before it left


def test_without_threads_calls_after_the_deadline_are_skipped_and_reported(no_new_threads, caplog):
    ran: list[int] = []
    calls = [lambda left: (ran.append(0), time.sleep(0.3)), lambda left: ran.append(1)]
    with caplog.at_level(logging.WARNING, logger="llmtel"):
        assert _within_deadline(calls, 0.1, "shutdown") is False
    assert ran == [0]
    assert "shutdown did not finish within 0.1 s" in caplog.text


def test_without_threads_a_call_that_overruns_is_reported(no_new_threads, caplog):
    with caplog.at_level(logging.WARNING, logger="llmtel"):
        assert _within_deadline([lambda left: time.sleep(0.3)], 0.1, "force_flush") is False
    assert "force_flush took longer than 0.1 s" in caplog.text


def test_a_failing_call_is_logged_and_the_others_still_run(no_new_threads, caplog):
    ran: list[int] = []

    def broken(left: float) -> None:
        raise ValueError("exporter bug")

    with caplog.at_level(logging.DEBUG, logger="llmtel"):
        assert _within_deadline([broken, lambda left: ran.append(1)], 5.0, "shutdown") is True
    assert ran == [1]
    assert "exporter bug" in caplog.text
