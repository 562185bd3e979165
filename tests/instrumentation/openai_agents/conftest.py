"""Fixtures: real agents of the OpenAI Agents SDK on the real openai client against the fake OpenAI server,
traced into in-memory SDK pipelines."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest

# Without the SDK (llmtel[agents]; the openai 1.x and 2.x matrix has none) this directory's tests are not collected.
if importlib.util.find_spec("agents") is None:
    collect_ignore_glob = ["test_*.py"]
else:
    import agents
    from agents.models.openai_responses import OpenAIResponsesModel

    from llmtel.instrumentation.openai_agents import OpenAIAgentsInstrumentor
    from tests.instrumentation.openai import conftest as shared

    # the OpenAI tests' fixtures: the fake server, the async client, the in-memory pipelines
    aclient = shared.aclient
    fake = shared.fake
    instrument = shared.instrument
    pipelines = shared.pipelines
    telemetry = shared.telemetry

MODEL = "gpt-4o-mini"


@pytest.fixture(autouse=True)
def agents_instrumented() -> Iterator[OpenAIAgentsInstrumentor]:
    """The Agents SDK instrumented (its own trace export off: it would post to OpenAI), undone after the test."""
    agents.set_trace_processors([])
    instrumentor = OpenAIAgentsInstrumentor()
    instrumentor.instrument()
    yield instrumentor
    instrumentor.uninstrument()


@pytest.fixture
def captured(instrument: Any) -> None:
    """The OpenAI instrumentation again, with content capture on, on spans."""
    instrument().uninstrument()
    instrument(capture_content="SPAN_ONLY")


@pytest.fixture
def make_agent(aclient: Any) -> Any:
    """``make_agent(name, **options)``: an agent whose model is the instrumented async client (never the SDK's
    default client, which would also switch the SDK's own export on with the key)."""

    def build(name: str = "helpdesk", **options: Any) -> agents.Agent[Any]:
        options.setdefault("instructions", "Be brief.")
        return agents.Agent(name=name, model=OpenAIResponsesModel(model=MODEL, openai_client=aclient), **options)

    return build


def tree(spans: Any) -> list[tuple[str, str | None]]:
    """Each span's name and its parent's name (None for a root), in the order they started, HTTP spans left out:
    the shape of a trace, for one assert."""
    by_id = {span.context.span_id: span for span in spans}
    return [(span.name, by_id[span.parent.span_id].name if span.parent and span.parent.span_id in by_id else None)
            for span in sorted(spans, key=lambda span: span.start_time) if not span.name.startswith(("POST", "GET"))]
