"""Personal data masked in telemetry text: e-mail addresses, IBANs, card numbers, US Social Security numbers and
phone numbers.

``default_redactor`` masks the secrets ``llmtel.credentials`` knows, then personal data. It is the default
redaction hook of captured content, and what shipped log records pass (``llmtel.logs.redaction``). Credentials
are masked whatever the settings; personal data only where the hook is on, which it is by default.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from llmtel.credentials import redact_secrets

Redactor = Callable[[str], str]
REDACTOR_FAILED = "[REDACTED:redactor_failed]"  # what a text becomes when a user's redactor raises on it


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card_number(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[REDACTED:card_number]" if 13 <= len(digits) <= 19 and _luhn_valid(digits) else match.group()


# The length of an IBAN in each country that issues them (the ISO 13616 registry): with the mod-97 check, what tells
# an account number from any other run of capitals and digits (a part number, an order reference).
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25,
    "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "SO": 23, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}


def _iban_valid(iban: str) -> bool:
    """ISO 13616: the country code and check digits moved to the end, letters read as 10 to 35, the number is 1
    modulo 97. Check digits 00, 01 and 99 are never issued."""
    if not 2 <= int(iban[2:4]) <= 98:
        return False
    return int("".join(str(int(char, 36)) for char in iban[4:] + iban[:4])) % 97 == 1


def _iban(match: re.Match[str]) -> str:
    text = match.group()
    length = _IBAN_LENGTHS.get(text[:2])
    if length is None:
        return text
    # The country's length, counted in letters and digits: a printed IBAN's last group may be followed by another
    # word of capitals ("BE68 5390 0754 7034 EUR"), which the pattern took too. It ends the IBAN only at a space.
    end, seen = 0, 0
    while end < len(text) and seen < length:
        seen += text[end] != " "
        end += 1
    if seen < length or (end < len(text) and text[end] != " "):
        return text
    return "[REDACTED:iban]" + text[end:] if _iban_valid(text[:end].replace(" ", "")) else text


def _ssn(match: re.Match[str]) -> str:
    area, group, serial = match.group().split("-")
    if area in ("000", "666") or area >= "900" or group == "00" or serial == "0000":
        return match.group()  # never issued: a code or a reference shaped like one
    return "[REDACTED:ssn]"


_DATE = re.compile(r"(?<![0-9])[0-9]{4}-[0-9]{2}-[0-9]{2}(?![0-9])")


def _international_phone(match: re.Match[str]) -> str:
    text, tail = match.group(), ""
    date = _DATE.search(match.string, match.start(), match.end() + 6)
    if date is not None:  # "+44 20 7946 0958 2026-11-25": the date is not the phone's; "+1 2026-11-25" no phone
        cut = date.start() - match.start() - 1  # at the separator before the date
        text, tail = text[:cut], text[cut:]
    digits = sum(char.isdigit() for char in text)
    while digits > 15:  # a number written after the phone's ("+49 151 12345678 2026"): not the phone's
        cut = max(text.rfind(" "), text.rfind("."), text.rfind("-"))
        if cut <= 0 or text.rfind(")") > cut:
            return match.group()
        digits -= len(text) - cut - 1
        text, tail = text[:cut], text[cut:] + tail
    if digits < 8:
        return match.group()
    if text.count(".") == 1 and not any(char in " -(" for char in text):
        return match.group()  # "+48.8566140": a signed decimal (a latitude), not a phone number
    return "[REDACTED:phone]" + tail


# Numbers inside decimals, versions and timestamps are left alone: phone numbers need separators or a leading
# "+", card numbers must pass the Luhn check. Like the secrets' patterns, these run in time linear in the text
# (an e-mail's local part starts where its run of characters starts).
_NOT_IN_NUMBER = r"(?<![\w.+])"
_NUMBER_END = r"(?![\w]|\.\d)"
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,8}\.[A-Za-z]{2,63}\b"
)
# An IBAN, compact or printed in groups of four: the country's two capitals, not inside a longer run of letters
# and digits, the first of them before the look-behind (a pattern that starts with a class of characters is tried
# only where one is). ``_iban`` checks the country's length and the check digits.
_IBAN = re.compile(
    r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z][0-9][0-9](?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![A-Za-z0-9])"
)
# The first digit, then the look-behind (the same test as ``_NOT_IN_NUMBER`` before it): the engine tries digits
# only, not every position of the text.
_CARD = re.compile(r"\d(?<![\w.+]\d)(?:[ \-]?\d){12,18}" + _NUMBER_END)
# 123-45-6789, not inside a longer number or id ("2026-11-2025", "abc123-45-6789x", "123-45-6789-01").
_SSN = re.compile(r"(?<![\w.\-])[0-9]{3}-[0-9]{2}-[0-9]{4}(?!\w|[.\-]\w)")
_PHONE = re.compile(
    r"(?:(?<![\w.])\+\d{1,3}[ .\-]?|" + _NOT_IN_NUMBER + r")\(?\d{2,4}\)?[ .\-]\d{3,4}[ .\-]\d{3,4}" + _NUMBER_END
)
# What every phone number the pattern above matches contains (two digits, three, three, with separators), found
# with a pattern that starts with a digit: the regular expression engine skips to digits and tries far fewer
# places than the phone pattern, whose alternation of look-behinds it must try everywhere. A log line without
# one (most: "0.412 s", "2026-11-24", "127.0.0.1:4318") costs the phone pattern nothing.
_PHONE_CORE = re.compile(r"\d\d\)?[ .\-]\d{3,4}[ .\-]\d{3}")
# A number in international format: "+", the country code, then groups the country writes its numbers in (+33 6 12
# 34 56 78, +44 20 7946 0958, +1 (415) 555-0132, +49 30 1234567, +91 98765 43210), or all its digits at once
# (+14155550132, 10 to 15 of them: "+12345678" is a signed number); at most five groups after the country code.
# It starts with the "+" (tried only where there is one); each group's digits run to the next separator, so there
# is one way to read a number and the time is linear. ``_international_phone`` counts the digits (8 to 15, as
# E.164) and leaves out a number or date written after the phone number.
_INTERNATIONAL_PHONE = re.compile(
    r"\+(?<![\w.+/]\+)[1-9](?:[0-9]{9,14}|[0-9]{0,2}"  # all the digits at once, or the country code, then
    r"(?:[ .\-]?\([0-9]{1,4}\)[ .\-]?[0-9]{1,8}|[ .\-][0-9]{1,8})"  # the first group, or an area code in brackets
    r"(?:[ .\-][0-9]{2,8}){0,4})" + _NUMBER_END
)
# A French number in the national format: 0, a digit, and four pairs, one separator throughout (06 12 34 56 78).
# A pair before or after it makes it part of a row of numbers ("00 01 02 03 04 05 06 07"), not a phone number.
_FRENCH_PHONE = re.compile(r"0(?<![\w.+]0)(?<![0-9][ .\-]0)[1-9]([ .\-])[0-9]{2}(?:\1[0-9]{2}){3}(?!\w|\.\d|\1\d)")
# A text's shape, for the pre-checks of IBANs, Social Security numbers and French phone numbers (whose patterns
# take ASCII digits only): capitals as "A", digits as "0", the separators " ", "." and "-" as "-", anything else
# (other characters as "?") as "_". A shape without "AA00" holds no IBAN, one without "000-00-0000" no Social
# Security number. Encoding and translating a line and three substring searches cost a third of what scanning it
# with the three patterns does, and most lines have none of them.
_SHAPE = bytes(
    ord("A") if 65 <= byte <= 90 else ord("0") if 48 <= byte <= 57 else ord("-") if byte in b" .-" else ord("_")
    for byte in range(256)
)


def mask_personal_data(text: str) -> str:
    """``text`` with e-mail addresses, IBANs (mod-97 valid), card numbers (Luhn-valid, 13 to 19 digits), US Social
    Security numbers and phone numbers masked."""
    if "@" in text:
        text = _EMAIL.sub("[REDACTED:email]", text)
    # Masking replaces a match with letters, which join no digits: the shape holds what the patterns below can find.
    shape = text.encode("ascii", "replace").translate(_SHAPE).decode("ascii")
    if "AA00" in shape:
        text = _IBAN.sub(_iban, text)
    if "+" in text:  # before card numbers: "+49 151 1234 5678" is a phone number even if it passes Luhn's check
        text = _INTERNATIONAL_PHONE.sub(_international_phone, text)
    text = _CARD.sub(_card_number, text)
    if "000-00-0000" in shape:
        text = _SSN.sub(_ssn, text)
    if "00-00-00-00-00" in shape:
        text = _FRENCH_PHONE.sub("[REDACTED:phone]", text)
    if _PHONE_CORE.search(text) is not None:
        text = _PHONE.sub("[REDACTED:phone]", text)
    return text


def default_redactor(text: str) -> str:
    """Mask API keys, tokens, URL passwords and credential query parameters, e-mail addresses, IBANs, card numbers
    (Luhn-valid), US Social Security numbers and phone numbers."""
    return mask_personal_data(redact_secrets(text))


def with_secrets_masked(redactor: Redactor) -> Redactor:
    """``redactor`` run after ``redact_secrets`` (credentials are masked whatever a user's hook does); a text
    it raises on, or for which it returns anything but a str, becomes a placeholder, never the unredacted text.
    The default redactor is returned as it is."""
    if redactor is default_redactor:
        return redactor

    def redact(text: str) -> str:
        try:
            redacted = redactor(redact_secrets(text))
        except Exception:  # noqa: BLE001 - never leak text because the hook failed
            return REDACTOR_FAILED
        # None, bytes or a number would reach the exporter (or break it) in place of the text: treated as a failure
        return redacted if isinstance(redacted, str) else REDACTOR_FAILED

    redact.__qualname__ = f"with_secrets_masked({getattr(redactor, '__qualname__', type(redactor).__name__)})"
    return redact


__all__ = ["REDACTOR_FAILED", "Redactor", "default_redactor", "mask_personal_data", "with_secrets_masked"]
