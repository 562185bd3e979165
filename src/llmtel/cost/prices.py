"""The USD cost of one LLM call, from the ``genai-prices`` bundled data or user overrides, in a few µs.

Why a cache
    ``genai_prices.calc_price`` matches the model (ids, regexes, dated aliases), picks the price valid at
    the request time and decomposes the usage in ``Decimal`` — ~150-300 µs a call, more than our whole
    per-call budget. ``PriceBook`` runs it ONCE per ``(provider, model, service_tier)`` key (with an empty
    usage, just to obtain the resolved price), compiles the result into per-token float rates, and prices
    every call with plain arithmetic. The cache is bounded (oldest key evicted first) and thread-safe.

Token semantics (what the caller passes in ``TokenUsage``; matches genai-prices' usage hierarchy)
    ``input_tokens``       TOTAL input, cached tokens included (OpenAI ``prompt_tokens``)
    ``cache_read_tokens``  subset of input read from the prompt cache (OpenAI ``cached_tokens``)
    ``cache_write_tokens`` subset of input written to the cache (Anthropic-style; 0 for OpenAI)
    ``output_tokens``      TOTAL output, reasoning included (OpenAI ``completion_tokens``)
    ``reasoning_tokens``   subset of output (OpenAI ``completion_tokens_details.reasoning_tokens``)
    ``input_audio_tokens``, ``input_image_tokens``  subsets of input by modality (``prompt_tokens_details``)
    ``output_audio_tokens`` subset of output (``completion_tokens_details.audio_tokens``)

    cost = input × input rate + output × output rate + per-request fee
         + each subset × (its rate - its parent's rate)

    which is genai-prices' sum over disjoint parts (uncached text input at the input rate, cache reads at the
    cache-read rate, audio at the audio rate...). A subset the model has no separate price for is billed at
    its parent's rate (cache reads and audio input at the input rate, reasoning and audio output at the
    output rate — OpenAI bills reasoning as output), so nothing is billed twice. Tiered prices ("cliff"
    model, as in genai-prices): when total ``input_tokens`` exceeds a tier's start, that tier's rate applies
    to ALL tokens of that kind, input and output alike. Video tokens, and the audio or image share of cached
    tokens (which OpenAI does not report), are not modelled. Hosted web and file searches (and image
    generations, when an override prices them) are added at the model's per-call rates (``tool_calls``); a
    counted tool call without a price, such as a code interpreter call (billed per container session), makes
    the cost partial.

Statuses (``Cost.status``) — a cost is never a silent 0
    ``priced``         ``usd`` is set (0.0 only if the data says the model is free)
    ``partially_priced`` the tokens are priced, some hosted tool calls have no known price: ``usd`` counts the
                       rest (a lower bound)
    ``unknown_model``  no token price for this model: not in the data nor the overrides, no model given,
                       genai-prices not installed, or the model is priced in other units only (per
                       character, per audio hour). ``usd`` is None.
    ``no_usage``       the model is known but the call reported no token counts (input and output None)
    ``invalid_usage``  inconsistent counts: negative, cache reads + writes > input, audio + image input >
                       input, reasoning + audio output > output; or the reply reported a count that is not
                       one (``usage_invalid``: see the OpenAI instrumentation's ``llmtel.usage.source=invalid``)

Providers
    ``provider`` is OpenTelemetry's ``gen_ai.provider.name``. Well-known values map to genai-prices ids
    (``azure.ai.openai`` → ``azure``, whose table falls back to OpenAI's list prices for models it lacks;
    ``gcp.gemini`` → ``google``; ``x_ai`` → ``x-ai``; ...). Any other value is tried as a genai-prices
    provider id. When the provider is unknown or lacks the model, the model is matched alone (an OpenAI
    client pointed at DeepSeek reports ``openai`` + ``deepseek-chat``); ``Cost.provider`` then tells which
    price list was used.

Service tiers
    ``service_tier`` (as the response reports it: ``default``, ``flex``, ``priority``...) is passed to
    genai-prices as price context ``{"service_tier": ...}``; an unlisted tier gets standard prices, as do
    models priced through a fallback provider (Azure → OpenAI). Batch pricing is not supported yet.

Price validity in time
    An entry holds the price valid when it was resolved and expires at the next UTC midnight (dated
    price changes, and a price refresh the application may run via genai-prices' ``UpdatePrices``), or
    earlier at the next boundary of a time-of-day price (DeepSeek's off-peak hours). A long-running
    process therefore re-resolves each model at least once a day. Costs use the time of pricing, not the
    request's start.

Overrides (USD per million tokens)
    ``PriceBook(overrides={...})`` and/or env ``LLMTEL_PRICES=/path/prices.json``; both use the same format::

        {
          "my-finetune":            {"input": 0.3, "output": 1.2, "cache_read": 0.15},
          "azure.ai.openai/gpt-4o": {"input": 2.5, "output": 10, "cache_read": 1.25, "cache_write": 0}
        }

    Key ``"<model>"`` or ``"<provider>/<model>"`` (provider as in ``gen_ai.provider.name``), matched
    case-insensitively; a call tries ``provider/model`` first, then ``model``. Fields: ``input`` and
    ``output`` required; ``cache_read``, ``cache_write``, ``input_audio`` and ``input_image`` default to
    ``input``, ``output_audio`` to ``output``. Reasoning is billed as output. Values are finite non-negative numbers. Overrides win over the data; keyword overrides win
    over the file for the same key. Bad data raises ``ValueError`` naming the setting, model and field.
    An overridden call reports ``prices="override"`` and ``model=<the override key>``.

Price source (``Cost.prices`` / ``PriceBook.version``)
    ``"genai-prices 0.2.3"`` — the installed package version, which pins its bundled data (the package
    exposes no separate data date). If the application enabled genai-prices' auto-update, results say
    ``"genai-prices 0.2.3 (updated 2026-11-22T10:31Z)"`` with the fetch time. Overrides say ``"override"``.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from datetime import time as dtime
from typing import Any, Final, Literal, NamedTuple

from llmtel import semconv as sc

__all__ = ["PRICES_ENV", "Cost", "CostStatus", "PriceBook", "TokenUsage"]

_logger = logging.getLogger("llmtel.cost")

PRICES_ENV: Final = "LLMTEL_PRICES"
# ``partially_priced``: the tokens are priced, and some hosted tool calls (a web search…) have no known price:
# ``usd`` counts the rest, a lower bound.
CostStatus = Literal["priced", "partially_priced", "unknown_model", "no_usage", "invalid_usage"]

OVERRIDE_SOURCE: Final = "override"
_TOKEN_OVERRIDE_FIELDS: Final = (
    "input", "output", "cache_read", "cache_write", "input_audio", "output_audio", "input_image",
)
# USD per 1,000 calls. Not code interpreter: its containers are billed per session and minute, not per call.
_TOOL_OVERRIDE_FIELDS: Final = (sc.HOSTED_TOOL_WEB_SEARCH, sc.HOSTED_TOOL_FILE_SEARCH, sc.HOSTED_TOOL_IMAGE_GENERATION)
_OVERRIDE_FIELDS: Final = (*_TOKEN_OVERRIDE_FIELDS, *_TOOL_OVERRIDE_FIELDS)
_REQUIRED_FIELDS: Final = ("input", "output")

# gen_ai.provider.name (OpenTelemetry) -> genai-prices provider id; None: genai-prices has no such provider.
PROVIDER_IDS: Final[Mapping[str, str | None]] = {
    "openai": "openai",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "anthropic": "anthropic",
    "aws.bedrock": "aws",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "mistral_ai": "mistral",
    "groq": "groq",
    "deepseek": "deepseek",
    "x_ai": "x-ai",
    "cohere": "cohere",
    "perplexity": "perplexity",
    "ibm.watsonx.ai": None,
}
_VERTEX_PUBLISHER: Final = "google/"  # Vertex AI's OpenAI-compatible API: ``google/gemini-2.5-flash``

# genai-prices price keys (see genai_prices/data_units.py) and their units.
_TOKEN_PRICE_KEYS: Final = (
    "input_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "output_mtok",
    "output_reasoning_mtok",
    "input_audio_mtok",
    "output_audio_mtok",
    "input_image_mtok",
)
# Each subset's parent, by index in ``_TOKEN_PRICE_KEYS``: a subset without a price of its own costs its parent's.
_PARENTS: Final = ((1, 0), (2, 0), (4, 3), (5, 0), (6, 3), (7, 0))
_PER_TOKENS: Final = 1_000_000
_REQUEST_PRICE_KEY: Final = "requests_kcount"
_PER_REQUESTS: Final = 1_000
# Hosted tools billed per call: (kind, as ``GenAICall.hosted_tool_calls`` counts it; genai-prices key, per 1,000).
_TOOL_PRICE_KEYS: Final = (
    (sc.HOSTED_TOOL_WEB_SEARCH, "web_searches_kcount"), (sc.HOSTED_TOOL_FILE_SEARCH, "storage_searches_kcount"),
)
_PER_CALLS: Final = 1_000
_ERROR_RETRY_S: Final = 3600.0
_DEFAULT_CACHE_SIZE: Final = 1024


class TokenUsage(NamedTuple):
    """Token counts of one call; ``cache_*`` are subsets of input, ``reasoning_tokens`` of output.

    Immutable tuples (not frozen dataclasses) because one is built on every priced call."""

    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    input_audio_tokens: int = 0
    output_audio_tokens: int = 0
    input_image_tokens: int = 0


class Cost(NamedTuple):
    """The priced result of one call (an immutable tuple: cheap to build on the hot path)."""

    usd: float | None  # None unless status is "priced" or "partially_priced"
    status: CostStatus
    prices: str  # price source: "genai-prices 0.2.3", "override", ...
    model: str | None = None  # model id the price was resolved for (genai-prices' id, or the override key)
    provider: str | None = None  # genai-prices provider whose price list was used


# ``Cost(...)`` without its Python-level ``__new__`` (what the NamedTuple constructor does, minus a frame): the
# priced result is built on every call.
_priced: Callable[[tuple[Any, ...]], Cost] = functools.partial(tuple.__new__, Cost)

# USD per token of input and of output, and for each subset what it costs beyond its parent (cache read, cache
# write, reasoning, audio input, audio output, image input: see ``_TOKEN_PRICE_KEYS``), worked out once
_RateTuple = tuple[float, float, float, float, float, float, float, float]


class _Rates:
    """A resolved price, compiled to USD per token (plus a per-request fee, and per hosted tool call)."""

    __slots__ = ("base", "request", "tiers", "tools")

    def __init__(
        self, base: _RateTuple, request: float = 0.0, tiers: tuple[tuple[int, _RateTuple], ...] = (),
        tools: Mapping[str, float] | None = None,
    ) -> None:
        self.base = base
        self.request = request
        # ((start, rates), ...) highest start first: rates used when total input tokens > start
        self.tiers = tiers
        self.tools: Mapping[str, float] = tools or {}  # USD per call, by hosted tool kind (``_TOOL_PRICE_KEYS``)

    @classmethod
    def of_prices(
        cls, prices: list[float], request: float = 0.0, tiers: tuple[tuple[int, list[float]], ...] = (),
        tools: Mapping[str, float] | None = None,
    ) -> _Rates:
        """From per-token prices in ``_TOKEN_PRICE_KEYS`` order (every subset priced, by its parent if need be)."""
        return cls(_increments(prices), request, tuple((start, _increments(p)) for start, p in tiers), tools)

    def tool_fees(self, calls: Mapping[str, int]) -> tuple[float, bool] | None:
        """USD for ``calls`` (hosted tool calls by kind), and whether every kind had a price; None when a count
        is not a non-negative integer."""
        usd, complete = 0.0, True
        for kind, count in calls.items():
            if type(count) is not int or count < 0:
                return None
            price = self.tools.get(kind)
            if price is None:
                complete = complete and count == 0
            else:
                usd += count * price
        return usd, complete

    def usd(
        self, inp: int, cache_read: int, cache_write: int, out: int, reasoning: int,
        in_audio: int = 0, out_audio: int = 0, in_image: int = 0,
    ) -> float | None:
        """Cost in USD, or None when the counts are inconsistent."""
        if min(inp - cache_read - cache_write, out - reasoning - out_audio, cache_read, cache_write, reasoning) < 0:
            return None
        rates = self.base
        if self.tiers:
            for start, tier_rates in self.tiers:
                if inp > start:
                    rates = tier_rates
                    break
        usd = inp * rates[0] + cache_read * rates[1] + cache_write * rates[2] + out * rates[3] + reasoning * rates[4]
        if in_audio or out_audio or in_image:  # most calls are text alone
            if min(inp - in_audio - in_image, in_audio, out_audio, in_image) < 0:
                return None
            usd += in_audio * rates[5] + out_audio * rates[6] + in_image * rates[7]
        return usd + self.request


def _increments(prices: list[float]) -> _RateTuple:
    """Per-token prices as ``_Rates`` holds them: each subset's price less its parent's."""
    rates = list(prices)
    for child, parent in _PARENTS:
        rates[child] = prices[child] - prices[parent]
    return (rates[0], rates[1], rates[2], rates[3], rates[4], rates[5], rates[6], rates[7])


class _Entry:
    """One cache entry: compiled rates (None: unknown) and the ready-made non-priced results."""

    __slots__ = ("expires", "invalid", "model", "no_usage", "priced", "prices", "provider", "rates", "unknown")

    def __init__(
        self, rates: _Rates | None, expires: float, prices: str, model: str | None, provider: str | None
    ) -> None:
        self.rates = rates
        self.expires = expires
        self.prices = prices
        self.model = model
        self.provider = provider
        self.unknown = Cost(None, "unknown_model", prices, model, provider)
        self.no_usage = Cost(None, "no_usage", prices, model, provider)
        self.invalid = Cost(None, "invalid_usage", prices, model, provider)
        self.priced = ("priced", prices, model, provider)  # a priced ``Cost`` is ``(usd, *priced)``


# --- genai-prices, imported lazily (loading its data takes ~0.4 s) -----------------------------------------

_gp_lock = threading.Lock()
_gp_loaded: list[Any] = []  # [module or None] once attempted


def _genai_prices() -> Any | None:
    if _gp_loaded:
        return _gp_loaded[0]
    with _gp_lock:
        if not _gp_loaded:
            module: Any | None
            try:
                import genai_prices

                module = genai_prices
            except ImportError:  # not installed (it needs Python >= 3.11): only overrides can price
                _logger.debug("llmtel: genai-prices not installed; only price overrides apply")
                module = None
            except Exception:  # noqa: BLE001 - broken install: costs become unknown_model
                _logger.warning("llmtel: genai-prices failed to load; only overrides apply", exc_info=True)
                module = None
            _gp_loaded.append(module)
    return _gp_loaded[0]


@functools.lru_cache(maxsize=None)
def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"genai-prices {version('genai-prices')}"
    except PackageNotFoundError:
        return "genai-prices not installed"
    except Exception:  # noqa: BLE001 - broken metadata must not break pricing
        return "genai-prices"


# --- overrides ----------------------------------------------------------------------------------------------


def _parse_overrides(raw: object, setting: str) -> dict[str, _Rates]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{setting}: expected a mapping of model -> prices, got {type(raw).__name__}")
    table: dict[str, _Rates] = {}
    for key, fields in raw.items():
        if not isinstance(key, str) or not key.strip() or key.strip().endswith("/"):
            raise ValueError(f"{setting}: invalid model key {key!r} (expected 'model' or 'provider/model')")
        norm = key.strip().lower()
        if norm in table:
            raise ValueError(f"{setting}: model {key!r} is listed twice (keys are case-insensitive)")
        if not isinstance(fields, Mapping):
            raise ValueError(
                f"{setting}: model {key!r}: expected an object of prices, got {type(fields).__name__}"
            )
        for name in fields:
            if name not in _OVERRIDE_FIELDS:
                expected = ", ".join(_OVERRIDE_FIELDS)
                raise ValueError(f"{setting}: model {key!r}: unknown field {name!r} (expected {expected})")
        for name in _REQUIRED_FIELDS:
            if name not in fields:
                raise ValueError(f"{setting}: model {key!r}: missing required field {name!r}")
        values: dict[str, float] = {}
        for name, value in fields.items():
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                unit = "USD per 1,000 calls" if name in _TOOL_OVERRIDE_FIELDS else "USD per million tokens"
                raise ValueError(
                    f"{setting}: model {key!r}: field {name!r}: expected a finite non-negative number "
                    f"({unit}), got {value!r}"
                )
            values[name] = float(value) / (_PER_CALLS if name in _TOOL_OVERRIDE_FIELDS else _PER_TOKENS)
        inp, out = values["input"], values["output"]
        tools = {kind: values[kind] for kind in _TOOL_OVERRIDE_FIELDS if kind in values}  # USD per call
        table[norm] = _Rates.of_prices([
            inp, values.get("cache_read", inp), values.get("cache_write", inp), out, out,
            values.get("input_audio", inp), values.get("output_audio", out), values.get("input_image", inp),
        ], tools=tools)
    return table


def _load_override_file(path: str) -> dict[str, _Rates]:
    setting = f"{PRICES_ENV}={path}"
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as f:
            raw = json.load(f)
    except OSError as exc:
        raise ValueError(f"{setting}: cannot read the file: {exc}") from exc
    except ValueError as exc:
        raise ValueError(f"{setting}: not valid JSON: {exc}") from exc
    return _parse_overrides(raw, setting)


# --- compiling genai-prices' resolved price ------------------------------------------------------------


def _compile(model_price: Any) -> _Rates | None:
    """Per-token rates of a genai-prices ``ModelPrice``; None if it has no token price but other units."""
    stored = {k: v for k, v in vars(model_price).items() if not k.startswith("_") and v is not None}
    raw = [stored.get(key) for key in _TOKEN_PRICE_KEYS]
    request = stored.get(_REQUEST_PRICE_KEY)
    tools = {kind: float(stored[key]) / _PER_CALLS for kind, key in _TOOL_PRICE_KEYS if stored.get(key) is not None}
    if all(v is None for v in raw) and set(stored) - {_REQUEST_PRICE_KEY}:
        return None  # e.g. priced per audio hour or per character only: tokens cannot price it
    # a subset without its own price is billed at its parent's: cache, audio, image -> input; reasoning -> output
    for i, parent in _PARENTS:
        if raw[i] is None:
            raw[i] = raw[parent]
    # per slot: base rate and ascending (start, rate) steps; TieredPrices keeps its tiers sorted by start
    bases: list[float] = []
    steps: list[list[tuple[int, float]]] = []
    for value in raw:
        if value is None:
            bases.append(0.0)
            steps.append([])
        elif hasattr(value, "tiers"):  # TieredPrices
            bases.append(float(value.base) / _PER_TOKENS)
            steps.append([(int(t.start), float(t.price) / _PER_TOKENS) for t in value.tiers])
        else:
            bases.append(float(value) / _PER_TOKENS)
            steps.append([])
    # one full set of rates per distinct threshold, so the hot path picks a tier with one comparison:
    # above threshold t, each slot uses its last step starting at or below t (genai-prices: the last
    # tier whose start the total input tokens exceed)
    tiers: list[tuple[int, list[float]]] = []
    for threshold in sorted({start for slot in steps for start, _ in slot}, reverse=True):
        rates = list(bases)
        for i, slot in enumerate(steps):
            for start, rate in slot:
                if start <= threshold:
                    rates[i] = rate
        tiers.append((threshold, rates))
    return _Rates.of_prices(
        bases, float(request) / _PER_REQUESTS if request is not None else 0.0, tuple(tiers), tools
    )


def _next_boundary(now: datetime, at: dtime) -> datetime:
    """The next instant after ``now`` (UTC) at time of day ``at`` (naive means UTC)."""
    tz = at.tzinfo or timezone.utc
    naive = at.replace(tzinfo=None)
    day = now.date()
    candidates = (
        datetime.combine(day + timedelta(days=d), naive, tzinfo=tz).astimezone(timezone.utc)
        for d in (-1, 0, 1, 2)
    )
    return min(c for c in candidates if c > now)


def _expiry(model_info: Any, now: datetime) -> float:
    """When a price resolved at ``now`` must be re-resolved: next UTC midnight or time-of-day boundary."""
    expires = datetime.combine(now.date() + timedelta(days=1), dtime(0), tzinfo=timezone.utc)
    if model_info is None:
        return expires.timestamp()
    prices = model_info.prices
    constraints = [c.constraint for c in prices] if isinstance(prices, list) else []
    constraints += [v.constraint for v in (model_info.price_variants or ())]
    for constraint in constraints:
        for at in (getattr(constraint, "start_time", None), getattr(constraint, "end_time", None)):
            if isinstance(at, dtime):
                expires = min(expires, _next_boundary(now, at))
    return expires.timestamp()


def _source_provider(gp: Any, calc: Any) -> str:
    """Id of the provider whose list holds the model (Azure may fall back to OpenAI's list)."""
    provider = calc.provider
    if any(m is calc.model for m in provider.models):
        return provider.id
    fallbacks = provider.fallback_model_providers or ()
    for other in gp.data_snapshot.get_snapshot().providers:
        if other.id in fallbacks and any(m is calc.model for m in other.models):
            return other.id
    return provider.id


class PriceBook:
    """Prices LLM calls: ``cost()`` is the hot path (a dict lookup and arithmetic after the first call).

    Thread-safe. Construct once (validates overrides eagerly: bad data raises ``ValueError``) and share.
    """

    def __init__(
        self,
        overrides: Mapping[str, Mapping[str, float]] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        cache_size: int = _DEFAULT_CACHE_SIZE,
    ) -> None:
        env = os.environ if environ is None else environ
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 1:
            raise ValueError(f"cache_size: expected a positive integer, got {cache_size!r}")
        table: dict[str, _Rates] = {}
        path = (env.get(PRICES_ENV) or "").strip()
        if path:
            table.update(_load_override_file(path))
        if overrides is not None:
            table.update(_parse_overrides(overrides, "overrides"))
        self._overrides = {
            key: _Entry(rates, math.inf, OVERRIDE_SOURCE, key, None) for key, rates in table.items()
        }
        self._cache: dict[tuple[Any, ...], _Entry] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._clock = time.time  # replaceable in tests
        self._warned = False
        self._version: str | None = None

    @property
    def version(self) -> str:
        """The price data in use, e.g. ``"genai-prices 0.2.3"`` (overridden models say ``"override"``)."""
        if self._version is None:
            self._version = _package_version()
        return self._version

    def preload(self) -> None:
        """Import genai-prices and load its data now (~0.4 s) rather than on the first priced call."""
        gp = _genai_prices()
        if gp is not None:
            try:
                gp.data_snapshot.get_snapshot()
            except Exception:  # noqa: BLE001
                _logger.debug("llmtel: loading genai-prices data failed", exc_info=True)

    def cost(
        self,
        provider: str | None,
        model: str | None,
        usage: TokenUsage | None,
        *,
        service_tier: str | None = None,
    ) -> Cost:
        """Cost of one call. ``model``: the model the API reported back. Never raises."""
        if usage is None:
            return self.cost_of_counts(provider, model, None, None, service_tier=service_tier)
        return self.cost_of_counts(provider, model, *usage, service_tier=service_tier)

    def cost_of_counts(
        self,
        provider: str | None,
        model: str | None,
        input_tokens: int | None,
        output_tokens: int | None,
        cache_read_tokens: int | None = 0,
        cache_write_tokens: int | None = 0,
        reasoning_tokens: int | None = 0,
        input_audio_tokens: int | None = 0,
        output_audio_tokens: int | None = 0,
        input_image_tokens: int | None = 0,
        *,
        service_tier: str | None = None,
        tool_calls: Mapping[str, int] | None = None,
        usage_invalid: bool = False,
    ) -> Cost:
        """``cost`` from the counts themselves (what emission calls once per call: no ``TokenUsage`` built).
        An unknown (None) count of any subset (cached, cache-write, reasoning, audio, image) counts as none.
        ``tool_calls``: hosted tool calls billed beyond the tokens, by kind (``web_search``, ``file_search``,
        ``code_interpreter``, ``image_generation``); a kind with no known price makes the cost
        ``partially_priced``. ``usage_invalid``: the reply reported counts that are not counts (passed as None):
        the cost is ``invalid_usage`` for a known model."""
        try:
            key = (provider, model, service_tier)
            entry = self._cache.get(key)
            if entry is None or entry.expires <= self._clock():
                entry = self._resolve(key)
            rates = entry.rates
            if rates is None:
                return entry.unknown
            if input_tokens is None and output_tokens is None:  # invalid counts come as None: no check per call
                return entry.invalid if usage_invalid else entry.no_usage
            try:
                usd = rates.usd(
                    input_tokens or 0,
                    cache_read_tokens or 0,
                    cache_write_tokens or 0,
                    output_tokens or 0,
                    reasoning_tokens or 0,
                    input_audio_tokens or 0,
                    output_audio_tokens or 0,
                    input_image_tokens or 0,
                )
            except Exception:  # noqa: BLE001 - e.g. non-numeric counts
                return entry.invalid
            if usd is None:
                return entry.invalid
            if tool_calls:  # a Responses call that searched: usually none
                fees = rates.tool_fees(tool_calls)
                if fees is None:
                    return entry.invalid
                usd += fees[0]
                if not fees[1]:
                    return _priced((usd, "partially_priced", *entry.priced[1:]))
            return _priced((usd, *entry.priced))
        except Exception:  # noqa: BLE001 - pricing must never break the application
            self._log_unexpected(provider, model)
            return Cost(None, "unknown_model", self.version)

    # --- resolution (once per key and day) ---------------------------------------------------------

    def _resolve(self, key: tuple[Any, ...]) -> _Entry:
        with self._lock:
            now = self._clock()
            entry = self._cache.get(key)
            if entry is not None and entry.expires > now:
                return entry  # another thread resolved it meanwhile
            try:
                entry = self._lookup(key[0], key[1], key[2], now)
            except Exception:  # noqa: BLE001 - a bug or bad data inside genai-prices
                self._log_unexpected(key[0], key[1])
                entry = _Entry(None, now + _ERROR_RETRY_S, self.version, None, None)
            if key not in self._cache and len(self._cache) >= self._cache_size:
                del self._cache[next(iter(self._cache))]  # oldest first
            self._cache[key] = entry
            return entry

    def _lookup(
        self, provider: str | None, model: str | None, service_tier: str | None, now: float
    ) -> _Entry:
        if not isinstance(model, str) or not model:
            return _Entry(None, math.inf, self.version, None, None)
        prov = provider.lower() if isinstance(provider, str) else ""
        lowered = model.lower()
        if self._overrides:
            entry = (prov and self._overrides.get(f"{prov}/{lowered}")) or self._overrides.get(lowered)
            if entry is not None:
                return entry
        if prov == sc.PROVIDER_GCP_VERTEX_AI and lowered.startswith(_VERTEX_PUBLISHER):
            model = model[len(_VERTEX_PUBLISHER):]  # Vertex AI's OpenAI-compatible API names Gemini by publisher
        gp = _genai_prices()
        if gp is None:
            return _Entry(None, math.inf, "genai-prices unavailable", None, None)

        when = datetime.fromtimestamp(now, timezone.utc)
        context = {"service_tier": service_tier} if service_tier else None
        candidates: list[str | None] = []
        if prov:
            candidates.append(PROVIDER_IDS.get(prov, prov))
        candidates.append(None)  # match by model alone
        calc = None
        for provider_id in dict.fromkeys(candidates):
            if provider_id is None and candidates[0] is not None:
                _logger.debug("llmtel: %r has no price for %r; matching the model alone", provider, model)
            try:
                calc = gp.calc_price(
                    gp.Usage(),
                    model,
                    provider_id=provider_id,
                    genai_request_timestamp=when,
                    price_context=context,
                )
                break
            except LookupError:
                continue
        if calc is None:
            _logger.debug("llmtel: no price for provider=%r model=%r", provider, model)
            return _Entry(None, _expiry(None, when), self.version, None, None)
        expires = _expiry(calc.model, when)
        prices = self.version
        if calc.auto_update_timestamp is not None:
            fetched = calc.auto_update_timestamp.astimezone(timezone.utc)
            prices = f"{prices} (updated {fetched:%Y-%m-%dT%H:%MZ})"
        return _Entry(_compile(calc.model_price), expires, prices, calc.model.id, _source_provider(gp, calc))

    def _log_unexpected(self, provider: object, model: object) -> None:
        if not self._warned:
            self._warned = True
            _logger.warning("llmtel: pricing provider=%r model=%r failed", provider, model, exc_info=True)
        else:
            _logger.debug("llmtel: pricing provider=%r model=%r failed", provider, model, exc_info=True)
