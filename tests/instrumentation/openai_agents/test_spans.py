"""What an Agents SDK span's end says about its failure, and which kinds of span add nothing: pure functions
over stand-ins of the SDK's objects."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from llmtel.instrumentation.openai_agents.spans import (
    AgentsSpanError,
    begin_span,
    begin_trace,
    failure,
    metadata_attributes,
    note_tool_call_id,
    recorded_error,
)

TOOL_ERROR = {"message": "Error running tool", "data": {"tool_name": "lookup", "error": "no such order"}}


def test_the_exception_unwinding_through_the_span_is_its_failure() -> None:
    raised = KeyError("order")
    assert failure(SimpleNamespace(error=TOOL_ERROR), raised, None) is raised  # it wins over a recorded error


@pytest.mark.parametrize("in_flight", [GeneratorExit(), StopIteration(), StopAsyncIteration()])
def test_a_generators_close_or_end_is_not_a_failure(in_flight: BaseException) -> None:
    assert failure(SimpleNamespace(error=None), in_flight, None) is None


def test_an_exception_already_being_handled_when_the_span_started_is_not_its_failure() -> None:
    handled = ValueError("retrying")
    assert failure(SimpleNamespace(error=None), handled, handled) is None


def test_an_error_the_sdk_recorded_is_the_failure_with_its_message_and_detail() -> None:
    error = failure(SimpleNamespace(error=TOOL_ERROR), None, None)
    assert isinstance(error, AgentsSpanError) and str(error) == "Error running tool: no such order"
    kept = failure(SimpleNamespace(error=None), None, None, kept_error={"message": "Max turns exceeded"})
    assert str(kept) == "Max turns exceeded"  # a stand-in span's error, kept by the hook


def test_a_streamed_runs_kept_exception_is_the_failure_unless_another_is_in_flight() -> None:
    kept, raised = RuntimeError("kept for stream_events"), KeyError("order")
    recorded = SimpleNamespace(error={"message": "Max turns exceeded"})
    assert failure(recorded, None, None, stored=kept) is kept  # over the error the SDK recorded
    assert failure(recorded, raised, None, stored=kept) is raised


@pytest.mark.parametrize("error", [None, "text", {"message": ""}, {"data": None}])
def test_a_malformed_or_missing_error_record_is_read_as_far_as_it_goes(error: object) -> None:
    found = recorded_error(error)
    if isinstance(error, dict):
        assert str(found) == "error"
    else:
        assert found is None
    assert failure(SimpleNamespace(), None, None) is None  # no error attribute at all


@pytest.mark.parametrize("kind", ["task", "turn", "response", "generation", "mcp_tools", "speech", "unknown"])
def test_kinds_of_span_that_add_nothing_start_nothing(kind: str) -> None:
    assert begin_span(SimpleNamespace(span_data=SimpleNamespace(type=kind))) is None
    assert begin_span(SimpleNamespace()) is None  # not a span the SDK would make


def test_the_sdks_no_op_trace_starts_no_workflow() -> None:
    assert begin_trace(SimpleNamespace(trace_id="no-op", name="no-op", group_id=None)) is None


def _function_span(name: str = "lookup") -> SimpleNamespace:
    return SimpleNamespace(span_data=SimpleNamespace(type="function", name=name, mcp_data=None))


@pytest.mark.parametrize("call_id", [None, "", "  ", 7])
def test_a_missing_or_malformed_tool_call_id_leaves_the_tool_without_one(call_id: object) -> None:
    entry = begin_span(_function_span())
    note_tool_call_id(entry, call_id)
    assert entry.call_id is None


def test_a_tool_takes_the_first_call_id_only_and_other_spans_none() -> None:
    entry = begin_span(_function_span())
    note_tool_call_id(entry, "call_1")
    note_tool_call_id(entry, "call_2")  # a later tool context made inside the same span: not its call
    assert entry.call_id == "call_1"
    custom = begin_span(SimpleNamespace(span_data=SimpleNamespace(type="custom", name="step")))
    note_tool_call_id(custom, "call_3")
    assert not hasattr(custom, "call_id")


def test_a_traces_metadata_becomes_one_attribute_per_key_other_values_as_json() -> None:
    assert metadata_attributes({"customer": "user_456", "tier": 2, "beta": True, "score": 0.5, "tags": ["a", "b"],
                                "limits": {"b": 1, "a": None}, "missing": None, "": "no key", 7: "not a text key"}) == {
        "llmtel.openai_agents.metadata.customer": "user_456", "llmtel.openai_agents.metadata.tier": 2,
        "llmtel.openai_agents.metadata.beta": True, "llmtel.openai_agents.metadata.score": 0.5,
        "llmtel.openai_agents.metadata.tags": '["a", "b"]', "llmtel.openai_agents.metadata.limits": '{"a": null, "b": 1}'}


@pytest.mark.parametrize("metadata", [None, [], "text", {}])
def test_no_metadata_or_metadata_that_is_no_mapping_gives_no_attributes(metadata: object) -> None:
    assert metadata_attributes(metadata) == {}
