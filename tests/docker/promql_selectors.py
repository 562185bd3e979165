"""What a PromQL (or LogQL stream-selector) expression reads: series names, label matchers, grouping labels.

Not a parser of the whole language: a tokenizer that is enough to list the selectors and the labels of
``by``/``without``/``on``/``ignoring``/``group_*`` clauses in the expressions this stack ships.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKENS = re.compile(
    r"""
    (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
    |(?P<braces>\{[^{}]*\})
    |(?P<brackets>\[[^\]]*\])
    |(?P<number>(?<![\w:$])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    |(?P<variable>\$\{?\w+\}?)
    |(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
    |(?P<paren>[(),])
    |(?P<operator>[-+*/^%<>=!~]+)
    |(?P<space>\s+)
    """,
    re.VERBOSE,
)
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:\\.|[^"\\])*"|`[^`]*`)\s*(?:,|$)')
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"} | _GROUPING


@dataclass(frozen=True)
class Matcher:
    """One ``label op "value"`` inside a selector's braces (value unquoted)."""

    label: str
    op: str
    value: str


@dataclass(frozen=True)
class Selector:
    """One series selector: ``name{matchers}`` (name is empty for a bare ``{...}``)."""

    name: str
    matchers: tuple[Matcher, ...]


@dataclass(frozen=True)
class Reads:
    """Everything an expression refers to."""

    selectors: tuple[Selector, ...]
    grouping_labels: frozenset[str]


def matchers(braces: str) -> tuple[Matcher, ...]:
    """The matchers of ``{a="x", b=~"y"}``; raises ValueError on anything else inside the braces."""
    body = braces.strip()[1:-1].strip()
    found, pos = [], 0
    while pos < len(body):
        m = _MATCHER.match(body, pos)
        if m is None:
            raise ValueError(f"cannot read label matchers {braces!r} at {body[pos:]!r}")
        raw = m.group(3)
        value = raw[1:-1] if raw.startswith("`") else raw[1:-1].encode().decode("unicode_escape")
        found.append(Matcher(m.group(1), m.group(2), value))
        pos = m.end()
    return tuple(found)


def reads(expr: str) -> Reads:
    """The selectors and grouping labels of a PromQL expression."""
    tokens = []
    pos = 0
    while pos < len(expr):
        m = _TOKENS.match(expr, pos)
        if m is None:
            raise ValueError(f"cannot tokenize {expr!r} at {expr[pos:]!r}")
        if m.lastgroup != "space":
            tokens.append((m.lastgroup, m.group()))
        pos = m.end()
    selectors: list[Selector] = []
    grouping: set[str] = set()
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else (None, None)
        if kind == "ident" and text in _GROUPING and following == ("paren", "("):
            i += 2
            while tokens[i] != ("paren", ")"):
                if tokens[i][0] == "ident":
                    grouping.add(tokens[i][1])
                i += 1
        elif kind == "ident" and text not in _KEYWORDS and following != ("paren", "(") and not (
            following[0] == "ident" and following[1] in {"by", "without"}  # `sum by (x) (...)`: an aggregation
        ):
            if following[0] == "braces":
                selectors.append(Selector(text, matchers(following[1])))
                i += 1
            else:
                selectors.append(Selector(text, ()))
        elif kind == "braces":
            selectors.append(Selector("", matchers(text)))
        i += 1
    return Reads(tuple(selectors), frozenset(grouping))
