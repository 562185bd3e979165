"""Personal data masking: the quick pre-checks change nothing, and a user's redactor runs after the secrets."""

from __future__ import annotations

import random

import pytest

from llmtel import redaction
from llmtel.redaction import REDACTOR_FAILED, default_redactor, mask_personal_data, with_secrets_masked


def every_pattern_everywhere(text: str) -> str:
    """The three patterns run unconditionally, in the same order: what the pre-checks must not change."""
    text = redaction._EMAIL.sub("[REDACTED:email]", text)
    text = redaction._CARD.sub(redaction._card_number, text)
    return redaction._PHONE.sub("[REDACTED:phone]", text)


def test_the_pre_checks_skip_only_texts_the_patterns_would_leave_alone():
    # Texts strung together from phone-, card- and address-like runs and noise, then a character or two changed
    # at random: matches of each pattern, and near misses of each.
    rng = random.Random(20261124)

    def digits(low: int, high: int) -> str:
        return "".join(rng.choices("0123456789", k=rng.randint(low, high)))

    shapes = [
        lambda: rng.choice(["", "+", "+4", "("]) + digits(1, 4) + rng.choice([" ", "-", ".", ") ", ""]) + digits(2, 4)
        + rng.choice([" ", "-", ".", ""]) + digits(3, 4) + rng.choice([" ", "-", "."]) + digits(3, 5),
        lambda: rng.choice([" ", "-", ""]).join(digits(3, 5) for _ in range(4)),
        lambda: digits(0, 2) + rng.choice(["ann", "a.b", "x_y+z", "%"]) + "@" + rng.choice(["ex", "a-b", "1"])
        + rng.choice([".io", ".co.uk", ".x", ".", ""]),
        lambda: rng.choice([" ", ".", "a", "_", ":", "/", "\u0663", "(", ")"]),
    ]
    texts = []
    for _ in range(30_000):
        text = list("".join(rng.choice(shapes)() for _ in range(rng.randint(1, 4))))
        for _ in range(rng.randint(0, 2)):
            if text:
                text[rng.randrange(len(text))] = rng.choice("0123456789 -.()+@a_")
        texts.append("".join(text))
    masked = [every_pattern_everywhere(text) for text in texts]
    for kind in ("phone", "card_number", "email"):  # the sample exercises each pattern, not only the pre-checks
        assert sum(f"[REDACTED:{kind}]" in text for text in masked) > 1_000, kind
    assert [text for text in texts if mask_personal_data(text) != every_pattern_everywhere(text)] == []


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("call +44 20 7946 0958 now", "call [REDACTED:phone] now"),
        ("call (555) 123-4567", "call [REDACTED:phone]"),
        ("call 555.123.4567.", "call [REDACTED:phone]."),
        ("finished in 0.412 s on 2026-11-24 at 127.0.0.1:4318", "finished in 0.412 s on 2026-11-24 at 127.0.0.1:4318"),
        ("card 4111-1111-1111-1111 and mail a@b.io", "card [REDACTED:card_number] and mail [REDACTED:email]"),
    ],
)
def test_mask_personal_data(text, masked):
    assert mask_personal_data(text) == masked


def test_a_users_redactor_sees_text_with_the_secrets_masked_and_a_failure_hides_the_text():
    seen = []

    def mask_names(text):
        seen.append(text)
        return text.replace("Alice", "[name]")

    redact = with_secrets_masked(mask_names)
    assert redact("Alice sent password=hunter2") == "[name] sent password=[REDACTED]"
    assert seen == ["Alice sent password=[REDACTED]"]

    def broken(text):
        raise RuntimeError(text)

    assert with_secrets_masked(broken)("Alice sent password=hunter2") == REDACTOR_FAILED
    assert with_secrets_masked(default_redactor) is default_redactor  # masks the secrets itself
