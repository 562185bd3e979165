"""Keeping llmtel's log handler on the root logger without changing what the app's own logging set-up does.

A handler on the root logger is, to stdlib, a sign that logging is configured; and the app's own set-up may
replace the root logger's handlers. ``attach`` therefore hooks the places where either matters:

- ``logging.basicConfig`` does not count llmtel's handler as configuration, so it still configures logging;
- the module-level functions (``logging.warning(...)`` and the like) still call ``basicConfig()`` first when
  the root logger has no handler but llmtel's, so an app that never configures logging prints as it would
  without llmtel (``WARNING:root:...``);
- ``logging.config.dictConfig`` (through ``logging.config.dictConfigClass``, so a ``dictConfig`` imported before
  ``attach`` is covered too) and ``logging.config.fileConfig`` put llmtel's handler back on the root logger
  when the configuration removed it. Everything else the app configured (handlers, levels, formatters,
  propagation, disabled loggers) is left as it set it.

``detach`` of the last attached handler restores every hooked function.
"""

from __future__ import annotations

import functools
import logging
import logging.config
import sys
from collections.abc import Callable
from typing import Any

from llmtel.logs.handler import OTelLogHandler

# Handlers attach() put on the root logger (and keeps there), in order.
_attached: list[OTelLogHandler] = []
# What attach() replaced, to restore in detach(): (owner, attribute, original, replacement).
_patches: list[tuple[Any, str, Any, Any]] = []

# stdlib's module-level functions that call basicConfig() while the root logger has no handler. ``exception``
# and ``warn`` call ``error`` / ``warning`` through the module's namespace, so they are covered by those.
_CONFIGURING_FUNCTIONS = ("critical", "fatal", "error", "warning", "info", "debug", "log")

# How much deeper the caller's frame is once a wrapper sits between it and stdlib's module-level function:
# from 3.11 on ``stacklevel`` counts the frames outside ``logging`` (the wrapper's one); on 3.10 it counts
# every frame above the module-level function (the wrapper's and the caller's own).
_WRAPPER_LEVELS = 1 if sys.version_info >= (3, 11) else 2


def attach(handler: OTelLogHandler) -> None:
    """Add ``handler`` to the root logger and keep it there through the app's logging configuration."""
    root = logging.getLogger()
    if handler not in root.handlers:
        root.addHandler(handler)
    if handler not in _attached:
        _attached.append(handler)
    if not _patches:
        _install_hooks()


def detach(handler: OTelLogHandler) -> None:
    """Remove ``handler``; once no attached handler is left, restore every function ``attach`` hooked."""
    logging.getLogger().removeHandler(handler)
    if handler in _attached:
        _attached.remove(handler)
    if not _attached:
        _remove_hooks()


def _install_hooks() -> None:
    """Replace basicConfig, the module-level logging functions, dictConfig's configurator and fileConfig."""
    _patch(logging, "basicConfig", _basic_config_hook)
    for name in _CONFIGURING_FUNCTIONS:
        _patch(logging, name, _module_function_hook)
    _patch(logging.config, "dictConfigClass", _reattaching_configurator)
    _patch(logging.config, "fileConfig", _reattaching_file_config)


def _patch(owner: Any, name: str, make: Callable[[Any], Any]) -> None:
    """Set ``owner.name`` to ``make(current value)``, remembering both for ``_remove_hooks``."""
    original = getattr(owner, name)
    replacement = make(original)
    setattr(owner, name, replacement)
    _patches.append((owner, name, original, replacement))


def _remove_hooks() -> None:
    """Put back what ``_install_hooks`` replaced. A hook someone else wrapped since is left in place (removing
    it would drop their wrapper); with no handler attached it only passes calls through."""
    for owner, name, original, replacement in reversed(_patches):
        if getattr(owner, name, None) is replacement:
            setattr(owner, name, original)
    _patches.clear()


def _ours(handler: logging.Handler) -> bool:
    return isinstance(handler, OTelLogHandler)


def _basic_config_hook(original: Callable[..., None]) -> Callable[..., None]:
    """``logging.basicConfig`` that does not count llmtel's handlers as the app having configured logging."""

    @functools.wraps(original)
    def basic_config(**kwargs: Any) -> None:
        root = logging.getLogger()
        ours = [h for h in root.handlers if _ours(h)]
        for handler in ours:
            root.removeHandler(handler)
        try:
            original(**kwargs)
        finally:
            for handler in ours:
                if handler not in root.handlers:
                    root.addHandler(handler)

    return basic_config


def _module_function_hook(original: Callable[..., None]) -> Callable[..., None]:
    """A module-level function (``logging.warning``...) that, like stdlib's, calls ``logging.basicConfig()``
    first when the root logger has no handler but llmtel's: without llmtel's there would be none, and the app
    would get stdlib's default console output (``WARNING:root:...``) from then on."""

    @functools.wraps(original)
    def call(*args: Any, **kwargs: Any) -> None:
        if _attached and not any(not _ours(h) for h in logging.getLogger().handlers):
            logging.basicConfig()
        # The record's file, line and function are the caller's, not this wrapper's.
        kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + _WRAPPER_LEVELS
        original(*args, **kwargs)

    return call


def _reattach() -> None:
    """Put each attached handler back on the root logger if the app's configuration dropped it. A handler the
    configuration itself placed (on the root logger or any other) is where the app wants it: left there, and
    not added a second time."""
    root = logging.getLogger()
    for handler in _attached:
        if not _placed(handler):
            root.addHandler(handler)


def _placed(handler: logging.Handler) -> bool:
    """True when ``handler`` is on the root logger or on any other logger."""
    if handler in logging.getLogger().handlers:
        return True
    loggers = list(logging.Logger.manager.loggerDict.values())
    return any(isinstance(lg, logging.Logger) and handler in lg.handlers for lg in loggers)


def _reattaching_configurator(previous: type) -> type:
    """A subclass of ``logging.config.dictConfigClass`` whose ``configure()`` (what ``dictConfig`` runs) ends
    by putting llmtel's handler back on the root logger. Hooking the class rather than ``dictConfig`` covers an
    app that imported ``dictConfig`` before ``attach`` ran."""

    class ReattachingDictConfigurator(previous):  # type: ignore[misc, valid-type]
        def configure(self) -> None:
            try:
                super().configure()
            finally:  # a configuration that failed halfway may have removed the root logger's handlers too
                _reattach()

    ReattachingDictConfigurator.__qualname__ = f"ReattachingDictConfigurator({previous.__qualname__})"
    return ReattachingDictConfigurator


def _reattaching_file_config(original: Callable[..., None]) -> Callable[..., None]:
    """``logging.config.fileConfig`` that ends by putting llmtel's handler back on the root logger."""

    @functools.wraps(original)
    def file_config(*args: Any, **kwargs: Any) -> None:
        try:
            original(*args, **kwargs)
        finally:
            _reattach()

    return file_config
