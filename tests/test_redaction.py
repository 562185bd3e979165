"""Personal data masking: what is masked and what is left alone, the quick pre-checks change nothing, and a user's
redactor runs after the secrets."""

from __future__ import annotations

import random

import pytest

from llmtel import redaction
from llmtel.redaction import REDACTOR_FAILED, default_redactor, mask_personal_data, with_secrets_masked


def every_pattern_everywhere(text: str) -> str:
    """Every pattern run unconditionally, in the same order: what the pre-checks must not change."""
    text = redaction._EMAIL.sub("[REDACTED:email]", text)
    text = redaction._IBAN.sub(redaction._iban, text)
    text = redaction._INTERNATIONAL_PHONE.sub(redaction._international_phone, text)
    text = redaction._CARD.sub(redaction._card_number, text)
    text = redaction._SSN.sub(redaction._ssn, text)
    text = redaction._FRENCH_PHONE.sub("[REDACTED:phone]", text)
    return redaction._PHONE.sub("[REDACTED:phone]", text)


IBANS = ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "FR14 2004 1010 0505 0001 3M02 606",
         "NL91ABNA0417164300", "BE68 5390 0754 7034", "NO9386011117947"]


def test_the_pre_checks_skip_only_texts_the_patterns_would_leave_alone():
    # Texts strung together from phone-, card-, address-, IBAN- and Social Security number-like runs and noise,
    # then a character or two changed at random: matches of each pattern, and near misses of each.
    rng = random.Random(20261124)

    def digits(low: int, high: int) -> str:
        return "".join(rng.choices("0123456789", k=rng.randint(low, high)))

    shapes = [
        lambda: rng.choice(["", "+", "+4", "("]) + digits(1, 4) + rng.choice([" ", "-", ".", ") ", ""]) + digits(2, 4)
        + rng.choice([" ", "-", ".", ""]) + digits(3, 4) + rng.choice([" ", "-", "."]) + digits(3, 5),
        lambda: rng.choice([" ", "-", ""]).join(digits(3, 5) for _ in range(4)),
        lambda: digits(0, 2) + rng.choice(["ann", "a.b", "x_y+z", "%"]) + "@" + rng.choice(["ex", "a-b", "1"])
        + rng.choice([".io", ".co.uk", ".x", ".", ""]),
        lambda: rng.choice([" ", ".", "a", "_", ":", "/", "\u0663", "(", ")", "A", "Z"]),
        lambda: "+" + rng.choice("0123456789") + digits(0, 2) + rng.choice([" ", "-", ".", " (0)", "", "("])
        + "".join(digits(1, 5) + rng.choice([" ", "-", ".", ") "]) for _ in range(rng.randint(0, 5))) + digits(1, 9),
        lambda: "0" + digits(1, 1) + (sep := rng.choice([" ", ".", "-", "\u00a0"])) + sep.join(
            digits(2, 2) for _ in range(rng.randint(3, 5))),
        lambda: " " + digits(3, 3) + "-" + digits(2, 2) + rng.choice(["-", "-", "-", " "]) + digits(3, 5) + " ",
        lambda: rng.choice(IBANS) if rng.random() < 0.5 else "".join(rng.choices("ABDEFGNRZ", k=2)) + digits(2, 2)
        + rng.choice([" ", ""]).join("".join(rng.choices("0123456789AWZ", k=4)) for _ in range(rng.randint(2, 6))),
    ]
    texts = []
    for _ in range(30_000):
        text = list("".join(rng.choice(shapes)() for _ in range(rng.randint(1, 4))))
        for _ in range(rng.randint(0, 2)):
            if text:
                text[rng.randrange(len(text))] = rng.choice("0123456789 -.()+@a_AZ")
        texts.append("".join(text))
    masked = [every_pattern_everywhere(text) for text in texts]
    for kind in ("phone", "card_number", "email", "iban", "ssn"):  # each pattern masks, not only the pre-checks
        assert sum(f"[REDACTED:{kind}]" in text for text in masked) > 500, kind
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


@pytest.mark.parametrize("number", [
    "+33 6 12 34 56 78", "+33 1 23 45 67 89", "+44 20 7946 0958", "+49 30 1234567", "+1 (415) 555-0132",
    "+91 98765 43210", "06 12 34 56 78", "06.12.34.56.78", "+33 (0)6 12 34 56 78", "+1-415-555-0132", "+14155550132",
    "+81 90-1234-5678", "+7 912 345-67-89",
])
def test_international_and_national_phone_numbers_are_masked_whole(number):
    assert mask_personal_data(f"call {number} today") == "call [REDACTED:phone] today"
    assert mask_personal_data(f"tel:{number}.") == "tel:[REDACTED:phone]."


@pytest.mark.parametrize("text", [
    "2026-11-25 02:27:13", "released 1.2.3", "127.0.0.1:4318", "took 0.412 s", "input 1234 output 567",
    "trace 4bf92f3577b34da6a3ce929d0e0e4736", "run 550e8400-e29b-41d4-a716-446655440000", "at 1732500000",
    "at 1732500000123", "| 12 34 56 |", "2026-11-25T02:27:13+01:00", "+48.8566140, +2.3522219", "+12345678",
    "1e+10 and 2e+12", "diff +12 -3", "00 01 02 03 04 05 06 07", "06 12 34 56 78 90", "06 12 34 56", "+1 2026-11-25",
])
def test_numbers_that_are_not_phone_numbers_are_left_alone(text):
    assert mask_personal_data(text) == text


@pytest.mark.parametrize(("text", "masked"), [
    ("+44 20 7946 0958 2026-11-25", "[REDACTED:phone] 2026-11-25"),
    ("+49 151 12345678 2026", "[REDACTED:phone] 2026"),
    ("+33 6 12 34 56 78 2026-11-25 02:27", "[REDACTED:phone] 2026-11-25 02:27"),
])
def test_a_phone_number_ends_before_a_number_or_date_written_after_it(text, masked):
    assert mask_personal_data(text) == masked


@pytest.mark.parametrize("iban", [*IBANS, "GB82 WEST 1234 5698 7654 32"])
def test_ibans_are_masked(iban):
    assert mask_personal_data(f"pay to {iban}, thanks") == "pay to [REDACTED:iban], thanks"
    assert default_redactor(f"IBAN: {iban}.") == "IBAN: [REDACTED:iban]."


def test_an_iban_ends_at_its_countrys_length():
    assert mask_personal_data("BE68 5390 0754 7034 EUR") == "[REDACTED:iban] EUR"
    assert mask_personal_data("BE68 5390 0754 7034 AB12") == "[REDACTED:iban] AB12"


@pytest.mark.parametrize("text", [
    "DE88370400440532013000",  # DE89…: one check digit wrong
    "GB82WEST12345698765433",  # the last digit wrong
    "AB12CDEF34567890ABCD",  # no such country
    "DE89370400440532013000X",  # inside a longer id
    "de89370400440532013000",  # IBANs are written in capitals
    "DE8937040044053201300",  # a digit short of Germany's 22 characters
    "SKU XK12 ABCD EFGH 1234",
])
def test_runs_of_capitals_and_digits_that_are_not_ibans_are_left_alone(text):
    assert mask_personal_data(text) == text


def test_an_iban_with_a_wrong_check_digit_is_not_masked_as_one():
    assert "[REDACTED:iban]" not in mask_personal_data("DE88 3704 0044 0532 0130 00")


@pytest.mark.parametrize(("text", "masked"), [
    ("123-45-6789", "[REDACTED:ssn]"),
    ("SSN 123-45-6789.", "SSN [REDACTED:ssn]."),
    ("ssn:123-45-6789", "ssn:[REDACTED:ssn]"),
    ('{"ssn": "078-05-1120"}', '{"ssn": "[REDACTED:ssn]"}'),
])
def test_social_security_numbers_are_masked(text, masked):
    assert mask_personal_data(text) == masked


@pytest.mark.parametrize("text", [
    "000-12-3456", "666-12-3456", "900-12-3456", "999-12-3456", "123-00-4567", "123-45-0000",  # never issued
    "2026-11-2025", "abc123-45-6789x", "123-45-6789-01", "v1.123-45-6789", "id 123-45-67890", "ref 1123-45-6789",
])
def test_numbers_shaped_like_social_security_numbers_but_not_one_are_left_alone(text):
    assert mask_personal_data(text) == text


@pytest.mark.parametrize("result", [None, b"Alice sent password=[REDACTED]", 42, ["Alice"]])
def test_a_users_redactor_that_returns_something_else_than_text_hides_the_text(result):
    assert with_secrets_masked(lambda text: result)("Alice sent password=hunter2") == REDACTOR_FAILED


def test_a_users_redactor_may_return_a_str_subclass():
    class Masked(str):
        pass

    assert with_secrets_masked(lambda text: Masked("[name]"))("Alice") == "[name]"


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
