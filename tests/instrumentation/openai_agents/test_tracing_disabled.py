"""A run with its own tracing off (``RunConfig(tracing_disabled=True)``): traced as with the SDK's tracing off
everywhere, without the stand-in custom span the SDK opens to mask the caller's span."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import agents

import llmtel
from llmtel import semconv as sc

from .conftest import MODEL, tree
from .test_runs import ANSWERS

CHAT = f"chat {MODEL}"
OFF = agents.RunConfig(tracing_disabled=True)


def test_with_the_runs_tracing_off_the_agent_is_the_root_and_no_step_starts(pipelines, fake, make_agent, caplog):
    fake.enqueue(ANSWERS, times=2)

    async def both() -> list[Any]:  # one event loop: the client's connections belong to it
        await agents.Runner.run(make_agent(), "where is order 7?", run_config=OFF)
        plain = tree(pipelines.spans())
        pipelines.span_exporter.clear()
        result = agents.Runner.run_streamed(make_agent(), "where is order 7?", run_config=OFF)  # masked twice
        _ = [event async for event in result.stream_events()]
        return [plain, tree(pipelines.spans())]

    with caplog.at_level(logging.DEBUG, logger="llmtel.pipeline"):
        plain, streamed = asyncio.run(both())
    assert plain == streamed == [("invoke_agent helpdesk", None), (CHAT, "invoke_agent helpdesk")]
    assert not [record for record in caplog.records if record.getMessage().startswith("step ")]


def test_inside_the_apps_step_the_agent_nests_under_it_and_keeps_its_name(pipelines, fake, make_agent):
    fake.enqueue(ANSWERS)

    async def ticket() -> None:
        with llmtel.run("ticket"), llmtel.step("answer"):
            await agents.Runner.run(make_agent(), "where is order 7?", run_config=OFF)

    asyncio.run(ticket())
    assert tree(pipelines.spans()) == [("ticket", None), ("step answer", "ticket"),
                                       ("invoke_agent helpdesk", "step answer"), (CHAT, "invoke_agent helpdesk")]
    for name in ("invoke_agent helpdesk", CHAT):
        assert pipelines.span_named(name).attributes[sc.LLMTEL_STEP] == "answer", name


def test_the_apps_own_custom_span_stays_a_step_even_named_as_the_sdks_mask(pipelines):
    agents.set_tracing_disabled(True)  # its custom spans are no-op spans too, as the mask is
    try:
        with agents.trace("Nightly review"), agents.custom_span("Agent run"):
            pass
    finally:
        agents.set_tracing_disabled(False)
    assert tree(pipelines.spans()) == [("step Agent run", None)]
