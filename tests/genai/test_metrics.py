"""How a call's tokens are split by modality for the newest conventions' counters."""

from __future__ import annotations

import pytest

from llmtel import semconv as sc
from llmtel.genai.metrics import split_by_modality

AUDIO, IMAGE, UNKNOWN = sc.MODALITY_AUDIO, sc.MODALITY_IMAGE, sc.MODALITY_UNKNOWN


@pytest.mark.parametrize(("total", "audio", "image", "expected"), [
    (None, None, None, [(UNKNOWN, 0)]),  # no usage: one 0 of unknown modality
    (None, 5, None, [(UNKNOWN, 0)]),
    (100, None, None, [(UNKNOWN, 100)]),  # not broken down
    (100, 0, 0, [(UNKNOWN, 100)]),
    (0, None, None, [(UNKNOWN, 0)]),
    (100, 30, None, [(AUDIO, 30), (UNKNOWN, 70)]),
    (100, None, 40, [(IMAGE, 40), (UNKNOWN, 60)]),
    (100, 30, 40, [(AUDIO, 30), (IMAGE, 40), (UNKNOWN, 30)]),
    (100, 100, None, [(AUDIO, 100)]),  # all accounted for: no empty rest
    (100, 80, 40, [(UNKNOWN, 100)]),  # details larger than the total: only the total is trusted
])
def test_tokens_are_split_into_what_the_reply_reported_and_an_unknown_rest(total, audio, image, expected):
    parts = split_by_modality(total, audio, image)
    assert parts == expected
    assert sum(count for _, count in parts) == (total or 0)
