"""llmtel.cost: the fast path must equal genai-prices' own calculation, and never price silently."""

from __future__ import annotations

import json
import logging
import math
import threading
import timeit
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

genai_prices = pytest.importorskip("genai_prices")

from llmtel.cost import PRICES_ENV, PROVIDER_IDS, Cost, PriceBook, TokenUsage  # noqa: E402
from llmtel.cost import prices as prices_module  # noqa: E402

# --- the oracle ---------------------------------------------------------------------------------------------


def oracle(
    model: str,
    usage: TokenUsage,
    provider_id: str | None,
    *,
    when: datetime | None = None,
    service_tier: str | None = None,
) -> Decimal:
    """genai-prices' own total for our usage, mapped to its fields (subsets included in their totals)."""
    gp_usage = genai_prices.Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        output_reasoning_tokens=usage.reasoning_tokens,
        input_audio_tokens=usage.input_audio_tokens,
        output_audio_tokens=usage.output_audio_tokens,
        input_image_tokens=usage.input_image_tokens,
        # OpenAI does not say which modality its cached tokens are: llmtel prices them as cached text
        cache_audio_read_tokens=0,
        cache_image_read_tokens=0,
    )
    context = {"service_tier": service_tier} if service_tier else None
    calc = genai_prices.calc_price(
        gp_usage, model, provider_id=provider_id, genai_request_timestamp=when, price_context=context
    )
    return calc.total_price


def usd(cost: Cost) -> float:
    assert cost.usd is not None, cost
    return cost.usd


def assert_matches(cost: Cost, expected: Decimal) -> None:
    assert cost.status == "priced", cost
    assert cost.usd is not None
    assert math.isclose(cost.usd, float(expected), rel_tol=1e-12, abs_tol=1e-18), (cost.usd, expected)


USAGES = {
    "plain": TokenUsage(input_tokens=1_000, output_tokens=500),
    "cached": TokenUsage(input_tokens=12_000, output_tokens=300, cache_read_tokens=9_984),
    "all_cached": TokenUsage(input_tokens=4_096, output_tokens=10, cache_read_tokens=4_096),
    "reasoning": TokenUsage(
        input_tokens=1_200, output_tokens=5_000, cache_read_tokens=256, reasoning_tokens=4_000
    ),
    "cache_write": TokenUsage(
        input_tokens=50_000, output_tokens=1_000, cache_read_tokens=10_000, cache_write_tokens=20_000
    ),
    "embedding": TokenUsage(input_tokens=8_000, output_tokens=None),
    "zero": TokenUsage(input_tokens=0, output_tokens=0),
    # around the 200k / 272k tier thresholds ("cliff": above the start, the tier rate applies to all tokens)
    "at_200k": TokenUsage(input_tokens=200_000, output_tokens=2_000, cache_read_tokens=50_000),
    "over_200k": TokenUsage(input_tokens=200_001, output_tokens=2_000, cache_read_tokens=50_000),
    "at_272k": TokenUsage(input_tokens=272_000, output_tokens=4_000, reasoning_tokens=1_000),
    "over_272k": TokenUsage(
        input_tokens=272_001,
        output_tokens=4_000,
        cache_read_tokens=100_000,
        cache_write_tokens=1,
        reasoning_tokens=5,
    ),
    "huge": TokenUsage(
        input_tokens=950_000, output_tokens=120_000, cache_read_tokens=600_000, cache_write_tokens=100_000,
        reasoning_tokens=90_000,
    ),
    # per-modality subsets: audio in and out, image in (priced apart by audio and image models, as text else)
    "audio": TokenUsage(input_tokens=2_000, output_tokens=1_500, input_audio_tokens=1_200, output_audio_tokens=1_000),
    "audio_cached": TokenUsage(
        input_tokens=5_000, output_tokens=100, cache_read_tokens=1_000, input_audio_tokens=3_000,
        output_audio_tokens=100,
    ),
    "image": TokenUsage(input_tokens=3_000, output_tokens=100, input_image_tokens=2_500),
    "modalities_and_reasoning": TokenUsage(
        input_tokens=300_000, output_tokens=9_000, cache_read_tokens=20_000, cache_write_tokens=10_000,
        reasoning_tokens=4_000, input_audio_tokens=50_000, output_audio_tokens=2_000, input_image_tokens=30_000,
    ),
}

# (our provider name, model as the API reports it, genai-prices provider id for the oracle)
MODELS = [
    ("openai", "gpt-4o", "openai"),
    ("openai", "gpt-4o-2024-08-06", "openai"),
    ("openai", "gpt-4o-2024-11-20", "openai"),
    ("openai", "gpt-4o-2024-05-13", "openai"),
    ("openai", "gpt-4o-mini", "openai"),
    ("openai", "gpt-4o-mini-2024-07-18", "openai"),
    ("openai", "gpt-3.5-turbo-0125", "openai"),
    ("openai", "o1", "openai"),
    ("openai", "o1-2024-12-17", "openai"),
    ("openai", "o1-mini", "openai"),
    ("openai", "o3", "openai"),  # time-conditional: price cut in 2025
    ("openai", "o3-2025-04-16", "openai"),
    ("openai", "o3-mini", "openai"),
    ("openai", "o4-mini", "openai"),
    ("openai", "o4-mini-2025-04-16", "openai"),
    ("openai", "gpt-4.1", "openai"),
    ("openai", "gpt-4.1-2025-04-14", "openai"),
    ("openai", "gpt-4.1-mini", "openai"),
    ("openai", "gpt-4.1-nano", "openai"),
    ("openai", "gpt-5", "openai"),
    ("openai", "gpt-5-2025-08-07", "openai"),
    ("openai", "gpt-5-mini", "openai"),
    ("openai", "gpt-5-nano", "openai"),
    ("openai", "gpt-5.2-20251211", "openai"),  # compact date, normalised by genai-prices
    ("openai", "gpt-5.4", "openai"),  # tiered
    ("openai", "gpt-5.5", "openai"),  # tiered
    ("openai", "gpt-5.6-sol", "openai"),  # tiered, cache write, time-conditional
    ("openai", "gpt-5.6-cyber", "openai"),  # cache write
    ("openai", "gpt-6-sol", "openai"),  # tiered, cache write
    ("openai", "text-embedding-3-small", "openai"),
    ("openai", "text-embedding-3-large", "openai"),
    ("openai", "gpt-audio", "openai"),  # audio in and out priced apart
    ("openai", "gpt-audio-mini", "openai"),
    ("openai", "gpt-4o-audio-preview", "openai"),  # no audio price in the data: audio at the text rate
    ("openai", "gpt-realtime", "openai"),  # audio, image and cached audio priced apart
    ("openai", "gpt-realtime-mini", "openai"),
    ("openai", "gpt-image-1", "openai"),  # image input priced apart
    ("azure.ai.openai", "phi-4-multimodal-instruct", "azure"),  # audio input only
    ("azure.ai.openai", "gpt-4o", "azure"),  # Azure table falls back to OpenAI's list
    ("azure.ai.openai", "gpt-4o-mini-2024-07-18", "azure"),
    ("azure.ai.openai", "gpt-35-turbo", "azure"),
    ("azure.ai.openai", "o3-mini", "azure"),  # in Azure's own table
    ("azure.ai.openai", "o4-mini", "azure"),
    ("azure.ai.openai", "text-embedding-3-small", "azure"),
    ("anthropic", "claude-sonnet-4-5", "anthropic"),  # tiered at 200k, cache write
    ("aws.bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", "aws"),
    ("gcp.gemini", "gemini-2.5-pro", "google"),  # tiered at 200k
    ("x_ai", "grok-4", "x-ai"),
    ("mistral_ai", "mistral-large-latest", "mistral"),
    ("groq", "llama-3.3-70b-versatile", "groq"),
    ("perplexity", "sonar", "perplexity"),  # per-request fee
    ("perplexity", "sonar-deep-research", "perplexity"),  # reasoning priced separately
    ("my-gateway", "gpt-4o-mini", None),  # unknown provider: model matched alone
]


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return PriceBook(environ={})


@pytest.mark.parametrize("usage_name", list(USAGES))
@pytest.mark.parametrize(("provider", "model", "provider_id"), MODELS, ids=[f"{p}:{m}" for p, m, _ in MODELS])
def test_equals_genai_prices(
    book: PriceBook, provider: str, model: str, provider_id: str | None, usage_name: str
) -> None:
    usage = USAGES[usage_name]
    expected = oracle(model, usage, provider_id)
    cost = book.cost(provider, model, usage)
    assert_matches(cost, expected)
    assert cost.prices == book.version
    assert book.cost(provider, model, usage) == cost  # warm path, same answer


@pytest.mark.parametrize(
    ("provider", "model", "provider_id", "tier"),
    [
        ("openai", "gpt-4o", "openai", "priority"),
        ("openai", "gpt-4o", "openai", "default"),
        ("openai", "gpt-4o", "openai", "flex"),  # no flex price for gpt-4o: standard
        ("openai", "gpt-5", "openai", "flex"),
        ("openai", "o4-mini", "openai", "flex"),
        ("openai", "gpt-6-sol", "openai", "priority"),  # tiered variant
        ("openai", "gpt-4.1-mini", "openai", "scale"),  # unlisted tier
        ("azure.ai.openai", "gpt-4o", "azure", "priority"),  # fallback provider: standard prices
    ],
)
@pytest.mark.parametrize("usage_name", ["cached", "reasoning", "over_272k"])
def test_service_tier_equals_genai_prices(
    book: PriceBook, provider: str, model: str, provider_id: str, tier: str, usage_name: str
) -> None:
    usage = USAGES[usage_name]
    expected = oracle(model, usage, provider_id, service_tier=tier)
    assert_matches(book.cost(provider, model, usage, service_tier=tier), expected)


def test_service_tier_changes_price(book: PriceBook) -> None:
    usage = USAGES["cached"]
    standard = usd(book.cost("openai", "gpt-5", usage))
    assert usd(book.cost("openai", "gpt-5", usage, service_tier="priority")) > standard
    assert usd(book.cost("openai", "gpt-5", usage, service_tier="flex")) < standard


# --- semantics ----------------------------------------------------------------------------------------------


def test_dated_model_resolves_to_canonical_id(book: PriceBook) -> None:
    usage = USAGES["plain"]
    dated = book.cost("openai", "gpt-4o-2024-08-06", usage)
    assert dated.model == "gpt-4o" and dated.provider == "openai"
    assert dated.usd == book.cost("openai", "gpt-4o", usage).usd
    assert book.cost("openai", "gpt-5.2-20251211", usage).model == "gpt-5.2"


def test_vertex_ai_names_gemini_by_publisher(book: PriceBook) -> None:
    """Vertex AI's OpenAI-compatible API calls Gemini ``google/gemini-2.5-flash``: priced as the model it names.
    The publisher prefix is dropped only there: elsewhere such a name may be a self-hosted model's."""
    vertex = book.cost_of_counts("gcp.vertex_ai", "google/gemini-2.5-flash", 1000, 100)
    assert (vertex.status, vertex.model) == ("priced", "gemini-2.5-flash")
    assert vertex.usd == book.cost_of_counts("gcp.vertex_ai", "gemini-2.5-flash", 1000, 100).usd
    assert book.cost_of_counts("openai", "google/gemini-2.5-flash", 1000, 100).status == "unknown_model"


def test_cache_reads_are_cheaper_than_input(book: PriceBook) -> None:
    uncached = book.cost("openai", "gpt-4o", TokenUsage(10_000, 100)).usd
    cached = book.cost("openai", "gpt-4o", TokenUsage(10_000, 100, cache_read_tokens=8_000)).usd
    assert uncached is not None and cached is not None
    assert cached < uncached
    # gpt-4o: cache reads at half the input price, $2.5 vs $1.25 per million -> saves 8000 * 1.25e-6
    price = genai_prices.calc_price(genai_prices.Usage(), "gpt-4o", provider_id="openai").model_price
    saved = 8_000 * float(price.input_mtok - price.cache_read_mtok) / 1e6
    assert math.isclose(uncached - cached, saved, rel_tol=1e-9)


def test_reasoning_billed_once_as_output(book: PriceBook) -> None:
    usage = TokenUsage(input_tokens=1_000, output_tokens=5_000, cache_read_tokens=200, reasoning_tokens=4_000)
    price = genai_prices.calc_price(genai_prices.Usage(), "o3", provider_id="openai").model_price
    assert price.output_reasoning_mtok is None  # OpenAI: reasoning is output
    by_hand = (800 * price.input_mtok + 200 * price.cache_read_mtok + 5_000 * price.output_mtok) / 1_000_000
    cost = usd(book.cost("openai", "o3", usage))
    assert math.isclose(cost, float(by_hand), rel_tol=1e-12)
    # the reasoning split does not change an OpenAI price
    assert math.isclose(cost, usd(book.cost("openai", "o3", TokenUsage(1_000, 5_000, 200))), rel_tol=1e-12)


def test_separately_priced_reasoning_replaces_output_rate(book: PriceBook) -> None:
    usage = TokenUsage(input_tokens=1_000, output_tokens=5_000, reasoning_tokens=4_000)
    model = "sonar-deep-research"
    price = genai_prices.calc_price(genai_prices.Usage(), model, provider_id="perplexity").model_price
    assert price.output_reasoning_mtok is not None
    by_hand = (
        1_000 * price.input_mtok + 1_000 * price.output_mtok + 4_000 * price.output_reasoning_mtok
    ) / 1_000_000
    assert math.isclose(usd(book.cost("perplexity", model, usage)), float(by_hand), rel_tol=1e-12)


def test_tier_cliff_applies_to_all_tokens(book: PriceBook) -> None:
    price = genai_prices.calc_price(genai_prices.Usage(), "gpt-5.4", provider_id="openai").model_price
    base, (tier,) = price.input_mtok.base, price.input_mtok.tiers
    below = usd(book.cost("openai", "gpt-5.4", TokenUsage(tier.start, 0)))
    above = usd(book.cost("openai", "gpt-5.4", TokenUsage(tier.start + 1, 0)))
    assert math.isclose(below, float(tier.start * base / 1_000_000), rel_tol=1e-12)
    assert math.isclose(above, float((tier.start + 1) * tier.price / 1_000_000), rel_tol=1e-12)


def test_unknown_model_is_marked_not_zero(book: PriceBook) -> None:
    unknown = [("openai", "no-such-model-xyz"), ("my-gateway", "no-such-model-xyz"), (None, "zzz")]
    for provider, model in unknown:
        cost = book.cost(provider, model, USAGES["plain"])
        assert cost == Cost(None, "unknown_model", book.version, None, None)
    assert book.cost("openai", None, USAGES["plain"]).status == "unknown_model"
    assert book.cost("openai", "", USAGES["plain"]).status == "unknown_model"
    # known, but priced per audio hour only: tokens cannot price it
    whisper = book.cost("openai", "whisper-1", USAGES["plain"])
    assert (whisper.status, whisper.usd, whisper.model) == ("unknown_model", None, "whisper-1")


def test_missing_usage_is_marked(book: PriceBook) -> None:
    for usage in (None, TokenUsage(None, None)):
        cost = book.cost("openai", "gpt-4o", usage)
        assert (cost.status, cost.usd, cost.model) == ("no_usage", None, "gpt-4o")
    # an unknown model stays unknown_model even without usage
    assert book.cost("openai", "no-such-model-xyz", None).status == "unknown_model"
    # only one count missing: the other is priced (embeddings report no output)
    embedding = book.cost("openai", "text-embedding-3-small", TokenUsage(1_000_000, None))
    assert embedding.usd == pytest.approx(0.02)


@pytest.mark.parametrize(
    "usage",
    [
        TokenUsage(100, 10, cache_read_tokens=101),
        TokenUsage(100, 10, cache_read_tokens=60, cache_write_tokens=41),
        TokenUsage(100, 10, reasoning_tokens=11),
        TokenUsage(100, 10, input_audio_tokens=101),
        TokenUsage(100, 10, input_audio_tokens=60, input_image_tokens=41),
        TokenUsage(100, 10, output_audio_tokens=11),
        TokenUsage(100, 10, reasoning_tokens=6, output_audio_tokens=5),
        TokenUsage(100, 10, input_image_tokens=-1),
        TokenUsage(-1, 10),
        TokenUsage(100, 10, cache_read_tokens=-5),
        TokenUsage("100", 10),  # type: ignore[arg-type]
    ],
)
def test_inconsistent_usage_is_marked(book: PriceBook, usage: TokenUsage) -> None:
    cost = book.cost("openai", "gpt-4o", usage)
    assert (cost.status, cost.usd, cost.model) == ("invalid_usage", None, "gpt-4o")


def test_provider_mapping_targets_exist_in_data() -> None:
    ids = {p.id for p in genai_prices.data_snapshot.get_snapshot().providers}
    missing = {name: pid for name, pid in PROVIDER_IDS.items() if pid is not None and pid not in ids}
    assert not missing


def test_unit_sizes_match_genai_prices() -> None:
    from genai_prices.data_units import unit_data

    by_price_key = {unit["price_key"]: unit["per"] for unit in unit_data.values()}
    for key in prices_module._TOKEN_PRICE_KEYS:
        assert by_price_key[key] == prices_module._PER_TOKENS
    assert by_price_key[prices_module._REQUEST_PRICE_KEY] == prices_module._PER_REQUESTS


def test_provider_fallback_is_visible(book: PriceBook) -> None:
    # Azure's table lacks gpt-4o: OpenAI's list price
    assert book.cost("azure.ai.openai", "gpt-4o", USAGES["plain"]).provider == "openai"
    assert book.cost("azure.ai.openai", "o3-mini", USAGES["plain"]).provider == "azure"
    # an OpenAI client pointed at DeepSeek reports provider "openai"
    assert book.cost("openai", "deepseek-chat", USAGES["plain"]).provider == "deepseek"


# --- version ------------------------------------------------------------------------------------------------


def test_version_string(book: PriceBook) -> None:
    assert book.version == f"genai-prices {genai_prices.__version__}"


def test_version_reports_auto_updated_snapshot() -> None:
    from genai_prices import data_snapshot

    bundled = data_snapshot.get_snapshot()
    fetched = datetime(2026, 11, 2, 8, 30, tzinfo=timezone.utc)
    custom = data_snapshot.DataSnapshot(providers=bundled.providers, from_auto_update=True, timestamp=fetched)
    data_snapshot.set_custom_snapshot(custom)
    try:
        cost = PriceBook(environ={}).cost("openai", "gpt-4o", USAGES["plain"])
    finally:
        data_snapshot.set_custom_snapshot(None)
    assert cost.prices == f"genai-prices {genai_prices.__version__} (updated 2026-11-02T08:30Z)"


# --- overrides ----------------------------------------------------------------------------------------------


def test_keyword_override_adds_and_replaces_prices() -> None:
    book = PriceBook(
        {
            "My-Finetune": {"input": 0.3, "output": 1.2, "cache_read": 0.15},
            "gpt-4o": {"input": 1, "output": 2},
            "azure.ai.openai/gpt-4o": {"input": 3, "output": 4, "cache_read": 0, "cache_write": 5},
        },
        environ={},
    )
    usage = TokenUsage(1_000_000, 1_000_000, cache_read_tokens=400_000, reasoning_tokens=300_000)
    ft = book.cost("openai", "my-finetune", usage)
    assert (ft.status, ft.prices, ft.model, ft.provider) == ("priced", "override", "my-finetune", None)
    assert ft.usd == pytest.approx(0.6 * 0.3 + 0.4 * 0.15 + 1.2)
    # no cache_read price: cache reads at the input price
    assert book.cost("openai", "GPT-4o", usage).usd == pytest.approx(1 + 2)
    assert book.cost("azure.ai.openai", "gpt-4o", usage).usd == pytest.approx(0.6 * 3 + 4)
    assert book.cost("azure.ai.openai", "gpt-4o", usage).model == "azure.ai.openai/gpt-4o"
    assert book.cost("openai", "gpt-4o-mini", usage).prices == book.version  # others still from the data


def test_override_prices_audio_and_image_apart() -> None:
    book = PriceBook({"voice": {"input": 1, "output": 2, "input_audio": 10, "output_audio": 20, "input_image": 5},
                      "plain": {"input": 1, "output": 2}}, environ={})
    usage = TokenUsage(1_000_000, 1_000_000, input_audio_tokens=300_000, output_audio_tokens=400_000,
                       input_image_tokens=200_000)
    assert book.cost("openai", "voice", usage).usd == pytest.approx(0.5 * 1 + 0.3 * 10 + 0.2 * 5 + 0.6 * 2 + 0.4 * 20)
    assert book.cost("openai", "plain", usage).usd == pytest.approx(1 + 2)  # at the text rates


def test_env_file_overrides_and_keyword_wins(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"my-ft": {"input": 0.3, "output": 1.2}, "other": {"input": 1, "output": 1}}))
    book = PriceBook({"other": {"input": 2, "output": 2}}, environ={PRICES_ENV: str(path)})
    usage = TokenUsage(1_000_000, 1_000_000)
    assert book.cost("openai", "my-ft", usage).usd == pytest.approx(1.5)
    assert book.cost("openai", "other", usage).usd == pytest.approx(4.0)
    assert PriceBook(environ={PRICES_ENV: "  "}).cost("openai", "my-ft", usage).status == "unknown_model"


def test_overrides_work_without_genai_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prices_module, "_genai_prices", lambda: None)
    book = PriceBook({"my-ft": {"input": 1, "output": 1}}, environ={})
    assert book.cost("openai", "my-ft", TokenUsage(1_000_000, 0)).usd == pytest.approx(1.0)
    assert book.cost("openai", "gpt-4o", TokenUsage(1, 1)).status == "unknown_model"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"m": {"input": 1}}, "model 'm': missing required field 'output'"),
        ({"m": {"input": 1, "output": 1, "cached_input": 1}}, "model 'm': unknown field 'cached_input'"),
        ({"m": {"input": -1, "output": 1}}, "model 'm': field 'input'"),
        ({"m": {"input": 1, "output": float("nan")}}, "model 'm': field 'output'"),
        ({"m": {"input": 1, "output": 1, "cache_read": "0.5"}}, "model 'm': field 'cache_read'"),
        ({"m": {"input": True, "output": 1}}, "model 'm': field 'input'"),
        ({"m": [1, 2]}, "model 'm': expected an object"),
        ({"": {"input": 1, "output": 1}}, "invalid model key"),
        ({"openai/": {"input": 1, "output": 1}}, "invalid model key"),
        ({"M": {"input": 1, "output": 1}, "m": {"input": 1, "output": 1}}, "listed twice"),
        ([("m", 1)], "expected a mapping"),
    ],
)
def test_bad_keyword_overrides_raise(overrides: Any, message: str) -> None:
    with pytest.raises(ValueError, match="^overrides: ") as info:
        PriceBook(overrides, environ={})
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the file"),
        ("{not json", "not valid JSON"),
        ("[]", "expected a mapping"),
        ('{"my-ft": {"input": 1, "output": -2}}', "model 'my-ft': field 'output'"),
    ],
)
def test_bad_env_file_raises_naming_the_setting(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "prices.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=f"^{PRICES_ENV}=") as info:
        PriceBook(environ={PRICES_ENV: str(path)})
    assert message in str(info.value) and str(path) in str(info.value)


def test_bad_cache_size_raises() -> None:
    with pytest.raises(ValueError, match="cache_size"):
        PriceBook(environ={}, cache_size=0)


# --- caching, time, threads, robustness ---------------------------------------------------------------------


@pytest.fixture
def calc_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Counts calls into genai-prices' lookup (the third-party boundary)."""
    calls: list[tuple[Any, ...]] = []
    real = genai_prices.calc_price

    def counting(usage: Any, model_ref: str, **kwargs: Any) -> Any:
        calls.append((model_ref, kwargs.get("provider_id"), kwargs.get("price_context")))
        return real(usage, model_ref, **kwargs)

    monkeypatch.setattr(genai_prices, "calc_price", counting)
    return calls


def test_price_is_resolved_once_per_key(calc_calls: list[tuple[Any, ...]]) -> None:
    book = PriceBook(environ={})
    for i in range(500):
        book.cost("openai", "gpt-4o", TokenUsage(i, i))
        book.cost("openai", "gpt-4o-mini", TokenUsage(i, i))
        book.cost("openai", "no-such-model-xyz", TokenUsage(i, i))  # misses are cached too
    unknown = "no-such-model-xyz"  # tried with the provider, then alone
    assert sorted(c[0] for c in calc_calls) == ["gpt-4o", "gpt-4o-mini", unknown, unknown]
    calc_calls.clear()
    book.cost("openai", "gpt-4o", TokenUsage(1, 1), service_tier="priority")  # a tier is its own key
    assert calc_calls == [("gpt-4o", "openai", {"service_tier": "priority"})]


def test_cache_is_bounded(calc_calls: list[tuple[Any, ...]]) -> None:
    book = PriceBook(environ={}, cache_size=2)
    models = ["gpt-4o", "gpt-4o-mini", "o3", "gpt-4o"]
    results = [book.cost("openai", m, USAGES["plain"]) for m in models]
    assert len(book._cache) == 2
    assert results[0] == results[3]
    assert [c[0] for c in calc_calls] == models  # gpt-4o was evicted, then resolved again


def test_entry_expires_at_utc_midnight(calc_calls: list[tuple[Any, ...]]) -> None:
    book = PriceBook(environ={})
    now = datetime(2026, 11, 22, 23, 59, 0, tzinfo=timezone.utc).timestamp()
    book._clock = lambda: now
    book.cost("openai", "gpt-4o", USAGES["plain"])
    now += 59.0
    book.cost("openai", "gpt-4o", USAGES["plain"])
    assert len(calc_calls) == 1
    now += 1.0  # 00:00:00 on the next day
    book.cost("openai", "gpt-4o", USAGES["plain"])
    assert len(calc_calls) == 2


def test_time_of_day_prices_follow_the_clock(calc_calls: list[tuple[Any, ...]]) -> None:
    """DeepSeek's peak price applies 00:30-16:30 UTC: the cached entry expires at each boundary."""
    book = PriceBook(environ={})
    usage = USAGES["cached"]
    times = [
        datetime(2026, 11, 22, 16, 29, 59, tzinfo=timezone.utc),  # peak
        datetime(2026, 11, 22, 16, 30, 0, tzinfo=timezone.utc),  # off-peak from here
        datetime(2026, 11, 22, 23, 0, 0, tzinfo=timezone.utc),  # still off-peak, same entry
        datetime(2026, 11, 23, 0, 30, 0, tzinfo=timezone.utc),  # peak again
    ]
    results = []
    resolutions = 0
    for when in times:
        book._clock = when.timestamp
        before = len(calc_calls)
        cost = book.cost("deepseek", "deepseek-chat", usage)
        resolutions += len(calc_calls) - before
        assert_matches(cost, oracle("deepseek-chat", usage, "deepseek", when=when))
        results.append(cost.usd)
    assert results[0] == results[3] > results[1] == results[2]
    assert resolutions == 3


def test_concurrent_pricing_is_consistent(calc_calls: list[tuple[Any, ...]]) -> None:
    keys = [(p, m) for p, m, _ in MODELS]
    reference = {k: PriceBook(environ={}).cost(*k, USAGES["reasoning"]) for k in keys}
    calc_calls.clear()
    book = PriceBook(environ={})
    barrier = threading.Barrier(16)
    failures: list[Any] = []

    def work(offset: int) -> None:
        barrier.wait()
        for i in range(400):
            key = keys[(i + offset) % len(keys)]
            cost = book.cost(*key, USAGES["reasoning"])
            if cost != reference[key]:
                failures.append((key, cost))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert len(book._cache) == len(keys)
    assert len({(c[0], c[1]) for c in calc_calls}) == len(calc_calls)  # each lookup resolved once


def test_failure_inside_genai_prices_never_raises(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(genai_prices, "calc_price", broken)
    book = PriceBook(environ={})
    with caplog.at_level(logging.DEBUG, logger="llmtel.cost"):
        first = book.cost("openai", "gpt-4o", USAGES["plain"])
        second = book.cost("openai", "gpt-4o-mini", USAGES["plain"])
    assert first.status == second.status == "unknown_model"
    levels = [r.levelno for r in caplog.records if "failed" in r.getMessage()]
    assert levels == [logging.WARNING, logging.DEBUG]  # warned once


def test_unhashable_arguments_never_raise() -> None:
    cost = PriceBook(environ={}).cost("openai", ["gpt-4o"], USAGES["plain"])  # type: ignore[arg-type]
    assert cost.status == "unknown_model" and cost.usd is None


def test_warm_path_timing_is_printed(book: PriceBook) -> None:
    usage = USAGES["reasoning"]
    book.cost("openai", "gpt-5.4", usage)
    n = 20_000
    warm = timeit.timeit(lambda: book.cost("openai", "gpt-5.4", usage), number=n) / n * 1e6
    print(f"\nllmtel.cost warm path: {warm:.2f} µs/call")


def reachable_models() -> Iterator[tuple[str, Any, Any]]:
    """(provider id, model, its resolved price now) for each model the bundled data lists that a lookup of its
    own id in its provider finds (an id matching another model first is not a reachable lookup)."""
    for provider in genai_prices.data_snapshot.get_snapshot().providers:
        for model in provider.models:
            try:
                found = genai_prices.calc_price(genai_prices.Usage(), model.id, provider_id=provider.id)
            except LookupError:
                continue
            if found.model is model:
                yield provider.id, model, found.model_price


def test_every_model_in_the_data_equals_genai_prices() -> None:
    """Sweep: each model the bundled data lists, looked up by its id in its provider, matches the oracle."""
    book = PriceBook(environ={})
    usages = [USAGES["reasoning"], USAGES["cache_write"], USAGES["over_272k"]]
    checked = 0
    for provider_id, model, _ in reachable_models():
        for usage in usages:
            expected = oracle(model.id, usage, provider_id)
            cost = book.cost(provider_id, model.id, usage)
            if cost.status == "unknown_model":
                assert expected == 0, (provider_id, model.id)  # priced in other units only
            else:
                assert_matches(cost, expected)
        checked += 1
    print(f"\nswept {checked} models")
    assert checked > 1_000


def test_hosted_tool_calls_equal_genai_prices_for_every_model_that_prices_them() -> None:
    """Web and file searches are billed per call: every model the data prices them for matches the oracle."""
    book = PriceBook(environ={})
    usage = USAGES["reasoning"]
    units = {"web_search": "web_searches", "file_search": "storage_searches"}  # ours: genai-prices'
    checked = 0
    for provider_id, model, price in reachable_models():
        calls = {ours: 3 for ours, theirs in units.items() if getattr(price, f"{theirs}_kcount", None)}
        if not calls:
            continue
        expected = genai_prices.calc_price(
            genai_prices.Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                               cache_read_tokens=usage.cache_read_tokens,
                               output_reasoning_tokens=usage.reasoning_tokens,
                               **{units[kind]: count for kind, count in calls.items()}),
            model.id, provider_id=provider_id).total_price
        cost = book.cost_of_counts(provider_id, model.id, usage.input_tokens, usage.output_tokens,
                                   usage.cache_read_tokens, 0, usage.reasoning_tokens, tool_calls=calls)
        assert cost.status == "priced", (provider_id, model.id)
        assert cost.usd == pytest.approx(float(expected), rel=1e-9), (provider_id, model.id)
        checked += 1
    assert checked > 30


def test_hosted_tool_calls_without_a_price_make_the_cost_partial(book: PriceBook) -> None:
    tokens = book.cost_of_counts("openai", "gpt-4o-mini", 1_000, 200).usd
    searched = book.cost_of_counts("openai", "gpt-4o-mini", 1_000, 200, tool_calls={"web_search": 2})
    assert (searched.status, searched.usd) == ("priced", pytest.approx(tokens + 2 * 10 / 1_000))
    unknown_tool = book.cost_of_counts("openai", "gpt-4o-mini", 1_000, 200, tool_calls={"web_search": 1, "code": 4})
    assert (unknown_tool.status, unknown_tool.usd) == ("partially_priced", pytest.approx(tokens + 10 / 1_000))
    assert book.cost_of_counts("openai", "gpt-4o-mini", 1_000, 200, tool_calls={"code": 0}).status == "priced"
    no_tool_price = book.cost_of_counts("openai", "gpt-3.5-turbo", 1_000, 200, tool_calls={"web_search": 1})
    assert no_tool_price.status == "partially_priced"
    assert no_tool_price.usd == pytest.approx(book.cost_of_counts("openai", "gpt-3.5-turbo", 1_000, 200).usd)
    for bad in ({"web_search": -1}, {"web_search": 1.5}, {"web_search": None}):
        assert book.cost_of_counts("openai", "gpt-4o-mini", 1_000, 200, tool_calls=bad).status == "invalid_usage"
    # No usage, or an unknown model: the tool calls change nothing.
    assert book.cost_of_counts("openai", "gpt-4o-mini", None, None, tool_calls={"web_search": 1}).status == "no_usage"
    assert book.cost_of_counts("openai", "no-such-model", 1, 1, tool_calls={"web_search": 1}).status == "unknown_model"


def test_override_prices_hosted_tool_calls_per_thousand() -> None:
    book = PriceBook({"agent": {"input": 1, "output": 2, "web_search": 25, "file_search": 4}}, environ={})
    cost = book.cost_of_counts("openai", "agent", 1_000_000, 0, tool_calls={"web_search": 4, "file_search": 10})
    assert (cost.status, cost.usd) == ("priced", pytest.approx(1 + 4 * 0.025 + 10 * 0.004))
    with pytest.raises(ValueError, match=r"field 'web_search': .*\(USD per 1,000 calls\), got -1"):
        PriceBook({"agent": {"input": 1, "output": 2, "web_search": -1}}, environ={})
    drawn = PriceBook({"agent": {"input": 1, "output": 2, "image_generation": 40}}, environ={})
    cost = drawn.cost_of_counts("openai", "agent", 0, 0, tool_calls={"image_generation": 3, "code_interpreter": 1})
    assert (cost.status, cost.usd) == ("partially_priced", pytest.approx(3 * 0.04))  # containers: never per call
    with pytest.raises(ValueError, match=r"unknown field 'code_interpreter' \(expected .*image_generation\)"):
        PriceBook({"agent": {"input": 1, "output": 2, "code_interpreter": 30}}, environ={})


def test_free_model_is_priced_zero(book: PriceBook) -> None:
    cost = book.cost("openai", "omni-moderation-latest", USAGES["plain"])
    assert (cost.status, cost.usd, cost.model) == ("priced", 0.0, "moderation")


def test_compiled_tiers_equal_genai_prices_with_several_thresholds() -> None:
    """Different thresholds per kind of token and a per-request fee: compiled rates equal the oracle."""
    from genai_prices.types import ModelPrice, Tier, TieredPrices

    price = ModelPrice(
        input_mtok=TieredPrices(Decimal("1"), [Tier(300_000, Decimal("3")), Tier(100_000, Decimal("2"))]),
        cache_read_mtok=TieredPrices(Decimal("0.1"), [Tier(300_000, Decimal("0.3"))]),
        cache_write_mtok=Decimal("1.25"),
        output_mtok=TieredPrices(Decimal("5"), [Tier(200_000, Decimal("7.5"))]),
        requests_kcount=Decimal("12"),
    )
    rates = prices_module._compile(price)
    assert rates is not None
    for inp in (0, 100_000, 100_001, 200_000, 200_001, 300_000, 300_001, 2_000_000):
        gp_usage = genai_prices.Usage(
            input_tokens=inp,
            output_tokens=7_000,
            cache_read_tokens=inp // 3,
            cache_write_tokens=inp // 5,
            output_reasoning_tokens=10,
        )
        expected = price.calc_price(gp_usage)["total_price"]
        got = rates.usd(inp, inp // 3, inp // 5, 7_000, 10)
        assert got is not None and math.isclose(got, float(expected), rel_tol=1e-12), (inp, got, expected)


@pytest.mark.parametrize(
    ("model", "usage", "status"),
    [
        ("gpt-4o-mini", TokenUsage(1000, 200, cache_read_tokens=600, reasoning_tokens=50), "priced"),
        ("gpt-4o-mini", TokenUsage(None, None), "no_usage"),
        ("gpt-4o-mini", TokenUsage(10, 5, cache_read_tokens=20), "invalid_usage"),  # more cached than input
        ("no-such-model-anywhere", TokenUsage(10, 5), "unknown_model"),
    ],
)
def test_cost_of_counts_equals_cost(book: PriceBook, model: str, usage: TokenUsage, status: str) -> None:
    """The count-taking entry point emission uses gives what ``cost`` gives, for every status."""
    expected = book.cost("openai", model, usage)
    assert expected.status == status
    assert book.cost_of_counts("openai", model, *usage) == expected
