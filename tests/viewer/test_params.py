"""Query parameter parsing: Go-style durations, Jaeger tags, trace ids, counts, loopback detection."""

from __future__ import annotations

import pytest

from llmtel.viewer import is_loopback
from llmtel.viewer._params import (
    MAX_TAGS,
    parse_count,
    parse_duration_us,
    parse_tags,
    parse_trace_id,
    parse_trace_query,
)


@pytest.mark.parametrize(
    ("text", "us"),
    [("100ms", 100_000), ("1.5s", 1_500_000), ("250us", 250), ("250µs", 250), ("1500ns", 2), ("1h30m", 5_400_000_000),
     ("7d", 604_800_000_000), (".5s", 500_000), ("0s", 0)],
)
def test_durations(text, us):
    assert parse_duration_us(text, "minDuration") == us


@pytest.mark.parametrize("text", ["", "10", "ms", "1.5", "1x", "-1s", "1s x", "1 s", "s1"])
def test_bad_durations_name_the_parameter(text):
    with pytest.raises(ValueError, match="^minDuration: "):
        parse_duration_us(text, "minDuration")


def test_tags_from_json_and_pairs():
    assert parse_tags(['{"gen_ai.request.model":"gpt-4o","n":3,"ok":true}'], ["a:b:c"]) == {
        "gen_ai.request.model": "gpt-4o", "n": "3", "ok": "true", "a": "b:c"
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [("start", "9" * 25), ("end", str(2**63)), ("limit", "9" * 30), ("lookback", "9" * 25 + "d"),
     ("lookback", "1" * 400 + "s"), ("minDuration", "1" * 400 + "s"), ("maxDuration", "9" * 25 + "h")],
)
def test_numbers_beyond_sqlite_integers_are_errors_naming_the_parameter(name, value):
    """Such values overflowed SQLite's integers (or ``round`` an infinite float) in the query: a 500."""
    with pytest.raises(ValueError, match=f"^{name}: "):
        parse_trace_query({"service": ["s"], name: [value]}, now_us=10**15, jaeger=True)


def test_tags_nested_too_deep_or_too_many_are_errors():
    with pytest.raises(ValueError, match="^tags: .* is not a JSON object"):
        parse_tags(["[" * 3000 + "]" * 3000], [])  # a RecursionError in json.loads
    with pytest.raises(ValueError, match=f"^tags: {MAX_TAGS + 1} tag filters; at most {MAX_TAGS}"):
        parse_tags(['{"k0": "v"}'], [f"k{n}:v" for n in range(1, MAX_TAGS + 1)])
    assert len(parse_tags([], [f"k{n}:v" for n in range(MAX_TAGS)])) == MAX_TAGS


def test_trace_ids_are_normalised():
    assert parse_trace_id("ABCDEF") == "0" * 26 + "abcdef"
    with pytest.raises(ValueError, match="traceID"):
        parse_trace_id("0" * 33)


def test_counts():
    assert (parse_count("1M", "--max-spans"), parse_count("250k", "--max-spans"), parse_count("7", "n")) == (
        1_000_000, 250_000, 7)
    with pytest.raises(ValueError, match="--max-spans"):
        parse_count("0", "--max-spans")


def test_lookback_counts_back_from_end_or_now():
    query = parse_trace_query({"service": ["s"], "lookback": ["1h"]}, now_us=10_000_000_000, jaeger=True)
    assert (query.start_us, query.end_us, query.limit) == (10_000_000_000 - 3_600_000_000, None, 100)
    query = parse_trace_query({"service": ["s"], "lookback": ["1s"], "end": ["5000000"]}, now_us=0, jaeger=True)
    assert query.start_us == 4_000_000
    # Jaeger's UI sends lookback=custom with explicit start/end
    query = parse_trace_query({"service": ["s"], "lookback": ["custom"], "start": ["1"], "end": ["2"]}, now_us=0,
                              jaeger=True)
    assert (query.start_us, query.end_us) == (1, 2)


def test_blank_parameters_are_ignored():
    query = parse_trace_query({"service": ["s"], "operation": [""], "minDuration": [""], "limit": [""]}, now_us=0,
                              jaeger=True)
    assert (query.operation, query.min_duration_us, query.limit) == (None, None, 100)


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True),
                                                ("localhost", True), ("0.0.0.0", False), ("::", False),
                                                ("192.168.1.5", False), ("example.com", False)])
def test_loopback_detection(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "1e400", "1e400k", "4.7e18", "5e15k"])
def test_counts_beyond_range_are_value_errors(text):
    # float() takes these; int() of infinity raises OverflowError, which argparse would not turn into a usage error
    with pytest.raises(ValueError, match="^--max-spans: "):
        parse_count(text, "--max-spans")


def test_positive_numbers():
    from llmtel.viewer._params import parse_positive_number

    assert parse_positive_number(" 2.5 ", "--timeout", maximum=10) == 2.5
    for text in ("nan", "inf", "1e400", "0", "-1", "11", "ten", ""):
        with pytest.raises(ValueError, match="^--timeout: "):
            parse_positive_number(text, "--timeout", maximum=10)


@pytest.mark.parametrize(
    ("text", "number"),
    [("2", 2), ("-3", -3), ("2.0", 2.0), ("1e-06", 1e-06), ("1.0E-6", 1e-06), (" 0.7 ", 0.7),
     (str(2**63), float(2**63)), ("1e400", None), ("1" * 400, None), ("NaN", None), ("Infinity", None),
     ("+1", None), ("01", None), (".5", None), ("1.", None), ("0x10", None), ("1_000", None), ("", None), ("abc", None)],
)
def test_tag_numbers_follow_json_number_syntax(text, number):
    from llmtel.viewer._store import tag_number

    got = tag_number(text)
    assert got == number and type(got) is type(number)
