"""A fake OpenAI-compatible HTTP server on loopback, for tests, demos and users' own tests.

It answers the real ``openai`` client (sync and async, OpenAI and AzureOpenAI) with bodies and SSE streams
shaped like the real API's, deterministically, and can be scripted per test with reply objects::

    with FakeOpenAI() as fake:
        fake.enqueue(ChatReply("Hi!", usage=Usage(prompt=12, completion=2)))
        client = openai.OpenAI(base_url=fake.base_url, api_key="test")
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}])
        assert fake.requests[-1].json["model"] == "gpt-4o-mini"

Endpoints (relative to ``base_url``): ``POST /chat/completions``, ``POST /responses``,
``GET /responses/{id}`` (``?stream=true`` replays its events), ``POST /responses/compact``,
``POST /embeddings`` and ``POST /completions``; Azure deployment paths (``/openai/deployments/{deployment}/...?api-version=...``) are
accepted too. Standard library only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import random
import re
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, ClassVar, Literal, Union
from urllib.parse import parse_qsl, urlsplit

from llmtel._http_server import TrackingHTTPServer

__all__ = [
    "CHAT_COMPLETIONS",
    "COMPLETIONS",
    "EMBEDDINGS",
    "RESPONSES",
    "RESPONSES_COMPACT",
    "ChatReply",
    "CompactionReply",
    "CompletionReply",
    "Delay",
    "Disconnect",
    "EmbeddingsReply",
    "ErrorReply",
    "FakeOpenAI",
    "RawReply",
    "RecordedRequest",
    "Reply",
    "ResponsesReply",
    "StreamFault",
    "ToolCall",
    "Usage",
]

#: Endpoint names (paths relative to ``base_url``), as used by `FakeOpenAI.enqueue(endpoint=...)`.
CHAT_COMPLETIONS = "/chat/completions"
RESPONSES = "/responses"
RESPONSES_COMPACT = "/responses/compact"
EMBEDDINGS = "/embeddings"
COMPLETIONS = "/completions"
_RESPONSE_BY_ID = "/responses/{id}"

_DEFAULT_MODELS = {
    CHAT_COMPLETIONS: "gpt-4o-mini",
    RESPONSES: "gpt-4o-mini",
    RESPONSES_COMPACT: "gpt-4o-mini",
    EMBEDDINGS: "text-embedding-3-small",
    COMPLETIONS: "gpt-3.5-turbo-instruct",
}
# What Azure reports as the response model when the deployment is not mapped via `azure_models`.
_AZURE_DEFAULT_MODELS = {
    CHAT_COMPLETIONS: "gpt-4o-2024-08-06",
    RESPONSES: "gpt-4o-2024-08-06",
    RESPONSES_COMPACT: "gpt-4o-2024-08-06",
    EMBEDDINGS: "text-embedding-3-small",
    COMPLETIONS: "gpt-35-turbo-instruct",
}
_logger = logging.getLogger(__name__)
_DEFAULT_CREATED = 1_735_689_600  # 2025-01-01T00:00:00Z
_JSON_TYPE = "application/json"
_SSE_TYPE = "text/event-stream; charset=utf-8"
_MAX_BODY = 64 * 1024 * 1024


# -- reply building blocks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """Token counts for a scripted reply: the totals, and the subsets the prompt/completion details report
    (cached, written to the cache, reasoning, audio and image tokens)."""

    prompt: int
    completion: int = 0
    cached: int = 0
    reasoning: int = 0
    cache_write: int = 0
    input_audio: int = 0
    output_audio: int = 0
    input_image: int = 0

    @property
    def total(self) -> int:
        """prompt + completion, as the API reports ``total_tokens``."""
        return self.prompt + self.completion


@dataclass(frozen=True)
class ToolCall:
    """A function call the model makes: ``arguments`` is the JSON text the API returns verbatim."""

    id: str
    name: str
    arguments: str = "{}"


@dataclass(frozen=True)
class StreamFault:
    """Make a streamed reply go wrong after ``after`` SSE events.

    ``truncate`` ends the HTTP body cleanly without the terminal event/``[DONE]``; ``disconnect`` drops the
    TCP connection mid-body; ``error`` sends an error chunk (chat/completions) or ``error`` event (responses).
    """

    after: int = 1
    kind: Literal["truncate", "disconnect", "error"] = "truncate"
    error: ErrorReply | None = None  # for kind="error"; default ErrorReply.server_error()


AutoUsage = Union[Usage, None, Literal["auto"]]
Chunks = Union[int, Sequence[str], None]


def _tupled(obj: object, name: str) -> None:
    value = getattr(obj, name)
    if value is not None and not isinstance(value, (str, tuple, int)):
        object.__setattr__(obj, name, tuple(value))


def _check_chunks(text: object, chunks: Chunks) -> None:
    if isinstance(text, str) and isinstance(chunks, tuple) and "".join(chunks) != text:
        raise ValueError(f"chunks {chunks!r} do not join to {text!r}")


@dataclass(frozen=True)
class ChatReply:
    """A ``chat.completion`` (or its chunk stream when the request has ``stream: true``).

    ``content=None`` means: a reply derived from the last user message, unless ``tool_calls`` or ``refusal``
    are given (then content is null). A sequence of contents gives one per choice. ``model=None`` echoes the
    request model (Azure: the deployment's underlying model). ``usage="auto"`` counts words; ``None`` omits
    usage. ``n`` defaults to the request's ``n``. ``chunks`` splits content for streaming (number of pieces or
    the pieces themselves; default word by word); ``chunk_delay`` is the pause between SSE events; ``fault``
    breaks the stream (see `StreamFault`); ``headers`` are extra response headers.
    """

    content: str | Sequence[str] | None = None
    tool_calls: Sequence[ToolCall] = ()
    finish_reason: str | None = None
    model: str | None = None
    usage: AutoUsage = "auto"
    n: int | None = None
    system_fingerprint: str | None = "fp_fake0001"
    service_tier: str | None = "default"
    refusal: str | None = None
    chunks: Chunks = None
    chunk_delay: float = 0.0
    fault: StreamFault | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    endpoint: ClassVar[str | None] = CHAT_COMPLETIONS

    def __post_init__(self) -> None:
        _tupled(self, "content")
        _tupled(self, "tool_calls")
        _tupled(self, "chunks")
        _check_chunks(self.content, self.chunks)


# A 1×1 PNG, base64: what an image generation call returns, in miniature.
_PIXEL_PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


@dataclass(frozen=True)
class ResponsesReply:
    """A Responses API ``response`` object (or its event stream).

    ``text=None`` derives a reply from the input unless ``function_calls`` are given. A request with
    ``background=true`` (not streamed) is answered ``queued``; ``GET /responses/{id}`` returns the result. ``reasoning`` adds a
    reasoning item first (its summary text; ``""`` for an empty summary). ``web_searches``, ``file_searches``,
    ``code_interpreter_calls`` and ``image_generations`` add that many hosted-tool items (``web_search_call``,
    ``file_search_call``, ``code_interpreter_call``, ``image_generation_call``) before the answer, each billed
    beyond the tokens. ``compacted`` puts a compaction
    item before everything, as when the request's ``context_management`` threshold is crossed. A request's stored
    ``prompt`` is echoed back, with ``prompt_version`` as its version when given (the one the server resolved a
    request without a version to). ``status``
    "incomplete" sets ``incomplete_details.reason``; "failed" sets ``error``. Other fields as for `ChatReply`.
    """

    text: str | None = None
    function_calls: Sequence[ToolCall] = ()
    reasoning: str | None = None
    web_searches: int = 0
    file_searches: int = 0
    code_interpreter_calls: int = 0
    image_generations: int = 0
    compacted: bool = False
    prompt_version: str | None = None
    status: Literal["completed", "incomplete", "failed"] = "completed"
    incomplete_reason: str = "max_output_tokens"
    error_code: str = "server_error"
    error_message: str = "The model failed to generate a response."
    model: str | None = None
    usage: AutoUsage = "auto"
    service_tier: str | None = "default"
    chunks: Chunks = None
    chunk_delay: float = 0.0
    fault: StreamFault | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    endpoint: ClassVar[str | None] = RESPONSES

    def __post_init__(self) -> None:
        _tupled(self, "function_calls")
        _tupled(self, "chunks")
        _check_chunks(self.text, self.chunks)


@dataclass(frozen=True)
class CompactionReply:
    """A ``POST /responses/compact`` reply (``response.compaction``): the input's user messages, then one
    compaction item standing for everything else. ``usage="auto"`` counts words; ``None`` omits usage."""

    usage: AutoUsage = "auto"
    headers: Mapping[str, str] = field(default_factory=dict)

    endpoint: ClassVar[str | None] = RESPONSES_COMPACT


@dataclass(frozen=True)
class EmbeddingsReply:
    """An embeddings list: deterministic unit vectors per input; ``dimensions`` overrides the request's."""

    dimensions: int | None = None
    usage: AutoUsage = "auto"
    model: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    endpoint: ClassVar[str | None] = EMBEDDINGS


@dataclass(frozen=True)
class CompletionReply:
    """A legacy ``text_completion`` (or its stream); fields as for `ChatReply`."""

    text: str | Sequence[str] | None = None
    finish_reason: str = "stop"
    model: str | None = None
    usage: AutoUsage = "auto"
    n: int | None = None
    system_fingerprint: str | None = "fp_fake0001"
    chunks: Chunks = None
    chunk_delay: float = 0.0
    fault: StreamFault | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    endpoint: ClassVar[str | None] = COMPLETIONS

    def __post_init__(self) -> None:
        _tupled(self, "text")
        _tupled(self, "chunks")
        _check_chunks(self.text, self.chunks)


@dataclass(frozen=True)
class ErrorReply:
    """An API error: ``status`` with the real body shape ``{"error": {"message", "type", "param", "code"}}``.

    The classmethods build the real-world cases (bodies and headers as the API sends them).
    """

    status: int
    type: str | None
    code: str | None
    message: str
    param: str | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: {"retry-after": "0"})

    endpoint: ClassVar[str | None] = None

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    @classmethod
    def bad_request(cls, message: str = "Invalid request.", *, param: str | None = None,
                    code: str | None = None) -> ErrorReply:
        """400 invalid_request_error."""
        return cls(400, "invalid_request_error", code, message, param, headers={})

    @classmethod
    def context_length_exceeded(cls, limit: int = 128000, requested: int = 130000) -> ErrorReply:
        """400 with code ``context_length_exceeded`` (param ``messages``)."""
        message = (
            f"This model's maximum context length is {limit} tokens. However, your messages resulted in "
            f"{requested} tokens. Please reduce the length of the messages."
        )
        return cls(400, "invalid_request_error", "context_length_exceeded", message, "messages", headers={})

    @classmethod
    def invalid_api_key(cls) -> ErrorReply:
        """401 invalid_api_key."""
        message = (
            "Incorrect API key provided: te**. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
        )
        return cls(401, "invalid_request_error", "invalid_api_key", message, headers={})

    @classmethod
    def permission_denied(cls) -> ErrorReply:
        """403 request_forbidden (unsupported region)."""
        message = "Country, region, or territory not supported"
        return cls(403, "request_forbidden", "unsupported_country_region_territory", message, headers={})

    @classmethod
    def model_not_found(cls, model: str = "gpt-unknown") -> ErrorReply:
        """404 model_not_found."""
        message = f"The model `{model}` does not exist or you do not have access to it."
        return cls(404, "invalid_request_error", "model_not_found", message, headers={})

    @classmethod
    def rate_limited(cls, retry_after: float = 0.0, *, model: str = "gpt-4o-mini") -> ErrorReply:
        """429 rate_limit_exceeded with ``retry-after``/``retry-after-ms`` and ``x-ratelimit-*`` headers."""
        message = (
            f"Rate limit reached for {model} in organization org-fake on requests per min (RPM): "
            f"Limit 3, Used 3, Requested 1. Please try again in {retry_after:g}s."
        )
        headers = {
            "retry-after": f"{retry_after:g}",
            "retry-after-ms": str(round(retry_after * 1000)),
            "x-ratelimit-limit-requests": "3",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": f"{retry_after:g}s",
            "x-ratelimit-limit-tokens": "40000",
            "x-ratelimit-remaining-tokens": "39950",
            "x-ratelimit-reset-tokens": "75ms",
        }
        return cls(429, "requests", "rate_limit_exceeded", message, headers=headers)

    @classmethod
    def insufficient_quota(cls) -> ErrorReply:
        """429 insufficient_quota (not retryable in practice)."""
        message = (
            "You exceeded your current quota, please check your plan and billing details. For more "
            "information on this error, read the docs: "
            "https://platform.openai.com/docs/guides/error-codes/api-errors."
        )
        return cls(429, "insufficient_quota", "insufficient_quota", message, headers={})

    @classmethod
    def server_error(cls) -> ErrorReply:
        """500 server_error."""
        message = "The server had an error while processing your request. Sorry about that!"
        return cls(500, "server_error", None, message)

    @classmethod
    def overloaded(cls) -> ErrorReply:
        """503 service unavailable (engine overloaded)."""
        message = "The engine is currently overloaded, please try again later"
        return cls(503, "server_error", None, message)


@dataclass(frozen=True)
class RawReply:
    """Exactly these bytes: for malformed bodies, non-JSON errors, hand-written SSE streams."""

    status: int = 200
    body: bytes | str = b""
    content_type: str = _JSON_TYPE
    headers: Mapping[str, str] = field(default_factory=dict)

    endpoint: ClassVar[str | None] = None

    @classmethod
    def json(cls, obj: object, *, status: int = 200, headers: Mapping[str, str] | None = None) -> RawReply:
        """Any JSON value as the body (e.g. a completion without ``usage``, or with ``choices: []``)."""
        return cls(status, json.dumps(obj).encode(), _JSON_TYPE, dict(headers or {}))

    @classmethod
    def sse(cls, events: Sequence[object], *, done: bool = True) -> RawReply:
        """An SSE body; each item a JSON-able ``data:`` payload, a raw ``str`` line, or ``(event, data)``."""
        parts: list[str] = []
        for item in events:
            if isinstance(item, tuple):
                name, data = item
                parts.append(f"event: {name}\ndata: {_sse_data(data)}\n\n")
            else:
                parts.append(f"data: {_sse_data(item)}\n\n")
        if done:
            parts.append("data: [DONE]\n\n")
        return cls(200, "".join(parts).encode(), _SSE_TYPE)


def _sse_data(data: object) -> str:
    return data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))


@dataclass(frozen=True)
class Disconnect:
    """Close the connection without answering (the client sees a connection error)."""

    endpoint: ClassVar[str | None] = None


@dataclass(frozen=True)
class Delay:
    """Wait ``seconds`` before sending ``reply`` (the endpoint's default reply if None); for timeout tests."""

    seconds: float
    reply: Reply | None = None

    @property
    def endpoint(self) -> str | None:
        """The wrapped reply's endpoint."""
        return None if self.reply is None else self.reply.endpoint


Reply = Union[
    ChatReply, ResponsesReply, CompactionReply, EmbeddingsReply, CompletionReply, ErrorReply, RawReply,
    Disconnect, Delay,
]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it; ``headers`` are lower-cased (kept out of ``repr``)."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    json: Any = field(repr=False)  # the parsed JSON body, or None
    received_at: float
    endpoint: str | None  # e.g. "/chat/completions"; None for unknown paths
    deployment: str | None  # the Azure deployment from the path, if any


# -- the server --------------------------------------------------------------------------------------------


@dataclass
class _Queued:
    reply: Reply
    endpoint: str | None
    times: int


class FakeOpenAI:
    """The fake server. Binds ``host:port`` (ephemeral by default) on `start` / ``with``; thread-safe.

    ``api_key``: if set, requests without ``Authorization: Bearer <key>`` or ``api-key: <key>`` get 401.
    ``azure_models``: Azure deployment name -> the model name responses report.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        azure_models: Mapping[str, str] | None = None,
        created: int = _DEFAULT_CREATED,
    ) -> None:
        self._host = host
        self._port = port
        self.api_key = api_key
        self.azure_models = dict(azure_models or {})
        self._created = created
        self._lock = threading.Lock()
        self._queue: list[_Queued] = []
        self._requests: list[RecordedRequest] = []
        self._stored: dict[str, dict[str, Any]] = {}
        self._counters: dict[str, int] = {}
        self._sequence = 0
        self._disconnects = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None

    def __repr__(self) -> str:
        return f"<FakeOpenAI {self.root_url if self._server else 'stopped'}>"

    # -- lifecycle

    def start(self) -> FakeOpenAI:
        """Bind and serve in a daemon thread (no-op if running). Returns self."""
        with self._lock:
            if self._server is not None:
                return self
            self._stopping.clear()
            server = _Server(self._host, self._port, self)
            self._server = server
            server.serve_in_thread("fake-openai")
        return self

    def stop(self) -> None:
        """Stop serving; in-flight replies (delays, slow streams) are cut off promptly. Idempotent."""
        with self._lock:
            server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.stop()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses

    @property
    def port(self) -> int:
        """The bound port (raises if not started)."""
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not running; call start() or use it as a context manager")
        return self._server.server_port

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT`` — pass as ``azure_endpoint`` to ``AzureOpenAI``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` — pass as ``base_url`` to ``OpenAI``."""
        return f"{self.root_url}/v1"

    # -- scripting and inspection

    def enqueue(self, reply: Reply, *, endpoint: str | None = None, times: int = 1) -> None:
        """Queue ``reply`` for the next ``times`` requests to its endpoint (FIFO among matching entries).

        Typed replies match their own endpoint; `ErrorReply`, `RawReply`, `Disconnect` (and a `Delay` of
        them) match any request unless ``endpoint`` (e.g. `CHAT_COMPLETIONS`) narrows them.
        """
        natural = reply.endpoint
        if endpoint is not None and natural is not None and endpoint != natural:
            raise ValueError(f"{type(reply).__name__} answers {natural}, not {endpoint}")
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._queue.append(_Queued(reply, endpoint or natural, times))

    @property
    def pending(self) -> int:
        """How many scripted replies are still queued (counting ``times``)."""
        with self._lock:
            return sum(entry.times for entry in self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest:
        """The most recent request (raises if none)."""
        with self._lock:
            if not self._requests:
                raise LookupError("no requests received")
            return self._requests[-1]

    @property
    def client_disconnects(self) -> int:
        """How many times a client went away before its reply was complete (e.g. a cancelled stream)."""
        with self._lock:
            return self._disconnects

    def reset(self) -> None:
        """Forget queued replies, recorded requests and stored responses."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._stored.clear()
            self._disconnects = 0

    # -- internals used by the handler

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _take(self, endpoint: str | None) -> Reply | None:
        with self._lock:
            for position, entry in enumerate(self._queue):
                if entry.endpoint is None or entry.endpoint == endpoint:
                    entry.times -= 1
                    if entry.times == 0:
                        del self._queue[position]
                    return entry.reply
        return None

    def _note_disconnect(self) -> None:
        with self._lock:
            self._disconnects += 1

    def _new_id(self, prefix: str) -> str:
        with self._lock:
            count = self._counters[prefix] = self._counters.get(prefix, 0) + 1
        return f"{prefix}fake{count:06d}"

    def _next_created(self) -> int:
        with self._lock:
            self._sequence += 1
            return self._created + self._sequence

    def _store(self, response: dict[str, Any]) -> None:
        with self._lock:
            self._stored[response["id"]] = json.loads(json.dumps(response))

    def _stored_response(self, response_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._stored.get(response_id)


class _Server(TrackingHTTPServer):
    def __init__(self, host: str, port: int, fake: FakeOpenAI) -> None:
        self.fake = fake
        super().__init__(host, port, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client hanging up (reset, broken pipe) is routine for a test server
        _logger.exception("FakeOpenAI failed while handling a request")


class _Abort(Exception):
    """The reply cannot continue (client gone, server stopping, or a scripted disconnect)."""


@dataclass
class _Route:
    endpoint: str | None
    deployment: str | None
    azure: bool
    response_id: str | None = None


_ENDPOINTS = (CHAT_COMPLETIONS, RESPONSES, RESPONSES_COMPACT, EMBEDDINGS, COMPLETIONS)
_AZURE_DEPLOYMENT = re.compile(r"^/openai/deployments/([^/]+)(/.*)$")


def _route(method: str, path: str) -> _Route:
    path = path.rstrip("/") or "/"
    deployment = None
    azure = path.startswith("/openai/")
    match = _AZURE_DEPLOYMENT.match(path)
    if match:
        deployment, rest = match.group(1), match.group(2)
    elif path.startswith("/openai/v1/"):
        rest = path[len("/openai/v1"):]
    elif azure:
        rest = path[len("/openai"):]
    elif path.startswith("/v1/"):
        rest = path[len("/v1"):]
    else:
        return _Route(None, None, False)
    if method == "POST" and rest in _ENDPOINTS:
        return _Route(rest, deployment, azure)
    retrieve = re.fullmatch(r"/responses/([^/]+)", rest)
    if method == "GET" and retrieve and deployment is None:
        return _Route(_RESPONSE_BY_ID, None, azure, retrieve.group(1))
    return _Route(None, deployment, azure)


@dataclass
class _Json:
    status: int
    body: object
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Sse:
    events: list[bytes]
    done: bool  # send `data: [DONE]` at the end (chat and legacy completions)
    delay: float
    fault: StreamFault | None
    fault_event: bytes  # what kind="error" sends
    headers: Mapping[str, str] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30  # idle keep-alive connections are dropped after this long
    _replying = False  # the status line has gone out: an error can only drop the connection now

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - never log requests/headers
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        self._replying = False
        try:
            self._handle()
        except (_Abort, OSError):
            self._drop()
        except Exception as error:  # a bad script or a bug: answer 500 rather than leave the client hanging
            _logger.exception("FakeOpenAI could not answer %s %s", self.command, urlsplit(self.path).path)
            if self._replying:
                return self._drop()
            failure = ErrorReply(500, "fake_openai_error", None, f"FakeOpenAI: {error!r}")
            try:
                self._send_json(_Json(500, failure.body(), {"x-should-retry": "false"}))
            except (_Abort, OSError):
                self._drop()

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

    # -- request

    def _handle(self) -> None:
        fake = self.server.fake
        body = self._read_body()
        split = urlsplit(self.path)
        route = _route(self.command, split.path)
        payload: Any = None
        parse_error = False
        if body:
            try:
                payload = json.loads(body)
            except ValueError:
                parse_error = True
        headers = {name.lower(): value for name, value in self.headers.items()}
        fake._record(
            RecordedRequest(
                method=self.command,
                path=split.path,
                query=dict(parse_qsl(split.query, keep_blank_values=True)),
                headers=headers,
                body=body,
                json=payload,
                received_at=time.time(),
                endpoint=route.endpoint,
                deployment=route.deployment,
            )
        )
        if fake.api_key is not None and fake.api_key not in (
            headers.get("api-key"), (headers.get("authorization") or "").removeprefix("Bearer ")
        ):
            return self._send_json(_Json(401, ErrorReply.invalid_api_key().body()))
        if route.endpoint is None:
            message = f"Invalid URL ({self.command} {split.path})"
            return self._send_json(_Json(404, ErrorReply.bad_request(message).body()))
        if parse_error:
            message = (
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent "
                "was not valid JSON."
            )
            return self._send_json(_Json(400, ErrorReply.bad_request(message).body()))
        request = payload if isinstance(payload, dict) else {}
        invalid = _validate(route.endpoint, request)
        if invalid is not None:
            return self._send_json(_Json(invalid.status, invalid.body()))

        reply = fake._take(route.endpoint)
        while isinstance(reply, Delay):
            self._pause(reply.seconds)
            reply = reply.reply
        if isinstance(reply, ErrorReply):
            return self._send_json(_Json(reply.status, reply.body(), reply.headers))
        if isinstance(reply, RawReply):
            data = reply.body.encode() if isinstance(reply.body, str) else reply.body
            return self._send_bytes(reply.status, data, reply.content_type, reply.headers)
        if isinstance(reply, Disconnect):
            raise _Abort
        context = _Context(fake, route, request)
        rendered: _Json | _Sse
        if route.endpoint == CHAT_COMPLETIONS:
            rendered = _render_chat(reply if isinstance(reply, ChatReply) else ChatReply(), context)
        elif route.endpoint == RESPONSES:
            scripted = reply if isinstance(reply, ResponsesReply) else ResponsesReply()
            rendered = _render_responses(scripted, context)
        elif route.endpoint == RESPONSES_COMPACT:
            rendered = _render_compaction(reply if isinstance(reply, CompactionReply) else CompactionReply(), context)
        elif route.endpoint == EMBEDDINGS:
            embeddings = reply if isinstance(reply, EmbeddingsReply) else EmbeddingsReply()
            rendered = _render_embeddings(embeddings, context)
        elif route.endpoint == COMPLETIONS:
            completion = reply if isinstance(reply, CompletionReply) else CompletionReply()
            rendered = _render_completion(completion, context)
        else:  # GET /responses/{id}
            stored = fake._stored_response(route.response_id or "")
            if stored is None:
                message = f"Response with id '{route.response_id}' not found."
                rendered = _Json(404, ErrorReply.bad_request(message).body())
            elif dict(parse_qsl(split.query)).get("stream") == "true":
                rendered = _replay_stored(stored)
            else:
                rendered = _Json(200, stored)
        if isinstance(rendered, _Sse):
            self._send_stream(rendered)
        else:
            self._send_json(rendered)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise _Abort
        return self.rfile.read(length) if length > 0 else b""

    # -- response

    def _common_headers(self, extra: Mapping[str, str]) -> None:
        fake = self.server.fake
        self.send_header("x-request-id", fake._new_id("req_"))
        self.send_header("openai-processing-ms", "1")
        self.send_header("openai-version", "2020-10-01")
        for name, value in extra.items():
            self.send_header(name, value)

    def _send_json(self, reply: _Json) -> None:
        data = json.dumps(reply.body, indent=2, ensure_ascii=False).encode()
        self._send_bytes(reply.status, data, _JSON_TYPE, reply.headers)

    def _send_bytes(self, status: int, data: bytes, content_type: str, headers: Mapping[str, str]) -> None:
        self._replying = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self._common_headers(headers)
        self.end_headers()
        self._write(data)

    def _send_stream(self, stream: _Sse) -> None:
        self._replying = True
        self.send_response(200)
        self.send_header("Content-Type", _SSE_TYPE)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self._common_headers(stream.headers)
        self.end_headers()
        fault = stream.fault
        for position, event in enumerate(stream.events):
            if fault is not None and position == fault.after:
                return self._apply_fault(stream)
            if position and stream.delay > 0:
                self._pause(stream.delay)
            self._write_chunk(event)
        if fault is not None:
            return self._apply_fault(stream)
        if stream.done:
            self._write_chunk(b"data: [DONE]\n\n")
        self._write(b"0\r\n\r\n")

    def _apply_fault(self, stream: _Sse) -> None:
        assert stream.fault is not None
        if stream.fault.kind == "disconnect":
            raise _Abort
        if stream.fault.kind == "error":
            if stream.delay > 0:
                self._pause(stream.delay)
            self._write_chunk(stream.fault_event)
        self._write(b"0\r\n\r\n")

    def _write_chunk(self, data: bytes) -> None:
        self._write(b"%x\r\n%s\r\n" % (len(data), data))

    def _write(self, data: bytes) -> None:
        if self.server.fake._stopping.is_set():
            raise _Abort
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.server.fake._note_disconnect()
            raise _Abort from None

    def _pause(self, seconds: float) -> None:
        """Sleep, but give up at once if the server stops or the client hangs up (raises `_Abort`)."""
        fake = self.server.fake
        deadline = time.monotonic() + seconds
        while True:
            if fake._stopping.is_set():
                raise _Abort
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            step = min(remaining, 0.02)
            try:
                readable, _, _ = select.select([self.connection], [], [], step)
            except (OSError, ValueError):
                raise _Abort from None
            if readable:
                try:
                    peek = self.connection.recv(1, socket.MSG_PEEK)
                except OSError:
                    peek = b""
                if not peek:
                    fake._note_disconnect()
                    raise _Abort
                fake._stopping.wait(step)  # a pipelined request is waiting; it is not our business yet


def _validate(endpoint: str, request: dict[str, Any]) -> ErrorReply | None:
    """The few 400s the real API gives for obviously broken requests."""
    if endpoint in (CHAT_COMPLETIONS, EMBEDDINGS, COMPLETIONS) and not request.get("model"):
        return ErrorReply.bad_request("you must provide a model parameter")
    required = {CHAT_COMPLETIONS: "messages", EMBEDDINGS: "input"}.get(endpoint)
    if required is not None and required not in request:
        return ErrorReply.bad_request(
            f"Missing required parameter: '{required}'.", param=required, code="missing_required_parameter"
        )
    return None


# -- rendering ---------------------------------------------------------------------------------------------


class _Context:
    def __init__(self, fake: FakeOpenAI, route: _Route, request: dict[str, Any]) -> None:
        self.fake = fake
        self.route = route
        self.request = request
        self.created = fake._next_created()

    def model(self, scripted: str | None) -> str:
        if scripted is not None:
            return scripted
        endpoint = self.route.endpoint or CHAT_COMPLETIONS
        requested = self.request.get("model")
        if self.route.azure:
            deployment = self.route.deployment or requested
            if isinstance(deployment, str) and deployment in self.fake.azure_models:
                return self.fake.azure_models[deployment]
            return _AZURE_DEFAULT_MODELS[endpoint]
        return requested if isinstance(requested, str) and requested else _DEFAULT_MODELS[endpoint]

    @property
    def streaming(self) -> bool:
        return self.request.get("stream") is True

    @property
    def include_usage(self) -> bool:
        options = self.request.get("stream_options")
        return isinstance(options, dict) and options.get("include_usage") is True


def _count(text: str) -> int:
    """The fake's token count: one per whitespace-separated word."""
    return len(text.split())


def _text_of(content: object) -> str:
    """Text of a message ``content``: a string or a list of parts (``text``/``input_text``...)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [part.get("text") for part in content if isinstance(part, dict)]
        return " ".join(text for text in texts if isinstance(text, str))
    return ""


def _last_user_text(messages: object) -> str:
    if isinstance(messages, str):
        return messages
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return _text_of(message.get("content"))
    return ""


def _all_text(messages: object) -> str:
    if isinstance(messages, str):
        return messages
    if isinstance(messages, list):
        return " ".join(_text_of(m.get("content")) for m in messages if isinstance(m, dict))
    return ""


def _default_text(question: str) -> str:
    return f"Fake reply to: {question}" if question.strip() else "Fake reply."


def _split(text: str, chunks: Chunks) -> list[str]:
    """Pieces of ``text`` for streaming; they always join back to ``text``."""
    if isinstance(chunks, int):  # that many (non-empty) pieces of near-equal length
        count = max(1, min(chunks, len(text)))
        bounds = [len(text) * i // count for i in range(count + 1)]
        return [text[start:end] for start, end in zip(bounds, bounds[1:])] if text else []
    if chunks is not None:
        pieces = list(chunks)
        _check_chunks(text, tuple(pieces))
        return pieces
    pieces = re.findall(r"\s*\S+", text)
    rest = text[len("".join(pieces)) :]
    if rest:
        pieces.append(rest)
    return pieces


def _split_arguments(arguments: str) -> list[str]:
    """Token-like fragments of a JSON arguments string, as the API streams them."""
    return re.findall(r"\w+|\s+|[^\w\s]+", arguments) or ([arguments] if arguments else [])


def _schema_example(schema: object, root: dict[str, Any], depth: int = 0) -> Any:
    """A small deterministic instance of a JSON schema, for default structured-output replies."""
    if not isinstance(schema, dict) or depth > 12:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for key in ref[2:].split("/"):
            target = target.get(key, {}) if isinstance(target, dict) else {}
        return _schema_example(target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            usable = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            return _schema_example((usable or options)[0], root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        return {name: _schema_example(sub, root, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        return [_schema_example(schema.get("items", {}), root, depth + 1)]
    return {"string": "example", "integer": 1, "number": 1.5, "boolean": True}.get(str(kind))


def _forced_tool(context: _Context, *, chat: bool) -> ToolCall | None:
    """The tool call a default reply makes when ``tool_choice`` forces one."""
    tools = context.request.get("tools") or []
    tools = [t for t in tools if isinstance(t, dict) and t.get("type") == "function"]
    choice = context.request.get("tool_choice")
    if not tools or choice in (None, "auto", "none"):
        return None

    def spec(tool: dict[str, Any]) -> dict[str, Any]:
        return tool.get("function", {}) if chat else tool

    wanted: str | None = None
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name") if chat else choice.get("name")
    chosen = next((spec(t) for t in tools if wanted is None or spec(t).get("name") == wanted), None)
    if chosen is None:
        return None
    parameters = chosen.get("parameters") or {}
    arguments = _schema_example(parameters, parameters)
    return ToolCall(
        id=context.fake._new_id("call_"), name=str(chosen.get("name")), arguments=json.dumps(arguments or {})
    )


def _structured_default(context: _Context, fmt: object, question: str) -> str | None:
    """Default content for ``json_schema``/``json_object`` formats, so ``.parse()`` works unscripted."""
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_object":
        return json.dumps({"reply": _default_text(question)})
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") if "json_schema" in fmt else fmt.get("schema")
        return json.dumps(_schema_example(schema or {}, schema or {}))
    return None


def _chat_usage(usage: Usage) -> dict[str, Any]:
    prompt_details: dict[str, int] = {"cached_tokens": usage.cached, "audio_tokens": usage.input_audio}
    if usage.cache_write:  # reported by models that charge for cache writes
        prompt_details["cache_write_tokens"] = usage.cache_write
    if usage.input_image:
        prompt_details["image_tokens"] = usage.input_image
    return {
        "prompt_tokens": usage.prompt,
        "completion_tokens": usage.completion,
        "total_tokens": usage.total,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning,
            "audio_tokens": usage.output_audio,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _resolve_usage(scripted: AutoUsage, prompt: int, completion: int) -> Usage | None:
    if isinstance(scripted, Usage) or scripted is None:
        return scripted
    return Usage(prompt=prompt, completion=completion)


def _replay_stored(stored: dict[str, Any]) -> _Sse:
    """``GET /responses/{id}?stream=true``: a stored response's events again, created to terminal event."""
    events: list[bytes] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append(_sse_event({"type": kind, "sequence_number": len(events), **fields}, kind))

    emit("response.created", response={**stored, "status": "in_progress", "output": [], "usage": None})
    for index, item in enumerate(stored.get("output") or ()):
        emit("response.output_item.added", output_index=index, item=item)
        emit("response.output_item.done", output_index=index, item=item)
    emit(f"response.{stored.get('status') or 'completed'}", response=stored)
    return _Sse(events, False, 0.0, None, _fault_event(None, responses=True))


def _sse_event(data: object, event: str | None = None) -> bytes:
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n".encode()


def _fault_event(fault: StreamFault | None, *, responses: bool, sequence_number: int = 0) -> bytes:
    error = (fault.error if fault is not None else None) or ErrorReply.server_error()
    if responses:
        data = {
            "type": "error",
            "code": error.code or error.type,
            "message": error.message,
            "param": error.param,
            "sequence_number": sequence_number,
        }
        return _sse_event(data, "error")
    return _sse_event(error.body())


def _per_choice(value: str | tuple[str, ...] | None, n: int) -> list[str | None]:
    if isinstance(value, tuple):
        return [value[i % len(value)] for i in range(n)] if value else [None] * n
    return [value] * n


@dataclass
class _ChatChoice:
    index: int
    content: str | None
    refusal: str | None
    tool_calls: Sequence[ToolCall]
    finish_reason: str


def _render_chat(reply: ChatReply, context: _Context) -> _Json | _Sse:
    request = context.request
    messages = request.get("messages")
    question = _last_user_text(messages)
    requested_n = request.get("n") if isinstance(request.get("n"), int) else 1
    n = reply.n if reply.n is not None else requested_n
    if reply.n is None and isinstance(reply.content, tuple):
        n = len(reply.content)
    tool_calls: Sequence[ToolCall] = reply.tool_calls
    contents = _per_choice(reply.content, n)
    if reply.content is None and not tool_calls and reply.refusal is None:
        forced = _forced_tool(context, chat=True)
        if forced is not None:
            tool_calls = (forced,)
        else:
            structured = _structured_default(context, request.get("response_format"), question)
            contents = [structured if structured is not None else _default_text(question)] * n
    choices = [
        _ChatChoice(
            index=i,
            content=contents[i],
            refusal=reply.refusal,
            tool_calls=tool_calls,
            finish_reason=reply.finish_reason or ("tool_calls" if tool_calls else "stop"),
        )
        for i in range(n)
    ]
    completion_words = sum(
        _count(c.content or "") + _count(c.refusal or "") + sum(_count(t.arguments) for t in c.tool_calls)
        for c in choices
    )
    usage = _resolve_usage(reply.usage, max(1, _count(_all_text(messages))), completion_words)
    completion_id = context.fake._new_id("chatcmpl-")
    model = context.model(reply.model)
    if not context.streaming:
        body: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion",
            "created": context.created,
            "model": model,
            "choices": [
                {
                    "index": c.index,
                    "message": _chat_message(c),
                    "logprobs": None,
                    "finish_reason": c.finish_reason,
                }
                for c in choices
            ],
        }
        if usage is not None:
            body["usage"] = _chat_usage(usage)
        body["service_tier"] = reply.service_tier
        body["system_fingerprint"] = reply.system_fingerprint
        return _Json(200, body, reply.headers)

    def chunk(choices_part: list[dict[str, Any]], usage_part: dict[str, Any] | None = None) -> bytes:
        data: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": context.created,
            "model": model,
            "service_tier": reply.service_tier,
            "system_fingerprint": reply.system_fingerprint,
            "choices": choices_part,
        }
        if context.include_usage:
            data["usage"] = usage_part
        return _sse_event(data)

    per_choice = [_chat_deltas(c, reply.chunks) for c in choices]
    events: list[bytes] = []
    for step in range(max((len(d) for d in per_choice), default=0)):  # interleave the choices by index
        for choice, deltas in zip(choices, per_choice):
            if step < len(deltas):
                delta, finish = deltas[step]
                part = {"index": choice.index, "delta": delta, "logprobs": None, "finish_reason": finish}
                events.append(chunk([part]))
    if context.include_usage and usage is not None:
        events.append(chunk([], _chat_usage(usage)))
    fault_event = _fault_event(reply.fault, responses=False)
    return _Sse(events, True, reply.chunk_delay, reply.fault, fault_event, reply.headers)


def _chat_message(choice: _ChatChoice) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": choice.content,
        "refusal": choice.refusal,
        "annotations": [],
    }
    if choice.tool_calls:
        message["tool_calls"] = [
            {"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}
            for t in choice.tool_calls
        ]
    return message


def _chat_deltas(choice: _ChatChoice, chunks: Chunks) -> list[tuple[dict[str, Any], str | None]]:
    """One choice's deltas in the real API's order: role, content/refusal pieces, tool calls, finish."""
    first: dict[str, Any] = {
        "role": "assistant",
        "content": None if choice.content is None else "",
        "refusal": None,
    }
    deltas: list[dict[str, Any]] = [first]
    if choice.content is not None:
        deltas += [{"content": piece} for piece in _split(choice.content, chunks)]
    if choice.refusal is not None:
        if choice.content is None:
            first["refusal"] = ""
        deltas += [{"refusal": piece} for piece in _split(choice.refusal, chunks)]
    for position, call in enumerate(choice.tool_calls):
        header = {
            "index": position,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        if len(deltas) == 1 and choice.content is None and choice.refusal is None:
            first["tool_calls"] = [header]  # the role chunk carries the first call's header
            first["refusal"] = first.pop("refusal")  # keep the API's key order
        else:
            deltas.append({"tool_calls": [header]})
        deltas += [
            {"tool_calls": [{"index": position, "function": {"arguments": piece}}]}
            for piece in _split_arguments(call.arguments)
        ]
    steps: list[tuple[dict[str, Any], str | None]] = [(delta, None) for delta in deltas]
    steps.append(({}, choice.finish_reason))
    return steps


def _render_completion(reply: CompletionReply, context: _Context) -> _Json | _Sse:
    request = context.request
    prompt = request.get("prompt", "")
    if isinstance(prompt, str):
        question = prompt
    else:
        question = prompt[0] if isinstance(prompt, list) and prompt and isinstance(prompt[0], str) else ""
    requested_n = request.get("n") if isinstance(request.get("n"), int) else 1
    n = reply.n if reply.n is not None else len(reply.text) if isinstance(reply.text, tuple) else requested_n
    texts = [t if t is not None else _default_text(question) for t in _per_choice(reply.text, n)]
    prompt_words = _count(question) if isinstance(prompt, str) or question else len(prompt)
    usage = _resolve_usage(reply.usage, max(1, prompt_words), sum(_count(t) for t in texts))
    completion_id = context.fake._new_id("cmpl-")
    model = context.model(reply.model)
    base: dict[str, Any] = {
        "id": completion_id,
        "object": "text_completion",
        "created": context.created,
        "model": model,
        "system_fingerprint": reply.system_fingerprint,
    }
    plain_usage = None
    if usage is not None:
        plain_usage = {
            "prompt_tokens": usage.prompt,
            "completion_tokens": usage.completion,
            "total_tokens": usage.total,
        }
    if not context.streaming:
        body = dict(base)
        body["choices"] = [
            {"text": text, "index": i, "logprobs": None, "finish_reason": reply.finish_reason}
            for i, text in enumerate(texts)
        ]
        if plain_usage is not None:
            body["usage"] = plain_usage
        return _Json(200, body, reply.headers)

    def chunk(choices: list[dict[str, Any]], usage_part: dict[str, Any] | None = None) -> bytes:
        data = dict(base)
        data["choices"] = choices
        if context.include_usage:
            data["usage"] = usage_part
        return _sse_event(data)

    per_choice: list[list[tuple[str, str | None]]] = [
        [(piece, None) for piece in _split(text, reply.chunks)] + [("", reply.finish_reason)]
        for text in texts
    ]
    events: list[bytes] = []
    for step in range(max((len(p) for p in per_choice), default=0)):
        for index, pieces in enumerate(per_choice):
            if step < len(pieces):
                text, finish = pieces[step]
                part = {"text": text, "index": index, "logprobs": None, "finish_reason": finish}
                events.append(chunk([part]))
    if context.include_usage and plain_usage is not None:
        events.append(chunk([], plain_usage))
    fault_event = _fault_event(reply.fault, responses=False)
    return _Sse(events, True, reply.chunk_delay, reply.fault, fault_event, reply.headers)


def _embedding_inputs(raw: object) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
        return [" ".join(map(str, raw))]  # one input given as token ids
    if isinstance(raw, list):
        return [
            x if isinstance(x, str) else " ".join(map(str, x)) if isinstance(x, list) else str(x) for x in raw
        ]
    return [str(raw)]


def _vector(text: str, model: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for ``text``; every component is exactly representable as float32."""
    seed = int.from_bytes(hashlib.sha256(f"{model}\0{text}".encode()).digest()[:8], "big")
    rng = random.Random(seed)
    raw = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    packed = struct.pack(f"<{dimensions}f", *(x / norm for x in raw))
    return list(struct.unpack(f"<{dimensions}f", packed))


def _render_embeddings(reply: EmbeddingsReply, context: _Context) -> _Json:
    request = context.request
    inputs = _embedding_inputs(request.get("input"))
    model = context.model(reply.model)
    requested = request.get("dimensions")
    dimensions = reply.dimensions or (
        requested if isinstance(requested, int) and requested > 0 else (3072 if "large" in model else 1536)
    )
    as_base64 = request.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(inputs):
        vector = _vector(text, model, dimensions)
        embedding: object = (
            base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode() if as_base64 else vector
        )
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    body: dict[str, Any] = {"object": "list", "data": data, "model": model}
    usage = _resolve_usage(reply.usage, sum(max(1, _count(t)) for t in inputs), 0)
    if usage is not None:
        body["usage"] = {"prompt_tokens": usage.prompt, "total_tokens": usage.total}
    return _Json(200, body, reply.headers)


def _responses_usage(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {
        "input_tokens": usage.prompt,
        "input_tokens_details": {"cached_tokens": usage.cached, "cache_write_tokens": usage.cache_write},
        "output_tokens": usage.completion,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning},
        "total_tokens": usage.total,
    }


def _responses_input_text(raw: object) -> tuple[str, str]:
    """(last user text, all text) of a Responses ``input``."""
    if isinstance(raw, str):
        return raw, raw
    if not isinstance(raw, list):
        return "", ""
    items = [item for item in raw if isinstance(item, dict)]
    texts = [_text_of(item.get("content")) for item in items] + [
        str(item.get("output", "")) for item in items if item.get("type") == "function_call_output"
    ]
    return _last_user_text(items), " ".join(texts)


def _compaction_item(fake: FakeOpenAI, text: str) -> dict[str, Any]:
    """An opaque compaction item, as the API returns it (its content is encrypted, only the API reads it)."""
    digest = hashlib.sha256(text.encode()).digest()
    return {"id": fake._new_id("cmp_"), "type": "compaction", "created_by": "compaction",
            "encrypted_content": base64.b64encode(digest * 4).decode()}


def _render_compaction(reply: CompactionReply, context: _Context) -> _Json:
    request = context.request
    raw = request.get("input")
    items = [{"role": "user", "content": raw}] if isinstance(raw, str) else [
        item for item in raw if isinstance(item, dict)] if isinstance(raw, list) else []
    users = [
        {"id": context.fake._new_id("msg_"), "type": "message", "status": "completed", "role": "user",
         "content": [{"type": "input_text", "text": _text_of(item.get("content"))}]}
        for item in items if item.get("role") == "user"
    ]
    _, everything = _responses_input_text(raw)
    instructions = request.get("instructions")
    prompt_words = _count(everything) + _count(_all_text(instructions) if instructions else "")
    usage = _resolve_usage(reply.usage, max(1, prompt_words), max(1, prompt_words // 4))
    body = {
        "id": context.fake._new_id("cmpresp_"),
        "object": "response.compaction",
        "created_at": context.created,
        "output": [*users, _compaction_item(context.fake, everything)],
        "usage": _responses_usage(usage),
    }
    return _Json(200, body, reply.headers)


def _render_responses(reply: ResponsesReply, context: _Context) -> _Json | _Sse:
    request = context.request
    fake = context.fake
    question, everything = _responses_input_text(request.get("input"))
    text = reply.text
    calls: Sequence[ToolCall] = reply.function_calls
    if text is None and not calls:
        forced = _forced_tool(context, chat=False)
        if forced is not None:
            calls = (forced,)
        else:
            structured = _structured_default(context, (request.get("text") or {}).get("format"), question)
            text = structured if structured is not None else _default_text(question)
    item_status = "incomplete" if reply.status == "incomplete" else "completed"

    output: list[dict[str, Any]] = []
    if reply.compacted:
        output.append(_compaction_item(fake, everything))
    if reply.reasoning is not None:
        summary = [{"type": "summary_text", "text": reply.reasoning}] if reply.reasoning else []
        output.append({"id": fake._new_id("rs_"), "type": "reasoning", "summary": summary})
    for _ in range(reply.web_searches):
        output.append({"id": fake._new_id("ws_"), "type": "web_search_call", "status": "completed",
                       "action": {"type": "search", "query": question}})
    for _ in range(reply.file_searches):
        output.append({"id": fake._new_id("fs_"), "type": "file_search_call", "status": "completed",
                       "queries": [question], "results": None})
    for _ in range(reply.code_interpreter_calls):
        output.append({"id": fake._new_id("ci_"), "type": "code_interpreter_call", "status": "completed",
                       "code": "print(6 * 7)", "container_id": "cntr_fake",
                       "outputs": [{"type": "logs", "logs": "42\n"}]})
    for _ in range(reply.image_generations):
        output.append({"id": fake._new_id("ig_"), "type": "image_generation_call", "status": "completed",
                       "result": _PIXEL_PNG})
    if text is not None:
        output.append(
            {
                "id": fake._new_id("msg_"),
                "type": "message",
                "status": item_status,
                "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": text}],
                "role": "assistant",
            }
        )
    for call in calls:
        output.append(
            {
                "id": fake._new_id("fc_"),
                "type": "function_call",
                "status": "completed",
                "arguments": call.arguments,
                "call_id": call.id,
                "name": call.name,
            }
        )
    completion_words = (
        _count(text or "") + sum(_count(c.arguments) for c in calls) + _count(reply.reasoning or "")
    )
    instructions = request.get("instructions")
    prompt_words = _count(everything) + _count(_all_text(instructions) if instructions else "")
    usage = _resolve_usage(reply.usage, max(1, prompt_words), completion_words)
    if isinstance(usage, Usage) and reply.usage == "auto" and reply.reasoning:
        usage = Usage(usage.prompt, usage.completion, reasoning=_count(reply.reasoning))

    error = {"code": reply.error_code, "message": reply.error_message}
    incomplete = {"reason": reply.incomplete_reason}

    def envelope(status: str, items: list[dict[str, Any]], final: bool) -> dict[str, Any]:
        return {
            "id": response_id,
            "object": "response",
            "created_at": context.created,
            "status": status,
            "background": bool(request.get("background", False)),
            "completed_at": context.created if final and status == "completed" else None,
            "error": error if final and status == "failed" else None,
            "incomplete_details": incomplete if final and status == "incomplete" else None,
            "instructions": request.get("instructions"),
            "max_output_tokens": request.get("max_output_tokens"),
            "max_tool_calls": request.get("max_tool_calls"),
            "model": model,
            "output": items,
            "parallel_tool_calls": request.get("parallel_tool_calls", True),
            "previous_response_id": request.get("previous_response_id"),
            "prompt": prompt,
            "prompt_cache_key": request.get("prompt_cache_key"),
            "reasoning": request.get("reasoning") or {"effort": None, "summary": None},
            "safety_identifier": request.get("safety_identifier"),
            "service_tier": reply.service_tier if final else request.get("service_tier", "auto"),
            "store": request.get("store", True),
            "temperature": request.get("temperature", 1.0),
            "text": request.get("text") or {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": request.get("tool_choice", "auto"),
            "tools": request.get("tools", []),
            "top_logprobs": request.get("top_logprobs", 0),
            "top_p": request.get("top_p", 1.0),
            "truncation": request.get("truncation", "disabled"),
            "usage": _responses_usage(usage) if final else None,
            "user": request.get("user"),
            "metadata": request.get("metadata") or {},
        }

    prompt = request.get("prompt")
    if isinstance(prompt, dict):
        prompt = {"id": prompt.get("id"), "variables": prompt.get("variables"),
                  "version": reply.prompt_version or prompt.get("version")}
    response_id = fake._new_id("resp_")
    model = context.model(reply.model)
    final = envelope(reply.status, output, True)
    if request.get("store", True) is not False:
        fake._store(final)
    if not context.streaming:
        if request.get("background") is True:  # queued: the result is fetched later (``GET /responses/{id}``)
            return _Json(200, envelope("queued", [], False), reply.headers)
        return _Json(200, final, reply.headers)

    events: list[bytes] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append(_sse_event({"type": kind, "sequence_number": len(events), **fields}, kind))

    emit("response.created", response=envelope("in_progress", [], False))
    emit("response.in_progress", response=envelope("in_progress", [], False))
    for index, item in enumerate(output):
        where = {"item_id": item["id"], "output_index": index}
        if item["type"] == "reasoning":
            emit("response.output_item.added", output_index=index, item={**item, "summary": []})
            for s_index, part in enumerate(item["summary"]):
                at = {**where, "summary_index": s_index}
                emit("response.reasoning_summary_part.added", **at, part={"type": "summary_text", "text": ""})
                for piece in _split(part["text"], reply.chunks):
                    emit("response.reasoning_summary_text.delta", **at, delta=piece)
                emit("response.reasoning_summary_text.done", **at, text=part["text"])
                emit("response.reasoning_summary_part.done", **at, part=part)
        elif item["type"] == "message":
            emit("response.output_item.added", output_index=index,
                 item={**item, "status": "in_progress", "content": []})
            part = item["content"][0]
            at = {**where, "content_index": 0}
            emit("response.content_part.added", **at, part={**part, "text": ""})
            for piece in _split(part["text"], reply.chunks):
                emit("response.output_text.delta", **at, delta=piece, logprobs=[])
            emit("response.output_text.done", **at, text=part["text"], logprobs=[])
            emit("response.content_part.done", **at, part=part)
        elif item["type"] == "compaction":
            emit("response.output_item.added", output_index=index, item={**item, "encrypted_content": ""})
            emit("response.compaction.compacting", **where)
        elif item["type"] in ("web_search_call", "file_search_call"):
            emit("response.output_item.added", output_index=index, item={**item, "status": "in_progress"})
            for stage in ("in_progress", "searching", "completed"):
                emit(f"response.{item['type']}.{stage}", **where)
        elif item["type"] == "code_interpreter_call":
            emit("response.output_item.added", output_index=index,
                 item={**item, "status": "in_progress", "code": "", "outputs": None})
            emit("response.code_interpreter_call.in_progress", **where)
            emit("response.code_interpreter_call_code.delta", **where, delta=item["code"])
            emit("response.code_interpreter_call_code.done", **where, code=item["code"])
            emit("response.code_interpreter_call.interpreting", **where)
            emit("response.code_interpreter_call.completed", **where)
        elif item["type"] == "image_generation_call":
            emit("response.output_item.added", output_index=index,
                 item={**item, "status": "in_progress", "result": None})
            emit("response.image_generation_call.in_progress", **where)
            emit("response.image_generation_call.generating", **where)
            emit("response.image_generation_call.partial_image", **where, partial_image_index=0,
                 partial_image_b64=item["result"])
            emit("response.image_generation_call.completed", **where)
        else:
            emit("response.output_item.added", output_index=index,
                 item={**item, "status": "in_progress", "arguments": ""})
            for piece in _split_arguments(item["arguments"]):
                emit("response.function_call_arguments.delta", **where, delta=piece)
            emit("response.function_call_arguments.done", **where, arguments=item["arguments"])
        emit("response.output_item.done", output_index=index, item=item)
    emit(f"response.{reply.status}", response=final)
    fault_at = reply.fault.after if reply.fault is not None else len(events)
    fault_event = _fault_event(reply.fault, responses=True, sequence_number=min(fault_at, len(events)))
    return _Sse(events, False, reply.chunk_delay, reply.fault, fault_event, reply.headers)
