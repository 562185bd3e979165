"""Pure extraction from OpenAI requests and responses into the provider-neutral ``GenAICall``.

Requests are the JSON body the client is about to send (a plain dict), so extraction does not depend on
the SDK's method signatures. Responses are read with ``getattr`` and defaults: the SDK builds response
objects without validation, so any field may be missing or ``None`` in a malformed or older response.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

from llmtel import semconv as sc
from llmtel.encodable import INT64_MAX, INT64_MIN
from llmtel.genai.content import ContentPolicy, json_ready
from llmtel.genai.diagnostics import diagnose
from llmtel.genai.record import MAX_TOKEN_COUNT, GenAICall  # a count read from a reply: see ``_not_a_count``

_logger = logging.getLogger("llmtel.instrumentation.openai")
_warned: set[str] = set()  # the warnings logged once per process

# --- routing ---------------------------------------------------------------------------------------------

# (HTTP method, path) -> (operation name, openai.api.type)
ROUTES: dict[tuple[str, str], tuple[str, str | None]] = {
    ("post", "/chat/completions"): (sc.OP_CHAT, sc.API_TYPE_CHAT_COMPLETIONS),
    ("post", "/responses"): (sc.OP_CHAT, sc.API_TYPE_RESPONSES),
    ("post", "/responses/compact"): (sc.OP_COMPACT, sc.API_TYPE_RESPONSES),
    ("post", "/embeddings"): (sc.OP_EMBEDDINGS, None),
    ("post", "/completions"): (sc.OP_TEXT_COMPLETION, None),
}


def route(method: str, url: str) -> tuple[str, str | None] | None:
    """The GenAI operation a request performs, or None for every other API call (files, models, …)."""
    found = ROUTES.get((method, url))  # the SDK sends lower-case methods: one lookup on the hot path
    if found is not None:
        return found
    method = method.lower()
    found = ROUTES.get((method, url))
    if found is not None:
        return found
    if method == "get" and url.startswith("/responses/") and url.count("/") == 2:
        return sc.OP_FETCH_RESPONSE, sc.API_TYPE_RESPONSES
    return None


# --- small readers ---------------------------------------------------------------------------------------


def request_number(value: Any) -> float | None:
    """A request parameter that must be a number (not a boolean), as a float; None for anything else."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# The integers OTLP carries are 64-bit (``llmtel.encodable``): a larger one fails the export of its attribute,
# and once added to a cumulative counter, of that metric on every export after. A request's integer outside
# them is left unset.

# The most choices a stream's finish reasons are reported for: far above any ``n`` asked for, so that a malformed
# choice index (``10**20``) cannot make a list of that many reasons.
MAX_CHOICES: Final = 128


def _int(value: Any) -> int | None:
    # not bool, not a float, not a string (one C check), and within what OTLP carries
    return value if type(value) is int and INT64_MIN <= value <= INT64_MAX else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _stop(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _output_type(format_type: Any) -> str | None:
    if not isinstance(format_type, str):
        return None
    return "json" if format_type in ("json_object", "json_schema") else format_type


def _service_tier(value: Any) -> str | None:
    return value if isinstance(value, str) and value and value != "auto" else None


def tool_arguments(raw: Any) -> Any:
    """Tool-call arguments as an object when they are JSON (as the conventions prefer), else as sent."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


# --- requests --------------------------------------------------------------------------------------------


RequestReader = Callable[[GenAICall, Any], None]
# How one request key is read: into a record field through a check (``(field, check)``), or by a reader.
KeyReader = tuple[str, Callable[[Any], Any]] | RequestReader


def _choice_count(call: GenAICall, value: Any) -> None:
    call.choice_count = value if _int(value) is not None and value != 1 else None  # one choice is the default


def _max_completion_tokens(call: GenAICall, value: Any) -> None:
    count = _int(value)
    if count is not None:  # an invalid value leaves ``max_tokens`` as it was
        call.max_tokens = count


def _response_format(call: GenAICall, value: Any) -> None:
    if isinstance(value, Mapping):
        call.output_type = _output_type(value.get("type"))


def _reasoning(call: GenAICall, value: Any) -> None:
    if isinstance(value, Mapping):
        call.reasoning_level = _str(value.get("effort"))


def _text(call: GenAICall, value: Any) -> None:
    if isinstance(value, Mapping) and isinstance(value.get("format"), Mapping):
        call.output_type = _output_type(value["format"].get("type"))


def _conversation(call: GenAICall, value: Any) -> None:
    call.conversation_id = _str(value.get("id") if isinstance(value, Mapping) else value)


def _prompt(call: GenAICall, value: Any) -> None:
    """A Responses stored prompt, ``{"id": "pmpt_…", "version": "2", "variables": {…}}``: its id names it."""
    if isinstance(value, Mapping):
        call.prompt_name = _str(value.get("id"))
        version = value.get("version")
        call.prompt_version = _str(version) if call.prompt_name else None


# Request keys -> how each is read, per API. A key that is absent, or None, leaves its field unset.
_SHARED_PARAMS: dict[str, KeyReader] = {
    "temperature": ("temperature", request_number),
    "top_p": ("top_p", request_number),
    "seed": ("seed", _int),
    "frequency_penalty": ("frequency_penalty", request_number),
    "presence_penalty": ("presence_penalty", request_number),
    "stop": ("stop_sequences", _stop),
    "service_tier": ("request_service_tier", _service_tier),
    "n": _choice_count,
}
_CHAT_PARAMS: dict[str, KeyReader] = {
    **_SHARED_PARAMS,
    "max_tokens": ("max_tokens", _int),
    "max_completion_tokens": _max_completion_tokens,  # read after ``max_tokens``: it wins when both are sent
    "reasoning_effort": ("reasoning_level", _str),
    "response_format": _response_format,
}
_RESPONSES_PARAMS: dict[str, KeyReader] = {
    **_SHARED_PARAMS,
    "max_output_tokens": ("max_tokens", _int),
    "reasoning": _reasoning,
    "text": _text,
    "previous_response_id": ("previous_response_id", _str),
    "conversation": _conversation,
    "prompt": _prompt,
}
# The checks and readers a generated reader writes inline rather than calls (doing what the functions do:
# a test compares them value for value). A reader's statement reads ``v`` and writes ``call``.
_INT64: Final = f"{INT64_MIN} <= v <= {INT64_MAX}"
_INLINE_CHECKS: dict[Callable[[Any], Any], str] = {
    request_number: "float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None",
    _int: f"v if type(v) is int and {_INT64} else None",
    _str: "v if isinstance(v, str) and v else None",
}
_INLINE_READERS: dict[RequestReader, str] = {
    _choice_count: f"call.choice_count = v if type(v) is int and v != 1 and {_INT64} else None",
    _max_completion_tokens: f"if type(v) is int and {_INT64}: call.max_tokens = v",
}


def _params_reader(params: dict[str, KeyReader]) -> Callable[[GenAICall, Callable[[str], Any]], None]:
    """A reader of ``params``' keys out of a request body (given its ``get``), generated once as straight-line
    code: ``v = get(key)`` and, when ``v`` is not None, the field's check written inline or the key's reader
    called. It runs for every call; inside a real call this costs less than visiting the body's keys and
    calling a reader per key, because each call of a small function costs more there than its work."""
    lines = ["def read(call, get):"]
    namespace: dict[str, Any] = {}
    for number, (key, reader) in enumerate(params.items()):
        lines += [f"    v = get({key!r})", "    if v is not None:"]
        if isinstance(reader, tuple):
            field, check = reader
            if not field.isidentifier() or field not in GenAICall.__slots__:
                raise ValueError(f"not a GenAICall field: {field!r}")
            if check in _INLINE_CHECKS:
                lines.append(f"        call.{field} = {_INLINE_CHECKS[check]}")
            else:
                namespace[f"check_{number}"] = check
                lines.append(f"        call.{field} = check_{number}(v)")
        elif reader in _INLINE_READERS:
            lines.append(f"        {_INLINE_READERS[reader]}")
        else:
            namespace[f"read_{number}"] = reader
            lines.append(f"        read_{number}(call, v)")
    exec("\n".join(lines), namespace)  # noqa: S102 - built from our own constant tables, checked above
    read: Callable[[GenAICall, Callable[[str], Any]], None] = namespace["read"]
    return read


_read_chat_params = _params_reader(_CHAT_PARAMS)
_read_responses_params = _params_reader(_RESPONSES_PARAMS)


def apply_request(call: GenAICall, body: Mapping[str, Any], policy: ContentPolicy) -> None:
    """Fill request parameters (and, when captured, request content) from the JSON body being sent."""
    get = body.get
    model = get("model")
    call.request_model = model if isinstance(model, str) and model else None  # ``_str``, inline
    call.stream = get("stream") is True
    if call.operation == sc.OP_EMBEDDINGS:
        fmt = get("encoding_format")
        call.encoding_formats = (fmt,) if isinstance(fmt, str) else None
        call.dimensions = _int(get("dimensions"))
        return
    if call.api_type == sc.API_TYPE_RESPONSES:
        _read_responses_params(call, get)
    else:
        _read_chat_params(call, get)
    if not policy.capture:
        return
    if call.api_type == sc.API_TYPE_RESPONSES:
        instructions = get("instructions")
        if isinstance(instructions, str) and instructions:
            call.system_instructions = [policy.text_part(instructions)]
        call.input_messages = responses_input_messages(get("input"), policy)
    elif call.operation == sc.OP_TEXT_COMPLETION:
        call.input_messages = _prompt_messages(get("prompt"), policy)
    else:
        call.input_messages = chat_input_messages(get("messages"), policy)
    definitions = tool_definitions(get("tools"))
    if definitions is not None:  # a description or a schema's default may hold what any captured text may
        call.tool_definitions = [{key: item if key in ("type", "name") else policy.value(item, by_name=False)
                                  for key, item in definition.items()} for definition in definitions]


# --- request content -------------------------------------------------------------------------------------


def _content_parts(content: Any, policy: ContentPolicy) -> list[dict[str, Any]]:
    """Message content (a string or a list of typed parts) as convention parts; media by reference."""
    if isinstance(content, str):
        return [policy.text_part(content)]
    parts: list[dict[str, Any]] = []
    if not isinstance(content, (list, tuple)):
        return parts
    for item in content:
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type")
        if kind in ("text", "input_text", "output_text") and isinstance(item.get("text"), str):
            parts.append(policy.text_part(item["text"]))
        elif kind == "refusal" and isinstance(item.get("refusal"), str):
            parts.append(policy.text_part(item["refusal"]))
        elif kind in ("image_url", "input_image"):
            image = item.get("image_url")
            url = image.get("url") if isinstance(image, Mapping) else image
            if isinstance(url, str):
                parts.append(_media_part("image", url, policy))
        elif kind in ("input_audio", "input_file", "file"):
            parts.append({"type": "blob" if kind == "input_audio" else "file", "modality": _modality(kind)})
        elif isinstance(kind, str):
            parts.append({"type": kind})
    return parts


def _modality(kind: str) -> str:
    return "audio" if "audio" in kind else "document"


def _media_part(modality: str, url: str, policy: ContentPolicy) -> dict[str, Any]:
    if url.startswith("data:"):  # inline bytes: keep only the media type and size, never the payload
        media_type = url[5:].split(";", 1)[0]
        return {"type": "blob", "modality": modality, "mime_type": media_type, "byte_size": len(url)}
    content, cut = policy.bound(url)
    part: dict[str, Any] = {"type": "uri", "modality": modality, "uri": content}
    if cut is not None:
        part["truncated"] = cut
    return part


def chat_input_messages(messages: Any, policy: ContentPolicy) -> list[dict[str, Any]] | None:
    """Chat Completions ``messages`` as ``gen_ai.input.messages`` (system prompts stay in the history)."""
    if not isinstance(messages, (list, tuple)):
        return None
    result: list[dict[str, Any]] = []
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        role = message.get("role") if isinstance(message.get("role"), str) else "user"
        if role == "tool":
            parts = [
                {
                    "type": "tool_call_response",
                    "id": message.get("tool_call_id"),
                    "response": policy.value(message.get("content")),
                }
            ]
        else:
            parts = _content_parts(message.get("content"), policy)
            for tool_call in message.get("tool_calls") or ():
                if isinstance(tool_call, Mapping):
                    function = tool_call.get("function")
                    if function is None:  # a custom tool's call: ``custom`` in place of ``function``
                        parts.append(_custom_tool_call(tool_call, policy))
                        continue
                    function = function or {}
                    parts.append(
                        {
                            "type": "tool_call",
                            "id": tool_call.get("id"),
                            "name": function.get("name"),
                            "arguments": policy.value(tool_arguments(function.get("arguments"))),
                        }
                    )
        entry: dict[str, Any] = {"role": role, "parts": parts}
        if isinstance(message.get("name"), str):
            entry["name"] = message["name"]
        result.append(entry)
    return result


def _custom_tool_call(tool_call: Any, policy: ContentPolicy) -> dict[str, Any]:
    """A Chat Completions call of a custom tool (``{"type": "custom", "custom": {"name", "input"}}``, in a reply or
    passed back in the messages) as a ``tool_call`` part; its input is free-form text, kept as it is (not JSON)."""
    fields = _mapping(tool_call)
    custom = _mapping(fields.get("custom"))
    return {"type": "tool_call", "id": fields.get("id"), "name": custom.get("name"),
            "arguments": policy.value(custom.get("input"))}


# The tools the app runs other than functions: the type of their calls' items (output items, or passed back as
# input) -> the name their ``tool_call`` part reports (None: the call's own, as a custom tool's) and the fields
# its arguments are read from, the first one present.
_CLIENT_TOOL_CALLS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "custom_tool_call": (None, ("input",)),  # free-form text, not JSON
    "computer_call": ("computer", ("action", "actions")),  # one action, or a batch of them
    "local_shell_call": ("local_shell", ("action",)),
    "shell_call": ("shell", ("action",)),
    "apply_patch_call": ("apply_patch", ("operation",)),
}
# The items that pass those calls' outputs back as input.
_CLIENT_TOOL_OUTPUTS = frozenset({"custom_tool_call_output", "computer_call_output", "local_shell_call_output",
                                  "shell_call_output", "apply_patch_call_output"})


def _mapping(obj: Any) -> Mapping[str, Any] | _Attributes:
    """A request's dict as it is, a response object's fields (see ``_fields``): read either with ``.get``."""
    return obj if isinstance(obj, Mapping) else _fields(obj)


def _client_tool_call(item: Any, kind: str, policy: ContentPolicy) -> dict[str, Any]:
    """A call of a tool the app runs (``_CLIENT_TOOL_CALLS``) as a ``tool_call`` part: a custom tool's input stays
    text, a built-in tool's action (or patch operation) is its arguments, as plain JSON values."""
    fields = _mapping(item)
    name, keys = _CLIENT_TOOL_CALLS[kind]
    arguments = None
    for key in keys:
        arguments = fields.get(key)
        if arguments is not None:
            break
    return {"type": "tool_call", "id": fields.get("call_id"), "name": fields.get("name") if name is None else name,
            "arguments": policy.value(json_ready(arguments))}


def _client_tool_response(item: Mapping[str, Any], kind: str, policy: ContentPolicy) -> dict[str, Any]:
    """The output of a tool the app ran, passed back as input, as a ``tool_call_response`` part. A computer call's
    screenshot is kept by reference, as an image in a message is: an inline one by its type and size only."""
    call_id = item.get("call_id")
    if call_id is None and kind == "local_shell_call_output":
        call_id = item.get("id")  # here the ``call_id`` of the call it answers
    output = item.get("output")
    if kind == "computer_call_output" and isinstance(output, Mapping) and isinstance(output.get("image_url"), str):
        response = _media_part("image", output["image_url"], policy)
    else:
        response = policy.value(output)
    return {"type": "tool_call_response", "id": call_id, "response": response}


def _runs_in_app(item: Any, kind: str) -> bool:
    """Whether a call of ``_CLIENT_TOOL_CALLS`` is the app's to run: all are but a shell call in a hosted
    container, which the server runs (its output follows in the same reply)."""
    if kind != "shell_call":
        return True
    environment = _mapping(item).get("environment")
    return environment is None or _mapping(environment).get("type") != "container_reference"


def client_tool_call_part(item: Any, policy: ContentPolicy) -> dict[str, Any] | None:
    """The ``tool_call`` part of a Responses output item (an SDK object or its dump) that calls a tool the app
    runs other than a function; None for any other item."""
    kind = _mapping(item).get("type")
    if kind in _CLIENT_TOOL_CALLS and _runs_in_app(item, kind):
        return _client_tool_call(item, kind, policy)
    return None


def responses_input_messages(value: Any, policy: ContentPolicy) -> list[dict[str, Any]] | None:
    """Responses API ``input`` (a string or a list of items) as ``gen_ai.input.messages``."""
    if isinstance(value, str):
        return [{"role": "user", "parts": [policy.text_part(value)]}]
    if not isinstance(value, (list, tuple)):
        return None
    result: list[dict[str, Any]] = []
    for item in value:
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type", "message")
        if kind == "message" or "role" in item:
            result.append({"role": item.get("role", "user"), "parts": _content_parts(item.get("content"), policy)})
        elif kind == "function_call":
            part = {
                "type": "tool_call",
                "id": item.get("call_id"),
                "name": item.get("name"),
                "arguments": policy.value(tool_arguments(item.get("arguments"))),
            }
            result.append({"role": "assistant", "parts": [part]})
        elif kind == "function_call_output":
            output = policy.value(item.get("output"))
            part = {"type": "tool_call_response", "id": item.get("call_id"), "response": output}
            result.append({"role": "tool", "parts": [part]})
        elif kind in _CLIENT_TOOL_CALLS:
            result.append({"role": "assistant", "parts": [_client_tool_call(item, kind, policy)]})
        elif kind in _CLIENT_TOOL_OUTPUTS:
            result.append({"role": "tool", "parts": [_client_tool_response(item, kind, policy)]})
        elif kind == "compaction":  # a compaction passed back: it stands for the earlier conversation (opaque)
            result.append({"role": "assistant", "parts": [{"type": "compaction", "id": item.get("id")}]})
    return result


def _prompt_messages(prompt: Any, policy: ContentPolicy) -> list[dict[str, Any]] | None:
    if isinstance(prompt, str):
        return [{"role": "user", "parts": [policy.text_part(prompt)]}]
    if isinstance(prompt, (list, tuple)) and all(isinstance(p, str) for p in prompt):
        return [{"role": "user", "parts": [policy.text_part(p) for p in prompt]}]
    return None


def tool_definitions(tools: Any) -> list[dict[str, Any]] | None:
    """Request ``tools`` as ``gen_ai.tool.definitions`` (both API shapes: a tool nested under its type's name, as
    Chat Completions' ``function`` and ``custom`` tools are, or flat)."""
    if not isinstance(tools, (list, tuple)) or not tools:
        return None
    result = []
    for tool in tools:
        if not isinstance(tool, Mapping):
            continue
        kind = tool.get("type", "function")
        nested = tool.get(kind) if isinstance(kind, str) else None
        function = nested if isinstance(nested, Mapping) else tool
        definition: dict[str, Any] = {"type": kind}
        if isinstance(function.get("name"), str):
            definition["name"] = function["name"]
        if function.get("description") is not None:
            definition["description"] = function["description"]
        if function.get("parameters") is not None:
            definition["parameters"] = function["parameters"]
        result.append(definition)
    return result


# --- responses -------------------------------------------------------------------------------------------


try:  # a pydantic 2 model's own field values and extras, read through the slots that hold them
    from pydantic import BaseModel as _Model

    _model_fields: Callable[[Any], dict[str, Any]] | None = _Model.__dict__["__dict__"].__get__
    _model_extra: Callable[[Any], dict[str, Any] | None] | None = _Model.__dict__["__pydantic_extra__"].__get__
except (ImportError, KeyError):  # pydantic 1: every object is read by attribute
    _model_fields = _model_extra = None


class _Attributes:
    """An object's attributes behind a mapping's ``get``: how objects other than dicts and pydantic 2 models
    (pydantic 1 models, test doubles) are read."""

    __slots__ = ("_obj",)

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self._obj, name, default)


def _fields(obj: Any) -> Mapping[str, Any] | _Attributes:
    """A response object's fields, read with ``.get(name)`` (None when absent).

    A pydantic model's instance dict is read directly. Pydantic models define ``__getattr__``, so CPython
    cannot specialise reads of their attributes: each read looks the name up along the class hierarchy, and
    inside a real call, with the caches cold after the SDK's own work, that costs about a microsecond a field
    (a field the model lacks, 3.5 µs even warm). Fields an older SDK has no type for are kept in the model's
    extras (openai 1.26 has no ``prompt_tokens_details``) and merged in when there are any.
    """
    if type(obj) is dict:
        return obj
    try:
        fields = _model_fields(obj)  # type: ignore[misc]
    except TypeError:  # not a pydantic 2 model (or pydantic 1)
        return _Attributes(obj)
    try:
        extra = _model_extra(obj)  # type: ignore[misc]
    except AttributeError:  # a model made without pydantic's constructors has no extras slot set
        return fields
    return {**fields, **extra} if extra else fields


def _not_a_count(call: GenAICall, name: str, value: Any) -> None:
    """None for a token count that is absent; for one that is present but not a count (negative, above
    ``MAX_TOKEN_COUNT``, not a whole number) also None, with the call's usage marked ``invalid``, so that it is
    not priced (``llmtel.cost.status=invalid_usage``) and the other counts still are recorded; a warning is
    logged once per process. Called only where a count failed its check."""
    if value is None:
        return None
    call.usage_source = sc.USAGE_SOURCE_INVALID
    if "invalid-count" not in _warned:
        _warned.add("invalid-count")
        shown = repr(value)
        _logger.warning(
            "llmtel: %s %s: the reply reported %s=%s, which is not a token count; the call's usage is marked"
            " invalid (llmtel.usage.source=invalid) and the call is not priced",
            call.operation, call.request_model, name, shown if len(shown) <= 40 else shown[:40] + "...",
        )
    return None


def _count(call: GenAICall, fields: Mapping[str, Any] | _Attributes, name: str) -> int | None:
    """The token count ``name`` of usage ``fields`` (see ``_not_a_count`` for one that is not a count)."""
    value = fields.get(name)
    if type(value) is int and 0 <= value <= MAX_TOKEN_COUNT:
        return value
    return _not_a_count(call, name, value)


def chat_usage(call: GenAICall, usage: Any, source: str) -> None:
    """Chat/legacy-completions usage (``prompt_tokens``…), also what embeddings report; ``source`` is where it
    came from (``"response"``, or ``"stream_usage_chunk"`` for the usage chunk of a stream).

    Like the other readers that run for every call (``apply_response``, ``chunk_ids``), it is written out flat,
    with the checks of ``_count`` inline: inside a real call, with the caches cold after the SDK's work, each
    call of a small helper costs more than the check it makes. A count that is usually absent is tested for
    None first; the audio and image counts take 0 as none."""
    fields = _fields(usage)
    call.usage_source = source
    value = fields.get("prompt_tokens")
    call.input_tokens = (
        value if type(value) is int and 0 <= value <= MAX_TOKEN_COUNT else _not_a_count(call, "prompt_tokens", value)
    )
    if call.operation == sc.OP_EMBEDDINGS:  # embeddings usage has no output tokens and no details
        return
    value = fields.get("completion_tokens")
    call.output_tokens = (
        value if type(value) is int and 0 <= value <= MAX_TOKEN_COUNT
        else _not_a_count(call, "completion_tokens", value)
    )
    details = fields.get("prompt_tokens_details")
    if details is not None:  # the subsets of the input: cached, written to the cache, audio, image
        details = _fields(details)
        value = details.get("cached_tokens")
        call.cache_read_tokens = (
            value if value is None or type(value) is int and 0 <= value <= MAX_TOKEN_COUNT
            else _not_a_count(call, "cached_tokens", value)
        )
        value = details.get("cache_write_tokens")
        call.cache_write_tokens = (
            value if value is None or type(value) is int and 0 <= value <= MAX_TOKEN_COUNT
            else _not_a_count(call, "cache_write_tokens", value)
        )
        value = details.get("audio_tokens")
        call.input_audio_tokens = (
            None if not value else value if type(value) is int and 0 < value <= MAX_TOKEN_COUNT
            else _not_a_count(call, "audio_tokens", value)
        )
        value = details.get("image_tokens")
        call.input_image_tokens = (
            None if not value else value if type(value) is int and 0 < value <= MAX_TOKEN_COUNT
            else _not_a_count(call, "image_tokens", value)
        )
    else:
        call.cache_read_tokens = call.cache_write_tokens = call.input_audio_tokens = call.input_image_tokens = None
    details = fields.get("completion_tokens_details")
    if details is not None:  # the subsets of the output: reasoning, audio
        details = _fields(details)
        value = details.get("reasoning_tokens")
        call.reasoning_tokens = (
            value if value is None or type(value) is int and 0 <= value <= MAX_TOKEN_COUNT
            else _not_a_count(call, "reasoning_tokens", value)
        )
        value = details.get("audio_tokens")
        call.output_audio_tokens = (
            None if not value else value if type(value) is int and 0 < value <= MAX_TOKEN_COUNT
            else _not_a_count(call, "audio_tokens", value)
        )
    else:
        call.reasoning_tokens = call.output_audio_tokens = None


def responses_usage(call: GenAICall, usage: Any, source: str) -> None:
    """Responses API usage (``input_tokens``, ``output_tokens`` and their details), also the Agents SDK's form of
    it; ``source`` is where it came from."""
    fields = _fields(usage)
    call.usage_source = source
    call.input_tokens = _count(call, fields, "input_tokens")
    call.output_tokens = _count(call, fields, "output_tokens")
    details = fields.get("input_tokens_details")
    details = {} if details is None else _fields(details)  # read once for both of its counts
    call.cache_read_tokens = _count(call, details, "cached_tokens")
    call.cache_write_tokens = _count(call, details, "cache_write_tokens")
    details = fields.get("output_tokens_details")
    call.reasoning_tokens = None if details is None else _count(call, _fields(details), "reasoning_tokens")


# OpenAI's Chat Completions search models (``gpt-4o-search-preview``, ``gpt-4o-mini-search-preview``,
# ``gpt-5-search-api``, and their dated versions) search the web on every request, billed per search on top of
# the tokens, and the reply shows no search to count: each reply from one counts one.
_SEARCH_MODEL: Final = "-search-"


def _count_search(call: GenAICall, model: str) -> None:
    if model.startswith("gpt-") and call.operation == sc.OP_CHAT:
        call.hosted_tool_calls = {sc.HOSTED_TOOL_WEB_SEARCH: 1}


def apply_response(call: GenAICall, response: Any, policy: ContentPolicy) -> None:
    """Fill response fields, usage and (when captured) output content from a parsed response object."""
    if call.api_type == sc.API_TYPE_RESPONSES:
        apply_responses_object(call, response, policy)
        return
    fields = _fields(response)  # written out flat, as ``chat_usage`` is
    value = fields.get("model")
    if isinstance(value, str) and value:
        call.response_model = value
        if _SEARCH_MODEL in value:
            _count_search(call, value)
    usage = fields.get("usage")
    if usage is not None:
        chat_usage(call, usage, "response")
    elif call.usage_source is None:
        call.usage_source = "absent"
    if call.operation == sc.OP_EMBEDDINGS:
        return
    value = fields.get("id")
    call.response_id = value if isinstance(value, str) and value else None
    value = fields.get("system_fingerprint")
    call.system_fingerprint = value if isinstance(value, str) and value else None
    value = fields.get("service_tier")
    call.response_service_tier = value if isinstance(value, str) and value else None
    choices = fields.get("choices") or ()
    if not choices and fields.get("error") is not None:
        _reply_error(call, fields["error"], policy)
    reasons = []
    for choice in choices:  # the conventions report "error" where a reason was expected but none arrived
        value = _fields(choice).get("finish_reason")
        reasons.append(value if isinstance(value, str) and value else "error")
    call.finish_reasons = reasons
    if policy.capture:
        call.output_messages = [_choice_message(c, policy) for c in choices]


def _reply_error(call: GenAICall, error: Any, policy: ContentPolicy) -> None:
    """A reply with no choices that carries an ``error`` object instead (some OpenAI-compatible servers and
    gateways answer a failure with status 200, and the SDK returns it as a reply): the call failed, as it says."""
    error = _mapping(error)
    code = error.get("code")
    code = str(code) if isinstance(code, int) and not isinstance(code, bool) else _str(code)
    kind = _str(error.get("type"))
    message = _str(error.get("message"))
    call.error_type = code or kind or "reply_error"
    call.error_message = policy.clean_error(message) if message is not None else None
    status = int(code) if code is not None and code.isdigit() else None  # a gateway's HTTP-style code
    call.diagnosis = diagnose(status=status, code=code, error_type=kind, message=message)


def _finish_reason(value: Any) -> str:
    # The conventions report "error" where a reason was expected but none arrived.
    return value if isinstance(value, str) and value else "error"


def _choice_message(choice: Any, policy: ContentPolicy) -> dict[str, Any]:
    """One choice as an output message; the conventions require its finish reason on it."""
    reason = _finish_reason(getattr(choice, "finish_reason", None))
    message = getattr(choice, "message", None)
    parts: list[dict[str, Any]] = []
    if message is None:  # legacy completions carry text on the choice itself
        text = getattr(choice, "text", None)
        if isinstance(text, str):
            parts.append(policy.text_part(text))
        return {"role": "assistant", "parts": parts, "finish_reason": reason}
    content = getattr(message, "content", None)
    if isinstance(content, str):
        parts.append(policy.text_part(content))
    refusal = getattr(message, "refusal", None)
    if isinstance(refusal, str) and refusal:
        parts.append(policy.text_part(refusal, "refusal"))
    for tool_call in getattr(message, "tool_calls", None) or ():
        function = getattr(tool_call, "function", None)
        if function is None:  # a custom tool's call: ``custom`` in place of ``function``
            parts.append(_custom_tool_call(tool_call, policy))
            continue
        parts.append(
            {
                "type": "tool_call",
                "id": getattr(tool_call, "id", None),
                "name": getattr(function, "name", None),
                "arguments": policy.value(tool_arguments(getattr(function, "arguments", None))),
            }
        )
    return {"role": getattr(message, "role", None) or "assistant", "parts": parts, "finish_reason": reason}


_INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}


class _CountedResults:
    """Ids of background responses whose usage a span has counted, so that fetching a result again (polling
    past its end, a second ``retrieve``) does not count it twice in this process. Bounded, oldest out first."""

    def __init__(self, size: int = 4096) -> None:
        self._ids: dict[str, None] = {}
        self._size = size
        self._lock = threading.Lock()

    def first(self, response_id: str) -> bool:
        """Note ``response_id``; True the first time."""
        with self._lock:
            if response_id in self._ids:
                return False
            if len(self._ids) >= self._size:
                del self._ids[next(iter(self._ids))]
            self._ids[response_id] = None
            return True


_BACKGROUND_RESULTS = _CountedResults()
_FINAL_STATUSES = frozenset({"completed", "incomplete", "failed", "cancelled"})
# Output items of the hosted tools billed beyond the tokens, and the kind each is counted as.
_BILLED_TOOL_ITEMS: dict[str, str] = {"web_search_call": sc.HOSTED_TOOL_WEB_SEARCH,
                                      "file_search_call": sc.HOSTED_TOOL_FILE_SEARCH,
                                      "code_interpreter_call": sc.HOSTED_TOOL_CODE_INTERPRETER,
                                      "image_generation_call": sc.HOSTED_TOOL_IMAGE_GENERATION}
# The output items of tool calls other than functions, looked up once per item: a hosted tool's billed call -> the
# kind it is counted as; a call of a tool the app runs (``_CLIENT_TOOL_CALLS``) -> None.
_TOOL_ITEMS: dict[str, str | None] = {**_BILLED_TOOL_ITEMS, **dict.fromkeys(_CLIENT_TOOL_CALLS)}


def _response_prompt(call: GenAICall, prompt: Any) -> None:
    prompt_fields = prompt if isinstance(prompt, Mapping) else _fields(prompt)
    name = _str(prompt_fields.get("id"))
    if name is not None:
        version = _str(prompt_fields.get("version"))
        if name != call.prompt_name or version is not None:
            call.prompt_name, call.prompt_version = name, version


def apply_responses_object(call: GenAICall, response: Any, policy: ContentPolicy, source: str = "response") -> None:
    """Fill fields from a Responses API ``Response`` object (final, retrieved or from a stream's last event).

    A fetch (``retrieve``) carries no usage, which the call that made the response counted, except for the
    result of a background response: its call returned at once (``queued``), so the first fetch of its result
    is where its usage is counted (``background_result``), and, if it failed, its failure: the fetch itself did
    not fail, and a later fetch reports neither again."""
    fields = _fields(response)
    call.response_id = _str(fields.get("id"))
    call.response_model = _str(fields.get("model")) or call.response_model
    call.response_service_tier = _str(fields.get("service_tier"))
    prompt = fields.get("prompt")
    if prompt is not None:  # the stored prompt the response was made from, with the version it resolved to
        _response_prompt(call, prompt)
    status = fields.get("status")
    usage = fields.get("usage")
    outcome = True  # whether this call reports the response's outcome (its usage, its failure)
    if call.operation != sc.OP_FETCH_RESPONSE:
        if usage is not None:
            responses_usage(call, usage, source)
        elif call.usage_source is None:
            call.usage_source = "absent"
        if fields.get("background") is True and call.response_id and status in _FINAL_STATUSES:
            _BACKGROUND_RESULTS.first(call.response_id)  # a streamed background response, reported here
    else:  # the first fetch of a background response's result (noted once, when final)
        outcome = bool(fields.get("background") is True and status in _FINAL_STATUSES and call.response_id
                       and _BACKGROUND_RESULTS.first(call.response_id))
        if outcome and usage is not None:
            responses_usage(call, usage, "background_result")
    output = fields.get("output") or ()
    has_call = False
    hosted: dict[str, int] | None = None
    for item in output:  # a few items: a message, tool calls, reasoning, a compaction
        kind = getattr(item, "type", None)
        if kind == "function_call":
            has_call = True
        elif kind == "compaction" and call.operation != sc.OP_FETCH_RESPONSE:
            call.conversation_compacted = True  # by the compaction endpoint, or by ``context_management``
        elif kind in _TOOL_ITEMS:
            tool = _TOOL_ITEMS[kind]
            if tool is not None:  # a hosted tool's call: each one is billed, whatever its status
                hosted = hosted or {}
                hosted[tool] = hosted.get(tool, 0) + 1
            elif _runs_in_app(item, kind):  # a custom tool's, computer use, a shell, a patch: the app runs it
                has_call = True
    if hosted is not None and (call.operation != sc.OP_FETCH_RESPONSE or call.usage_source == "background_result"):
        call.hosted_tool_calls = hosted  # counted with the usage: where the call is priced
    reasons: list[str] = []
    if status == "incomplete":
        details = fields.get("incomplete_details")
        reason = getattr(details, "reason", None)
        reasons.append(_INCOMPLETE_REASONS.get(reason, "length") if isinstance(reason, str) else "length")
    elif status == "failed":
        reasons.append("error")  # on every fetch too: it describes the response
        if outcome:
            error = fields.get("error")
            code = _str(getattr(error, "code", None))
            call.error_type = code or "response_failed"
            message = _str(getattr(error, "message", None))
            call.error_message = policy.clean_error(message) if message is not None else None
            call.diagnosis = diagnose(code=code, message=message)  # no exception, but a failure: mode and hint
    elif status == "completed":
        reasons.append("tool_calls" if has_call else "stop")
    elif status == "cancelled":  # a background response cancelled: it ended without a reply, yet nothing failed
        reasons.append("error")
    call.finish_reasons = reasons  # none for a compaction, which has no status
    if policy.capture and call.operation != sc.OP_FETCH_RESPONSE:
        finish = reasons[0] if reasons else "stop" if call.operation == sc.OP_COMPACT else "error"
        call.output_messages = responses_output_messages(output, policy, finish)


def responses_output_messages(output: Any, policy: ContentPolicy, finish_reason: str) -> list[dict[str, Any]]:
    """Responses API output items as one assistant message with text, tool-call, reasoning and compaction
    parts (a compaction's user messages, which repeat its input, are left out; its encrypted content too)."""
    parts: list[dict[str, Any]] = []
    for item in output:
        kind = getattr(item, "type", None)
        if kind == "message":
            if getattr(item, "role", "assistant") != "assistant":
                continue
            for piece in getattr(item, "content", None) or ():
                text = getattr(piece, "text", None)
                if isinstance(text, str):
                    parts.append(policy.text_part(text))
                refusal = getattr(piece, "refusal", None)
                if isinstance(refusal, str):
                    parts.append(policy.text_part(refusal, "refusal"))
        elif kind == "function_call":
            parts.append(
                {
                    "type": "tool_call",
                    "id": getattr(item, "call_id", None),
                    "name": getattr(item, "name", None),
                    "arguments": policy.value(tool_arguments(getattr(item, "arguments", None))),
                }
            )
        elif kind == "compaction":
            parts.append({"type": "compaction", "id": getattr(item, "id", None)})
        elif kind == "reasoning":
            for summary in getattr(item, "summary", None) or ():
                text = getattr(summary, "text", None)
                if isinstance(text, str):
                    parts.append(policy.text_part(text, "reasoning"))
        elif kind in _CLIENT_TOOL_CALLS and _runs_in_app(item, kind):
            parts.append(_client_tool_call(item, kind, policy))
        elif isinstance(kind, str):
            parts.append({"type": "server_tool_call", "name": kind, "server_tool_call": {"type": kind}})
    return [{"role": "assistant", "parts": parts, "finish_reason": finish_reason}]


# --- streams ---------------------------------------------------------------------------------------------


class ChunkFold(Protocol):
    """What a chunk stream's fold keeps (``streams.ChunkStream``, ``DetailedChunkAccumulator``)."""

    call: GenAICall
    count: int  # the chunks the caller is given
    top: int  # the highest choice index seen, -1 for none
    reasons: dict[int, str]  # choice index -> the finish reason that arrived
    hide_usage_chunk: bool  # the usage chunk was asked for by llmtel, not the caller
    pending: bool  # True until a chunk with the response's id and a choice has been read


def unset_null_usage(chunk: Any) -> None:
    """Forget that a chunk came with ``usage: null``, which the API adds to every chunk once usage is asked for:
    when llmtel asked on the caller's behalf, the chunk's ``to_dict()`` / ``to_json()`` stay what they would be."""
    try:
        chunk.__pydantic_fields_set__.discard("usage")
    except AttributeError:
        fields = getattr(chunk, "__fields_set__", None)  # pydantic 1
        if isinstance(fields, set):
            fields.discard("usage")


def chunk_ids(fold: ChunkFold, chunk: Any) -> None:
    """Read a Chat Completions (or legacy Completions) chunk's ids into the fold's call, and the first chunk's
    arrival; called while ``fold.pending``, which it clears once a chunk with an id and a choice has been read.
    A later chunk keeps what an earlier one had and it lacks (Azure's prompt-filter chunk comes first, with
    neither an id nor a choice)."""
    call = fold.call
    if call.first_chunk_perf is None:
        call.first_chunk_perf = time.perf_counter()
    fields = _fields(chunk)  # written out flat, as ``chat_usage`` is
    value = fields.get("id")
    if isinstance(value, str) and value:
        call.response_id = value
    value = fields.get("model")
    if isinstance(value, str) and value:
        call.response_model = value
        if _SEARCH_MODEL in value:
            _count_search(call, value)
    value = fields.get("system_fingerprint")
    if isinstance(value, str) and value:
        call.system_fingerprint = value
    value = fields.get("service_tier")
    if isinstance(value, str) and value:
        call.response_service_tier = value
    if fold.top < 0 and fields.get("choices"):
        fold.top = 0  # a choice's index is learned here and from its finish reason
    fold.pending = call.response_id is None or fold.top < 0


def summarise_chunks(fold: ChunkFold, completed: bool) -> None:
    """Write a chunk stream's count, finish reasons and usage source into its call (``completed``: the stream was
    read to its end).

    Every choice up to the highest index seen, and up to the number asked for, reports a reason: "error" when it
    was cut short. The usage source is "injected" when llmtel asked for the usage chunk."""
    call = fold.call
    call.chunk_count = fold.count
    top = fold.top
    if top < 0 and completed:  # ended without a single choice: no reason to report
        call.finish_reasons = []
    elif top <= 0 and not call.choice_count:  # one choice, as most streams have
        reason = fold.reasons.get(0)  # as it came: ``_finish_reason``'s check, inline
        call.finish_reasons = [reason if isinstance(reason, str) and reason else "error"]
    else:
        reasons = fold.reasons
        call.finish_reasons = [_finish_reason(reasons.get(i)) for i in range(_choice_total(call, top))]
    if call.usage_source is None:
        call.usage_source = "absent"
    elif fold.hide_usage_chunk and call.usage_source == "stream_usage_chunk":
        call.usage_source = "injected"


def _choice_total(call: GenAICall, top: Any) -> int:
    """How many choices a stream reports: up to the highest index seen, at least as many as asked for, at most
    ``MAX_CHOICES`` (an index that is not a whole number counts as none)."""
    total = top + 1 if type(top) is int else 1
    asked = call.choice_count
    if type(asked) is int and asked > total:
        total = asked
    return total if total <= MAX_CHOICES else MAX_CHOICES


class _StreamCounts:
    """What every stream accumulator keeps per item, on itself rather than on the call: the item count (kept by
    the traced iterator) and, when chunk timing is on, each item's arrival. The call is written when the stream
    closes."""

    __slots__ = ("call", "count", "pending", "times")
    # Set in the subclasses' ``__init__`` (no ``super()`` call for four fields):
    call: GenAICall
    count: int  # the items the caller is given (not the usage chunk hidden from it)
    pending: bool  # True until the first item, or the first with the response's id, is read
    times: list[float] | None  # each item's arrival, only when chunk timing is on

    def unreadable(self) -> None:
        """An item that could not be read still arrived (the iterator counts it)."""
        if self.times is not None:
            self.times.append(time.perf_counter())

    def _counts_into_call(self) -> None:
        call = self.call
        call.chunk_count = self.count
        if self.times is not None:
            call.chunk_times = self.times


class DetailedChunkAccumulator(_StreamCounts):
    """Folds Chat Completions / legacy Completions chunks one by one when more than the lean fold is wanted: each
    chunk's arrival (chunk timing) and, when content is captured, the text and tool-call deltas, reassembled
    into output messages when the stream closes. The lean fold (ids, usage, finish reasons) runs inline in the
    stream's traced iterator; this one reads the same with ``chunk_ids``, ``chat_usage`` and
    ``summarise_chunks``."""

    __slots__ = ("capture", "hide_usage_chunk", "policy", "reasons", "text", "tool_calls", "top")

    def __init__(
        self, call: GenAICall, policy: ContentPolicy, *, hide_usage_chunk: bool = False, chunk_timing: bool = False
    ) -> None:
        self.call, self.count, self.pending = call, 0, True
        self.times = [] if chunk_timing else None
        self.hide_usage_chunk = hide_usage_chunk  # the usage chunk was asked for by llmtel, not the caller
        self.policy = policy
        self.capture = policy.capture
        self.top = -1  # the highest choice index seen (see ``summarise_chunks``)
        self.reasons: dict[int, str] = {}
        self.text: dict[int, list[str]] = {}  # choice index -> text deltas
        self.tool_calls: dict[int, dict[int, dict[str, Any]]] = {}  # choice index -> tool-call index -> parts

    def add(self, chunk: Any) -> bool:
        """Fold one chunk in; False for the usage-only chunk llmtel asked for (hidden from the caller)."""
        call = self.call
        if self.pending:  # the ids, until a chunk with an id and a choice
            chunk_ids(self, chunk)
        choices = chunk.choices
        usage = chunk.usage
        if usage is not None:
            chat_usage(call, usage, "stream_usage_chunk")
            if self.hide_usage_chunk and not choices:
                return False  # not e.g. Azure's prompt-filter chunk, which has no usage
        elif self.hide_usage_chunk:
            unset_null_usage(chunk)
        if self.times is not None:
            self.times.append(time.perf_counter())
        for choice in choices or ():
            index = choice.index
            if self.capture:
                self._content(choice)
            reason = choice.finish_reason
            if reason is not None:
                if index > self.top:
                    self.top = index
                self.reasons[index] = reason
        return True

    def _content(self, choice: Any) -> None:
        index = choice.index
        delta = getattr(choice, "delta", None)
        text = getattr(delta, "content", None) if delta is not None else getattr(choice, "text", None)
        if isinstance(text, str):
            self.text.setdefault(index, []).append(text)
        for tool_call in getattr(delta, "tool_calls", None) or ():
            calls = self.tool_calls.setdefault(index, {})
            entry = calls.setdefault(getattr(tool_call, "index", 0), {"id": None, "name": None, "arguments": []})
            if getattr(tool_call, "id", None):
                entry["id"] = tool_call.id
            function = getattr(tool_call, "function", None)
            if getattr(function, "name", None):
                entry["name"] = function.name
            if isinstance(getattr(function, "arguments", None), str):
                entry["arguments"].append(function.arguments)

    def close(self, completed: bool) -> None:
        """Write the counts, finish reasons and accumulated output into the call."""
        call = self.call
        self._counts_into_call()
        summarise_chunks(self, completed)
        if not self.capture:
            return
        messages = []
        for i in range(_choice_total(call, self.top)):
            parts: list[dict[str, Any]] = []
            if i in self.text:
                parts.append(self.policy.text_part("".join(self.text[i])))
            for _, entry in sorted(self.tool_calls.get(i, {}).items()):
                parts.append(
                    {
                        "type": "tool_call",
                        "id": entry["id"],
                        "name": entry["name"],
                        "arguments": self.policy.value(tool_arguments("".join(entry["arguments"]))),
                    }
                )
            messages.append({"role": "assistant", "parts": parts, "finish_reason": call.finish_reasons[i]
                             if i < len(call.finish_reasons) else "error"})
        call.output_messages = messages


_TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


class EventAccumulator(_StreamCounts):
    """Folds Responses API stream events into the call: deltas are counted, the final response is read."""

    __slots__ = ("policy", "terminal")

    def __init__(self, call: GenAICall, policy: ContentPolicy, *, chunk_timing: bool = False) -> None:
        self.call, self.count, self.pending = call, 0, True
        self.times = [] if chunk_timing else None
        self.policy = policy
        self.terminal = False

    def add(self, event: Any) -> bool:
        if self.pending:  # the first event's arrival (the ids come with ``response.created``)
            self.pending = False
            self.call.first_chunk_perf = time.perf_counter()
        kind = getattr(event, "type", None)  # read as an attribute, as a chunk's fields are (see ``ChunkAccumulator``)
        if kind in _TERMINAL_EVENTS:
            self.terminal = True
            apply_responses_object(self.call, getattr(event, "response", None), self.policy, "stream_usage_chunk")
        elif kind == "response.created":
            response = getattr(event, "response", None)
            self.call.response_id = _str(getattr(response, "id", None))
            self.call.response_model = _str(getattr(response, "model", None)) or self.call.response_model
        elif kind == "response.compaction.compacting":  # seen even if the stream ends before its last event
            self.call.conversation_compacted = True
        elif kind == "error":
            code, message = _str(getattr(event, "code", None)), _str(getattr(event, "message", None))
            self.call.error_type = code or "stream_error"
            self.call.error_message = self.policy.clean_error(message) if message is not None else None
            self.call.diagnosis = diagnose(code=code, message=message)
        if self.times is not None:
            self.times.append(time.perf_counter())
        return True

    def close(self, completed: bool) -> None:
        self._counts_into_call()
        if not self.terminal:
            self.call.finish_reasons = ["error"]
            if self.call.usage_source is None:
                self.call.usage_source = "absent"
            if completed and self.call.error_type is not None:
                self.call.stream_end = "error"  # the body ended after an ``error`` event, not a response


# --- errors ----------------------------------------------------------------------------------------------


def error_inputs(error: BaseException) -> dict[str, Any]:
    """What ``diagnostics.diagnose`` needs, read from an ``openai`` exception (or any exception): the HTTP
    status, the error body's code / type / param / message, the class names along the MRO, the headers."""
    body = getattr(error, "body", None)
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        body = body["error"]  # some servers send the whole reply; the SDK usually unwraps it
    body = body if isinstance(body, Mapping) else {}
    code = getattr(error, "code", None) or body.get("code")
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    status = getattr(error, "status_code", None)
    return {
        "status": status if isinstance(status, int) else None,
        "code": str(code) if code is not None else None,
        "error_type": _str(getattr(error, "type", None)) or _str(body.get("type")),
        "param": _str(getattr(error, "param", None)) or _str(body.get("param")),
        "message": _str(getattr(error, "message", None)) or _str(body.get("message")) or str(error),
        "exception_names": [cls.__name__ for cls in type(error).__mro__],
        "headers": dict(headers.items()) if headers is not None and hasattr(headers, "items") else None,
    }


def apply_error(call: GenAICall, error: BaseException) -> None:
    """Diagnose a failed call: its failure mode, hint and requested retry delay go on the record."""
    call.diagnosis = diagnose(**error_inputs(error))
