"""Real openai clients pointed at a `FakeOpenAI`, for both SDK generations the project supports."""

from __future__ import annotations

import http.client
import json
from typing import Any

import openai

from llmtel.testing import FakeOpenAI

SDK_MAJOR = int(openai.__version__.split(".")[0])


def _needs_http_client() -> bool:
    # openai < 1.56 hands `proxies=` to httpx, which httpx 0.28 removed: such SDKs need a client passed in.
    try:
        openai.OpenAI(api_key="probe", base_url="http://127.0.0.1:9/v1").close()
    except TypeError:
        return True
    return False


NEEDS_HTTP_CLIENT = _needs_http_client()


def _transport(is_async: bool) -> dict[str, Any]:
    if not NEEDS_HTTP_CLIENT:
        return {}
    import httpx

    return {"http_client": httpx.AsyncClient() if is_async else httpx.Client()}


def make_client(fake: FakeOpenAI, **kwargs: Any) -> openai.OpenAI:
    """A sync client for ``fake`` (no retries unless asked)."""
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("api_key", "test")
    return openai.OpenAI(base_url=fake.base_url, **_transport(False), **kwargs)


def make_async_client(fake: FakeOpenAI, **kwargs: Any) -> openai.AsyncOpenAI:
    """An async client for ``fake`` (no retries unless asked)."""
    kwargs.setdefault("max_retries", 0)
    return openai.AsyncOpenAI(base_url=fake.base_url, api_key="test", **_transport(True), **kwargs)


def make_azure_client(fake: FakeOpenAI, **kwargs: Any) -> openai.AzureOpenAI:
    """An Azure client whose endpoint is the fake's root URL."""
    kwargs.setdefault("max_retries", 0)
    return openai.AzureOpenAI(
        azure_endpoint=fake.root_url, api_key="test", api_version="2024-10-21", **_transport(False), **kwargs
    )


def post_raw(fake: FakeOpenAI, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    """POST JSON with the stdlib and return (status, lower-cased headers, decoded body) as on the wire."""
    connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    try:
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        connection.close()


def sse_payloads(text: str) -> list[str]:
    """The ``data:`` payloads of an SSE body, in order."""
    return [line[len("data: ") :] for line in text.split("\n") if line.startswith("data: ")]
