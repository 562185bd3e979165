"""The USD cost of one LLM call, computed in-process from genai-prices' bundled data (or user overrides).

Each model's price is resolved once and cached, so pricing a call is a dict lookup plus arithmetic.
"""

from llmtel.cost.prices import PRICES_ENV, PROVIDER_IDS, Cost, CostStatus, PriceBook, TokenUsage

__all__ = ["PRICES_ENV", "PROVIDER_IDS", "Cost", "CostStatus", "PriceBook", "TokenUsage"]
