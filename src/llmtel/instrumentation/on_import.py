"""Running a function on a module once it is imported: at once if it is already, else just after its first import.

For a library that is slow to import (the Agents SDK takes about two seconds): instrumenting it at start-up
must not import it for an app that never does.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

_logger = logging.getLogger(__name__)


class _Loader:
    """The module's own loader, with ``then(module)`` run once the module has run."""

    def __init__(self, loader: Any, then: Callable[[ModuleType], None]) -> None:
        self._loader = loader
        self._then = then

    def create_module(self, spec: Any) -> ModuleType | None:
        return self._loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _run(self._then, module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_resource_reader, is_package, ...: the loader's
        return getattr(self._loader, name)


class _Finder:
    """On ``sys.meta_path`` until the module is first looked up: then it finds it as the other finders do and
    hands back that spec with the loader wrapped."""

    def __init__(self, name: str, then: Callable[[ModuleType], None]) -> None:
        self.name = name
        self.then = then

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.name or not _remove(self):  # not ours, or another thread took it first
            return None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader, self.then)
                return spec
        return None


_lock = threading.Lock()


def _remove(finder: _Finder) -> bool:
    with _lock:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)
            return True
        return False


def _run(then: Callable[[ModuleType], None], module: ModuleType) -> None:
    try:
        then(module)
    except Exception:  # noqa: BLE001 - the app's import goes on
        _logger.warning("llmtel: instrumenting %s once imported failed; it runs untraced", module.__name__,
                        exc_info=True)


def when_imported(name: str, then: Callable[[ModuleType], None]) -> Callable[[], None]:
    """Run ``then(module)`` on the top-level module ``name`` now if it is imported, else right after its first
    import finishes. Returns a function that cancels a call still waiting (a no-op once it has run)."""
    module = sys.modules.get(name)
    if module is not None:
        _run(then, module)
        return lambda: None
    finder = _Finder(name, then)
    with _lock:
        sys.meta_path.insert(0, finder)
    return lambda: _remove(finder) and None
