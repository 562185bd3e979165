"""Values made fit for OTLP: text UTF-8 can encode, integers in 64 bits."""

from __future__ import annotations

import pytest

from llmtel.encodable import (
    INT64_MAX,
    INT64_MIN,
    encodable_attributes,
    encodable_text,
    encodable_value,
    repaired_attributes,
)


@pytest.mark.parametrize("text", ["plain", "", "héllo wörld", "日本語", "emoji 😀"])
def test_text_utf8_can_encode_is_returned_itself(text):
    assert encodable_text(text) is text


@pytest.mark.parametrize(("text", "repaired"), [
    ("half \ud83d", "half \ufffd"),  # the first half of an emoji's pair, alone
    ("\ude00 half", "\ufffd half"),
    ("joined \ud83d\ude00 again", "joined 😀 again"),  # two halves from two stream chunks, concatenated
    ("file-\udcff\udcfe.txt", "file-\ufffd\ufffd.txt"),  # a file name's undecodable bytes (surrogateescape)
    ("\ude00\ud83d", "\ufffd\ufffd"),  # halves in the wrong order are not a pair
])
def test_lone_surrogates_are_replaced_and_pairs_joined(text, repaired):
    assert encodable_text(text) == repaired
    encodable_text(text).encode("utf-8")


@pytest.mark.parametrize(("value", "expected"), [
    (10**30, "1000000000000000000000000000000"),
    (INT64_MAX + 1, str(INT64_MAX + 1)),
    (INT64_MIN - 1, str(INT64_MIN - 1)),
    ([1, 10**30], ["1", str(10**30)]),  # an array holds one type
    (("ok", "bad \udcff"), ["ok", "bad \ufffd"]),
])
def test_values_otlp_cannot_carry_are_made_text(value, expected):
    assert encodable_value(value) == expected


@pytest.mark.parametrize("value", [INT64_MAX, INT64_MIN, 0, True, 1.5, float("inf"), "x", [1, 2], ("a", "b"), None])
def test_values_otlp_carries_are_returned_themselves(value):
    assert encodable_value(value) is value


def test_attributes_are_the_same_dict_unless_something_needs_repair():
    attributes = {"a": "x", "b": 1, "c": [1.5], "d": ("é",), "e": False}
    assert encodable_attributes(attributes) is attributes
    assert repaired_attributes(attributes) is None
    assert encodable_attributes({"k\udcff": 1, "n": 2**64, "s": "ok"}) == {"k\ufffd": 1, "n": str(2**64), "s": "ok"}
