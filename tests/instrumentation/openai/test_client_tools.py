"""Tools the app runs other than functions (custom tools, computer use, shells, apply_patch) in Responses and Chat
Completions replies and requests; and what a fetched failed or cancelled response reports. Through the real
client against the fake server, exact values."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from llmtel import semconv as sc
from llmtel.instrumentation.openai import extract
from llmtel.testing import RawReply, ResponsesReply

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.timeout(20)

needs_responses = pytest.mark.skipif(not hasattr(openai.OpenAI, "responses"),
                                     reason=f"openai {openai.__version__} has no Responses API")


@pytest.fixture(autouse=True)
def fresh_background_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """The background results noted by earlier tests' fake servers, which number their responses alike, are
    forgotten."""
    monkeypatch.setattr(extract, "_BACKGROUND_RESULTS", extract._CountedResults())


def response_body(*items: dict[str, Any], status: str = "completed", **extra: Any) -> dict[str, Any]:
    body = {"id": "resp_1", "object": "response", "created_at": 1, "status": status, "model": "gpt-5-2025-08-07",
            "output": list(items), "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
            "usage": {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}}
    body.update(extra)
    return body


def output_messages(span: Any) -> Any:
    return json.loads(span.attributes[sc.GEN_AI_OUTPUT_MESSAGES])


# Every optional field of an action is given, so that each SDK (whether or not it has a type for the item, and so
# fills absent fields with None) reads the same value.
CLICK = {"type": "click", "button": "left", "x": 10, "y": 20, "keys": None}
CALLS = {
    "custom": ({"type": "custom_tool_call", "id": "ctc_1", "call_id": "call_2", "name": "code_exec",
                "input": '{"not": "parsed"}'}, "code_exec", '{"not": "parsed"}'),
    "computer action": ({"type": "computer_call", "id": "cu_1", "call_id": "call_3", "action": CLICK,
                         "pending_safety_checks": [], "status": "completed"}, "computer", CLICK),
    "computer actions": ({"type": "computer_call", "id": "cu_2", "call_id": "call_3b",
                          "actions": [CLICK, {"type": "wait"}], "pending_safety_checks": [], "status": "completed"},
                         "computer", [CLICK, {"type": "wait"}]),
    "local shell": ({"type": "local_shell_call", "id": "ls_1", "call_id": "call_4", "status": "completed",
                     "action": {"type": "exec", "command": ["ls", "-l"], "env": {"A": "1"}, "timeout_ms": None,
                                "user": None, "working_directory": "/tmp"}},
                    "local_shell", {"type": "exec", "command": ["ls", "-l"], "env": {"A": "1"}, "timeout_ms": None,
                                    "user": None, "working_directory": "/tmp"}),
    "shell": ({"type": "shell_call", "id": "sh_1", "call_id": "call_5", "status": "completed",
               "action": {"commands": ["pwd"], "max_output_length": None, "timeout_ms": 1000},
               "environment": {"type": "local"}},
              "shell", {"commands": ["pwd"], "max_output_length": None, "timeout_ms": 1000}),
    "apply_patch": ({"type": "apply_patch_call", "id": "ap_1", "call_id": "call_6", "status": "completed",
                     "operation": {"type": "update_file", "path": "a.py", "diff": "@@ -1 +1 @@\n-a\n+b\n"}},
                    "apply_patch", {"type": "update_file", "path": "a.py", "diff": "@@ -1 +1 @@\n-a\n+b\n"}),
}


@needs_responses
@pytest.mark.parametrize("case", list(CALLS))
def test_a_call_the_app_runs_ends_the_reply_with_tool_calls(instrument, telemetry, client, fake, case):
    """A Responses reply that stops for the app to run a custom tool, computer use, a shell or a patch: finish
    reason ``tool_calls``, and its call as a ``tool_call`` part (a custom tool's input kept as text)."""
    item, name, arguments = CALLS[case]
    instrument(capture_content=True, redactor=None)
    fake.enqueue(RawReply.json(response_body(item)))
    client.responses.create(model="gpt-5", input="go")
    span = telemetry.one_llm_span()
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    assert output_messages(span) == [{"role": "assistant", "finish_reason": "tool_calls", "parts": [
        {"type": "tool_call", "id": item["call_id"], "name": name, "arguments": arguments}]}]


@needs_responses
def test_a_streamed_reply_ending_with_a_custom_tool_call(instrument, telemetry, client, fake):
    item = CALLS["custom"][0]
    final = response_body(item)
    created = {**final, "status": "in_progress", "output": [], "usage": None}
    fake.enqueue(RawReply.sse([{"type": "response.created", "sequence_number": 0, "response": created},
                               {"type": "response.completed", "sequence_number": 1, "response": final}], done=False))
    instrument(capture_content=True, redactor=None)
    events = list(client.responses.create(model="gpt-5", input="go", stream=True))
    assert events[-1].type == "response.completed"
    span = telemetry.one_llm_span()
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    assert output_messages(span)[0]["parts"] == [
        {"type": "tool_call", "id": "call_2", "name": "code_exec", "arguments": '{"not": "parsed"}'}]


@needs_responses
def test_a_shell_call_in_a_hosted_container_is_the_servers(instrument, telemetry, client, fake):
    """The shell tool can run in a hosted container: the server runs the call, and the reply goes on past it."""
    call = {"type": "shell_call", "id": "sh_1", "call_id": "call_5", "status": "completed",
            "action": {"commands": ["pwd"], "max_output_length": None, "timeout_ms": None},
            "environment": {"type": "container_reference", "container_id": "cntr_1"}}
    message = {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
               "content": [{"type": "output_text", "text": "/mnt/data", "annotations": []}]}
    instrument(capture_content=True, redactor=None)
    fake.enqueue(RawReply.json(response_body(call, message)))
    client.responses.create(model="gpt-5", input="where am I?")
    span = telemetry.one_llm_span()
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert output_messages(span)[0]["parts"] == [
        {"type": "server_tool_call", "name": "shell_call", "server_tool_call": {"type": "shell_call"}},
        {"type": "text", "content": "/mnt/data"}]


@needs_responses
def test_custom_tool_input_is_bounded_as_arguments_are(instrument, telemetry, client, fake):
    item = {**CALLS["custom"][0], "input": "x" * 30}
    instrument(capture_content=True, content_max_length=10)
    fake.enqueue(RawReply.json(response_body(item)))
    client.responses.create(model="gpt-5", input="go")
    (part,) = output_messages(telemetry.one_llm_span())[0]["parts"]
    assert part["arguments"]["preview"] == "x" * 10
    assert part["arguments"]["truncated"]["length"] == 30


PNG = "data:image/png;base64," + "A" * 200
INPUT_ITEMS = [
    {"type": "custom_tool_call", "call_id": "call_2", "name": "code_exec", "input": "print(1)"},
    {"type": "custom_tool_call_output", "call_id": "call_2", "output": "1\n"},
    {"type": "computer_call", "id": "cu_1", "call_id": "call_3", "action": {"type": "screenshot"},
     "pending_safety_checks": [], "status": "completed"},
    {"type": "computer_call_output", "call_id": "call_3", "output": {"type": "computer_screenshot", "image_url": PNG}},
    {"type": "local_shell_call", "id": "ls_1", "call_id": "call_4", "status": "completed",
     "action": {"type": "exec", "command": ["ls"], "env": {}}},
    {"type": "local_shell_call_output", "id": "call_4", "output": '{"stdout": "a.py"}'},
    {"type": "shell_call", "call_id": "call_5", "action": {"commands": ["pwd"]}},
    {"type": "shell_call_output", "call_id": "call_5",
     "output": [{"stdout": "/tmp", "stderr": "", "outcome": {"type": "exit", "exit_code": 0}}]},
    {"type": "apply_patch_call", "call_id": "call_6", "status": "completed",
     "operation": {"type": "delete_file", "path": "a.py"}},
    {"type": "apply_patch_call_output", "call_id": "call_6", "status": "completed"},
]


@needs_responses
def test_calls_and_outputs_passed_back_are_tool_calls_and_responses(instrument, telemetry, client, fake):
    """What the app ran, passed back as input: each call an assistant ``tool_call``, each output a ``tool``
    ``tool_call_response`` naming the call it answers; an inline screenshot by its type and size only."""
    instrument(capture_content=True, redactor=None)
    client.responses.create(model="gpt-5", input=[{"role": "user", "content": "go"}, *INPUT_ITEMS])
    inputs = json.loads(telemetry.one_llm_span().attributes[sc.GEN_AI_INPUT_MESSAGES])

    def call(id_: str, name: str, arguments: Any) -> dict[str, Any]:
        return {"role": "assistant", "parts": [{"type": "tool_call", "id": id_, "name": name, "arguments": arguments}]}

    def response(id_: str, value: Any) -> dict[str, Any]:
        return {"role": "tool", "parts": [{"type": "tool_call_response", "id": id_, "response": value}]}

    assert inputs == [
        {"role": "user", "parts": [{"type": "text", "content": "go"}]},
        call("call_2", "code_exec", "print(1)"),
        response("call_2", "1\n"),
        call("call_3", "computer", {"type": "screenshot"}),
        response("call_3", {"type": "blob", "modality": "image", "mime_type": "image/png", "byte_size": len(PNG)}),
        call("call_4", "local_shell", {"type": "exec", "command": ["ls"], "env": {}}),
        response("call_4", '{"stdout": "a.py"}'),
        call("call_5", "shell", {"commands": ["pwd"]}),
        response("call_5", [{"stdout": "/tmp", "stderr": "", "outcome": {"type": "exit", "exit_code": 0}}]),
        call("call_6", "apply_patch", {"type": "delete_file", "path": "a.py"}),
        response("call_6", None),
    ]


# --- Chat Completions custom tools -----------------------------------------------------------------------------


def chat_body(message: dict[str, Any]) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-5-2025-08-07",
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}}


def test_chat_custom_tool_definition_call_and_history(instrument, telemetry, client, fake):
    """A Chat Completions custom tool: its definition (nested under ``custom``), its call in the reply and in the
    history passed back (``custom: {name, input}``, no ``function``), the input kept as text."""
    instrument(capture_content=True, redactor=None)
    custom_call = {"id": "call_9", "type": "custom", "custom": {"name": "code_exec", "input": "print(1)"}}
    fake.enqueue(RawReply.json(chat_body({"role": "assistant", "content": None, "tool_calls": [custom_call]})))
    client.chat.completions.create(
        model="gpt-5",
        messages=[{"role": "user", "content": "run it"},
                  {"role": "assistant", "content": None, "tool_calls": [
                      {"id": "call_8", "type": "custom", "custom": {"name": "code_exec", "input": "[1, 2]"}}]},
                  {"role": "tool", "tool_call_id": "call_8", "content": "done"}],
        tools=[{"type": "custom", "custom": {"name": "code_exec", "description": "runs code",
                                             "format": {"type": "text"}}},
               {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
    )
    attrs = telemetry.one_llm_span().attributes
    assert json.loads(attrs[sc.GEN_AI_TOOL_DEFINITIONS]) == [
        {"type": "custom", "name": "code_exec", "description": "runs code"},
        {"type": "function", "name": "lookup", "parameters": {"type": "object"}}]
    assert json.loads(attrs[sc.GEN_AI_OUTPUT_MESSAGES]) == [{"role": "assistant", "finish_reason": "tool_calls",
                                                            "parts": [{"type": "tool_call", "id": "call_9",
                                                                       "name": "code_exec", "arguments": "print(1)"}]}]
    assert json.loads(attrs[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "run it"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_8", "name": "code_exec",
                                         "arguments": "[1, 2]"}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_8", "response": "done"}]}]


def test_tool_definitions_read_the_tool_nested_under_its_type():
    tools = [{"type": "custom", "custom": {"name": "grammar", "description": "d"}},
             {"type": "custom", "name": "flat", "description": "Responses form"},
             {"type": "function", "function": {"name": "f", "parameters": {}}},
             {"type": "function", "name": "g", "parameters": {"type": "object"}},
             {"type": "web_search"},
             {"type": ["not", "a", "name"]}]
    assert extract.tool_definitions(tools) == [
        {"type": "custom", "name": "grammar", "description": "d"},
        {"type": "custom", "name": "flat", "description": "Responses form"},
        {"type": "function", "name": "f", "parameters": {}},
        {"type": "function", "name": "g", "parameters": {"type": "object"}},
        {"type": "web_search"},
        {"type": ["not", "a", "name"]}]


# --- fetched failed and cancelled responses --------------------------------------------------------------------


def errors_by_operation(telemetry: Any) -> Counter[tuple[str, Any]]:
    """How many calls the duration metric counted, by operation and error type."""
    counts: Counter[tuple[str, Any]] = Counter()
    for point in telemetry.metric_points(sc.METRIC_OPERATION_DURATION):
        counts[point.attributes[sc.GEN_AI_OPERATION_NAME], point.attributes.get(sc.ERROR_TYPE)] += point.count
    return counts


@needs_responses
def test_fetching_a_failed_response_is_no_error(instrument, telemetry, client, fake):
    """The create call recorded the failure; fetching the failed response succeeds (its finish reason still
    says it failed)."""
    instrument()
    fake.enqueue(ResponsesReply(status="failed", error_code="server_error", error_message="boom", usage=None))
    created = client.responses.create(model="gpt-4o-mini", input="hi")
    client.responses.retrieve(created.id)
    client.responses.retrieve(created.id)
    made, *fetches = telemetry.llm_spans()
    assert (made.status.status_code, made.attributes[sc.ERROR_TYPE]) == (StatusCode.ERROR, "server_error")
    for fetched in fetches:
        assert fetched.status.status_code is StatusCode.UNSET
        assert fetched.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)
        assert not [key for key in fetched.attributes if key == sc.ERROR_TYPE or key.startswith("llmtel.error.")]
    assert errors_by_operation(telemetry) == {("chat", "server_error"): 1, ("fetch_response", None): 2}


@needs_responses
def test_a_failed_background_response_is_an_error_on_its_first_fetch_only(instrument, telemetry, client, fake):
    """A background call returns at once (queued): the first fetch of its result is where a failure shows, as its
    usage is counted there; fetching it again reports neither."""
    instrument()
    fake.enqueue(ResponsesReply(status="failed", error_code="server_error", error_message="boom", usage=None))
    queued = client.responses.create(model="gpt-4o-mini", input="research", background=True)
    assert queued.status == "queued"
    client.responses.retrieve(queued.id)
    client.responses.retrieve(queued.id)
    made, first, again = telemetry.llm_spans()
    assert made.status.status_code is StatusCode.UNSET and sc.ERROR_TYPE not in made.attributes
    assert (first.status.status_code, first.status.description) == (StatusCode.ERROR, "boom")
    assert (first.attributes[sc.ERROR_TYPE], first.attributes[sc.LLMTEL_ERROR_MODE]) == ("server_error",
                                                                                         "server_error")
    assert again.status.status_code is StatusCode.UNSET and sc.ERROR_TYPE not in again.attributes
    assert first.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == again.attributes[
        sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)
    assert errors_by_operation(telemetry) == {("chat", None): 1, ("fetch_response", "server_error"): 1,
                                              ("fetch_response", None): 1}


@needs_responses
def test_a_streamed_failed_background_response_is_an_error_on_its_stream_only(instrument, telemetry, client,
                                                                               fake):
    instrument()
    fake.enqueue(ResponsesReply(status="failed", error_code="server_error", error_message="boom", usage=None))
    events = list(client.responses.create(model="gpt-4o-mini", input="research", background=True, stream=True))
    assert events[-1].type == "response.failed"
    client.responses.retrieve(events[-1].response.id)
    streamed, fetched = telemetry.llm_spans()
    assert streamed.attributes[sc.ERROR_TYPE] == "server_error"
    assert fetched.status.status_code is StatusCode.UNSET and sc.ERROR_TYPE not in fetched.attributes


@needs_responses
@pytest.mark.parametrize("fetched", [False, True], ids=["create", "retrieve"])
def test_a_cancelled_response_finishes_with_error_but_is_no_error(instrument, telemetry, client, fake, fetched):
    instrument()
    fake.enqueue(RawReply.json(response_body(status="cancelled", background=True, usage=None, id="resp_cx")))
    if fetched:
        client.responses.retrieve("resp_cx")
    else:
        client.responses.create(model="gpt-5", input="go")
    span = telemetry.one_llm_span()
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)
    assert span.status.status_code is StatusCode.UNSET
    assert not [key for key in span.attributes if key == sc.ERROR_TYPE or key.startswith("llmtel.error.")]
