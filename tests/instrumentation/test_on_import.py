"""Running a function on a module once it is imported: in fresh interpreters, so the import really is the first."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import pytest


def run_python(code: str, errors: list[str] | None = None) -> str:
    """Run ``code`` in a fresh interpreter; its output (its error output appended to ``errors``)."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    if errors is not None:
        errors.append(done.stderr)
    return done.stdout.strip()


def test_a_module_not_imported_yet_is_handed_over_right_after_its_first_import() -> None:
    out = run_python("""
        import sys
        from llmtel.instrumentation.on_import import when_imported
        seen = []
        when_imported("colorsys", lambda module: seen.append((module.__name__, hasattr(module, "rgb_to_hsv"))))
        print(seen, "colorsys" in sys.modules)
        import colorsys, colorsys
        import importlib; importlib.reload(colorsys)
        print(seen, any(type(f).__name__ == "_Finder" for f in sys.meta_path))
        print(colorsys.__loader__.get_source("colorsys") is not None)  # the wrapped loader answers the rest
    """)
    assert out.splitlines() == ["[] False", "[('colorsys', True)] False", "True"]


def test_a_module_already_imported_is_handed_over_at_once_and_a_cancelled_wait_runs_nothing() -> None:
    out = run_python("""
        import sys, os
        from llmtel.instrumentation.on_import import when_imported
        seen = []
        when_imported("os", lambda module: seen.append(module.__name__))
        cancel = when_imported("colorsys", lambda module: seen.append(module.__name__))
        cancel()
        import colorsys
        print(seen, any(type(f).__name__ == "_Finder" for f in sys.meta_path))
    """)
    assert out == "['os'] False"


def test_a_failing_callback_is_logged_and_the_import_goes_on() -> None:
    errors: list[str] = []
    out = run_python("""
        import logging
        from llmtel.instrumentation.on_import import when_imported
        logging.basicConfig(format="%(message)s")
        def broken(module):
            raise RuntimeError("hook broke")
        when_imported("colorsys", broken)
        import colorsys
        print(colorsys.rgb_to_hsv(1, 1, 1))
    """, errors)
    assert out == "(0.0, 0.0, 1)"
    assert "llmtel: instrumenting colorsys once imported failed" in errors[0] and "hook broke" in errors[0]


@pytest.mark.skipif(importlib.util.find_spec("agents") is None, reason="the OpenAI Agents SDK is not installed")
def test_the_agents_sdk_is_not_imported_by_instrumenting_it_only_hooked_when_the_app_imports_it() -> None:
    out = run_python("""
        import sys
        from llmtel.instrumentation import instrument_libraries
        print(instrument_libraries(disabled=["llmtel_openai", "httpx", "httpx2", "requests"]), "agents" in sys.modules)
        import agents
        from agents.tracing.scope import Scope
        from llmtel.instrumentation.patching import is_patched
        print(is_patched(Scope, "set_current_span"), is_patched(Scope, "reset_current_trace"))
    """)
    assert out.splitlines() == ["['llmtel_openai_agents'] False", "True True"]
