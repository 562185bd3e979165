"""Benchmark llmtel.cost: µs per call for cold and warm lookups, against ``genai_prices.calc_price``.

Run: ``.venv/bin/python bench/bench_cost.py``. No network: genai-prices' bundled data only.
"""

from __future__ import annotations

import statistics
import sys
import time
import timeit

MODELS = [
    ("openai", "gpt-4o-2024-08-06"),
    ("openai", "gpt-4o-mini"),
    ("openai", "o3"),
    ("openai", "o4-mini"),
    ("openai", "gpt-4.1"),
    ("openai", "gpt-5"),
    ("openai", "gpt-5.4"),  # tiered
    ("openai", "text-embedding-3-small"),
    ("azure.ai.openai", "gpt-4o"),
    ("anthropic", "claude-sonnet-4-5"),
]


def per_call_us(func: object, number: int) -> float:
    runs = timeit.repeat(func, number=number, repeat=5)  # type: ignore[arg-type]
    return min(runs) / number * 1e6


def main() -> None:
    assert "genai_prices" not in sys.modules
    from llmtel.cost import PriceBook, TokenUsage

    usage = TokenUsage(input_tokens=12_000, output_tokens=900, cache_read_tokens=8_000, reasoning_tokens=600)

    # 1. the very first call in a process: imports genai-prices and loads its bundled data
    start = time.perf_counter()
    first = PriceBook(environ={}).cost("openai", "gpt-4o", usage)
    first_ms = (time.perf_counter() - start) * 1e3
    assert first.status == "priced", first

    import genai_prices

    gp_usage = genai_prices.Usage(
        input_tokens=12_000, output_tokens=900, cache_read_tokens=8_000, output_reasoning_tokens=600
    )

    # 2. cold: the first call for a model in a fresh PriceBook (one calc_price to resolve + compile)
    cold: list[float] = []
    for _ in range(20):
        for provider, model in MODELS:
            book = PriceBook(environ={})
            start = time.perf_counter()
            book.cost(provider, model, usage)
            cold.append((time.perf_counter() - start) * 1e6)

    # 3. warm: the hot path
    book = PriceBook(environ={})
    for provider, model in MODELS:
        book.cost(provider, model, usage)
    n = 100_000
    warm = {
        f"{provider}:{model}": per_call_us(lambda p=provider, m=model: book.cost(p, m, usage), n)
        for provider, model in MODELS
    }
    unknown_us = per_call_us(lambda: book.cost("openai", "no-such-model", usage), n)
    tier_us = per_call_us(lambda: book.cost("openai", "gpt-5", usage, service_tier="priority"), n)

    # 4. genai-prices' own calculation (its lookup cache is warm by now)
    calc = {
        f"{provider}:{model}": per_call_us(
            lambda p=provider, m=model: genai_prices.calc_price(
                gp_usage, m, provider_id={"azure.ai.openai": "azure"}.get(p, p)
            ),
            500,
        )
        for provider, model in MODELS
    }

    print(f"genai-prices {genai_prices.__version__}, Python {sys.version.split()[0]}")
    print(f"first call in the process (import + load data): {first_ms:8.1f} ms")
    print(
        f"cold (new model, resolve once):   median {statistics.median(cold):7.1f} µs/call, "
        f"max {max(cold):7.1f} µs"
    )
    print(f"warm, unknown model (cached miss): {unknown_us:7.2f} µs/call")
    print(f"warm, with service_tier:           {tier_us:7.2f} µs/call")
    print(f"{'model':45} {'warm µs':>9} {'calc_price µs':>14} {'speed-up':>9}")
    for key in warm:
        print(f"{key:45} {warm[key]:9.2f} {calc[key]:14.1f} {calc[key] / warm[key]:8.0f}x")
    print(
        f"{'median':45} {statistics.median(warm.values()):9.2f} {statistics.median(calc.values()):14.1f}"
    )


if __name__ == "__main__":
    main()
