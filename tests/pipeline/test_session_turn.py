"""Session turns: ``llmtel.run(..., session_id=..., turn=n)`` numbers the run within its conversation."""

from __future__ import annotations

import pytest

import llmtel


def test_turn_goes_on_every_span_of_the_run(tel):
    for turn in (1, 2):
        with llmtel.run("chat", session_id="s-1", turn=turn):
            with tel.tracer.start_as_current_span(f"llm {turn}"):
                pass
    with llmtel.run("chat", session_id="s-1"):
        with tel.tracer.start_as_current_span("llm unnumbered"):
            pass
    spans = tel.span_list()
    turns = [(s.name, s.attributes.get("llmtel.session.turn")) for s in spans]
    assert turns == [("llm 1", 1), ("chat", 1), ("llm 2", 2), ("chat", 2), ("llm unnumbered", None), ("chat", None)]
    assert all(s.attributes["session.id"] == "s-1" for s in spans)


def test_decorated_run_keeps_its_turn(tel):
    @llmtel.run("chat", session_id="s-2", turn=5)
    def answer():
        with tel.tracer.start_as_current_span("llm"):
            pass

    answer()
    assert tel.spans()["llm"].attributes["llmtel.session.turn"] == 5


@pytest.mark.parametrize("turn", [0, -1, 1.5, "2", True])
def test_bad_turn_is_a_value_error(turn):
    with pytest.raises(ValueError, match="turn:"):
        llmtel.run("chat", session_id="s", turn=turn)
