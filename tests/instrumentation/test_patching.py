"""Patching a class's method with a thin wrapper, and taking it off: identity, arguments, coroutines, layering."""

from __future__ import annotations

import asyncio
import functools
import inspect
from typing import Any

from llmtel.instrumentation.patching import is_patched, patch_method, unpatch_method


def make_class() -> type:
    class Client:
        def request(self, path: str, *, stream: bool = False) -> tuple[Any, str, bool]:
            """Send a request."""
            return self, path, stream

        async def arequest(self, path: str, *, stream: bool = False) -> tuple[Any, str, bool]:
            """Send a request, asynchronously."""
            await asyncio.sleep(0)
            return self, path, stream

    return Client


def recording_hook(seen: list[tuple[Any, ...]], tag: str = "hook") -> Any:
    def hook(original: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        seen.append((tag, original, instance, args, kwargs))
        return original(instance, *args, **kwargs)

    return hook


def test_hook_gets_the_original_function_the_instance_and_the_arguments() -> None:
    cls = make_class()
    original = cls.request
    seen: list[tuple[Any, ...]] = []
    patch_method(cls, "request", recording_hook(seen))
    client = cls()
    assert client.request("/chat", stream=True) == (client, "/chat", True)
    assert seen == [("hook", original, client, ("/chat",), {"stream": True})]
    assert is_patched(cls, "request")


def test_wrapper_keeps_name_docstring_signature_and_wrapped() -> None:
    cls = make_class()
    original = cls.request
    patch_method(cls, "request", recording_hook([]))
    assert cls.request is not original
    assert cls.request.__wrapped__ is original
    assert (cls.request.__name__, cls.request.__qualname__, cls.request.__doc__) == (
        original.__name__, original.__qualname__, "Send a request.")
    assert inspect.signature(cls.request) == inspect.signature(original)


def test_hook_may_replace_the_arguments_and_the_result() -> None:
    cls = make_class()

    def hook(original: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = original(instance, "/changed", **kwargs)
        return (*result, "seen")

    patch_method(cls, "request", hook)
    client = cls()
    assert client.request("/chat") == (client, "/changed", False, "seen")


def test_a_coroutine_function_gets_a_coroutine_wrapper() -> None:
    cls = make_class()
    original = cls.arequest
    seen: list[tuple[Any, ...]] = []

    async def hook(original: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        seen.append((original, args, kwargs))
        return await original(instance, *args, **kwargs)

    patch_method(cls, "arequest", hook)
    assert inspect.iscoroutinefunction(cls.arequest)
    client = cls()
    assert asyncio.run(client.arequest("/x", stream=True)) == (client, "/x", True)
    assert seen == [(original, ("/x",), {"stream": True})]


def test_unpatch_puts_the_very_same_function_back() -> None:
    cls = make_class()
    original = cls.__dict__["request"]
    seen: list[tuple[Any, ...]] = []
    patch_method(cls, "request", recording_hook(seen))
    unpatch_method(cls, "request")
    assert cls.__dict__["request"] is original
    assert not is_patched(cls, "request")
    cls().request("/chat")
    assert seen == []


def test_patching_twice_wraps_the_original_once() -> None:
    cls = make_class()
    original = cls.request
    first: list[tuple[Any, ...]] = []
    second: list[tuple[Any, ...]] = []
    patch_method(cls, "request", recording_hook(first))
    patch_method(cls, "request", recording_hook(second))
    cls().request("/chat")
    assert (len(first), len(second)) == (0, 1)
    assert cls.request.__wrapped__ is original
    unpatch_method(cls, "request")
    assert cls.request is original


def test_an_inherited_method_is_patched_on_the_subclass_only() -> None:
    base = make_class()
    sub = type("Sub", (base,), {})
    seen: list[tuple[Any, ...]] = []
    patch_method(sub, "request", recording_hook([]))
    patch_method(sub, "request", recording_hook(seen))  # again: still the inherited method underneath
    base().request("/base")
    sub().request("/sub")
    assert [entry[3] for entry in seen] == [("/sub",)]
    unpatch_method(sub, "request")
    assert "request" not in sub.__dict__  # inherited again, as before
    assert sub.request is base.request


def test_unpatch_under_someone_elses_wrapper_switches_ours_off_and_keeps_theirs() -> None:
    cls = make_class()
    seen: list[tuple[Any, ...]] = []
    patch_method(cls, "request", recording_hook(seen, "ours"))
    ours = cls.request
    theirs_called: list[str] = []

    @functools.wraps(ours)
    def theirs(self: Any, *args: Any, **kwargs: Any) -> Any:
        theirs_called.append("theirs")
        return ours(self, *args, **kwargs)

    cls.request = theirs
    unpatch_method(cls, "request")
    client = cls()
    assert client.request("/chat") == (client, "/chat", False)
    assert cls.request is theirs
    assert theirs_called == ["theirs"]
    assert seen == []  # ours passes straight through


def test_unpatch_of_a_method_never_patched_changes_nothing() -> None:
    cls = make_class()
    original = cls.__dict__["request"]
    unpatch_method(cls, "request")
    unpatch_method(cls, "missing")
    assert cls.__dict__["request"] is original
    assert not is_patched(cls, "request")


class Registry:
    @classmethod
    def register(cls, value: str) -> tuple[type, str]:
        """Register a value."""
        return cls, value


class SubRegistry(Registry):
    pass


def test_a_classmethod_stays_a_classmethod_and_its_hook_gets_the_class_it_was_called_on() -> None:
    original = Registry.__dict__["register"].__func__
    seen: list[tuple[Any, ...]] = []
    patch_method(Registry, "register", recording_hook(seen))
    try:
        assert isinstance(Registry.__dict__["register"], classmethod) and is_patched(Registry, "register")
        assert Registry.register("a") == (Registry, "a")
        assert SubRegistry.register("b") == (SubRegistry, "b")
        assert Registry.register.__doc__ == "Register a value."
        assert seen == [("hook", original, Registry, ("a",), {}), ("hook", original, SubRegistry, ("b",), {})]
    finally:
        unpatch_method(Registry, "register")
    assert isinstance(Registry.__dict__["register"], classmethod)
    assert Registry.__dict__["register"].__func__ is original and not is_patched(Registry, "register")
    assert Registry.register("c") == (Registry, "c") and len(seen) == 2


def test_patching_a_classmethod_twice_wraps_the_original_once() -> None:
    original = Registry.__dict__["register"].__func__
    first: list[tuple[Any, ...]] = []
    second: list[tuple[Any, ...]] = []
    patch_method(Registry, "register", recording_hook(first))
    patch_method(Registry, "register", recording_hook(second))
    try:
        assert Registry.__dict__["register"].__func__.__wrapped__ is original
        assert Registry.register("x") == (Registry, "x")
        assert (len(first), len(second)) == (0, 1)
    finally:
        unpatch_method(Registry, "register")
    assert Registry.__dict__["register"].__func__ is original
