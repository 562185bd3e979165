"""End-to-end harness: run an app in a fresh interpreter with a controlled environment."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

APPS = Path(__file__).parent / "apps"
BIN = Path(sys.executable).parent


@dataclass
class AppRun:
    returncode: int
    stdout: str
    stderr: str
    exited_at: float  # time.time() when the process had exited

    @property
    def result(self) -> dict[str, Any]:
        """The app's JSON report: the last stdout line that parses as a JSON object."""
        for line in reversed(self.stdout.strip().splitlines()):
            if line.startswith("{"):
                return json.loads(line)
        raise AssertionError(f"app printed no JSON report\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}")


def clean_env(**overrides: str) -> dict[str, str]:
    """The current environment without any OTEL_/LLMTEL_ setting, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTEL_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def run_app(args: list[str], env: dict[str, str], timeout: float = 60) -> AppRun:
    """Run ``args`` (an app script and its arguments, or a command) to completion."""
    command = [sys.executable, *args] if args[0].endswith(".py") else args
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, cwd=APPS)
    return AppRun(proc.returncode, proc.stdout, proc.stderr, time.time())


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
