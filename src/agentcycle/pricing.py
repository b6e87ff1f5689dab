"""Model prices and the cost of a model call.

A ``ModelPrice`` gives US dollars per million tokens. ``RunConfig.price_table`` (a
``PriceTable``; ``StaticPriceTable`` is the dict-backed one) or a model's ``pricing`` object in
the settings file supplies it; the run config's table wins when both know the model. With a
price, every ``model_call_completed`` event, ``RunResult.model_calls`` entry and
``RunResult.usage`` carries ``cost_usd``.

How a call is priced (``TokenUsage.input_tokens`` counts the whole prompt, cache reads and
writes included, for every provider):

- cache reads (``cached_tokens``) at ``cached_input_per_million`` when that is set;
- cache writes (``cache_creation_tokens``) at ``cache_write_per_million`` when that is set;
- the rest of the prompt at ``input_per_million``, the output at ``output_per_million``.

A count a rate needs that the provider did not report makes the cost ``None`` (unknown), never
a guessed 0; so does a model without a price.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from agentcycle.messages import TokenUsage

_PER = 1_000_000


class ModelPrice(BaseModel):
    """US dollars per million tokens of one model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_per_million: float = Field(ge=0)
    """Prompt tokens that are neither cache reads nor (when priced) cache writes."""
    output_per_million: float = Field(ge=0)
    """Output tokens (reasoning included: providers bill it as output)."""
    cached_input_per_million: float | None = Field(default=None, ge=0)
    """Cache reads; ``None``: priced as input."""
    cache_write_per_million: float | None = Field(default=None, ge=0)
    """Cache writes (Anthropic's ``cache_creation_input_tokens``); ``None``: priced as input."""

    def cost(self, usage: TokenUsage) -> float | None:
        """The cost in US dollars of a call with ``usage``; ``None`` when a count it needs is
        unknown or the counts contradict each other (more cached than input tokens)."""
        prompt, output = usage.input_tokens, usage.output_tokens
        if prompt is None or output is None:
            return None
        total = output * self.output_per_million
        if self.cached_input_per_million is not None:
            if usage.cached_tokens is None:
                return None
            prompt -= usage.cached_tokens
            total += usage.cached_tokens * self.cached_input_per_million
        if self.cache_write_per_million is not None:
            if usage.cache_creation_tokens is None:
                return None
            prompt -= usage.cache_creation_tokens
            total += usage.cache_creation_tokens * self.cache_write_per_million
        if prompt < 0:
            return None
        return (total + prompt * self.input_per_million) / _PER


@runtime_checkable
class PriceTable(Protocol):
    """Where a run looks up its model's price."""

    def price(self, backend: str | None, model: str) -> ModelPrice | None:
        """The price of ``model`` (of ``backend``, if the model came from one), or ``None``."""
        ...


class StaticPriceTable:
    """Prices from a mapping. Keys are ``(backend, model)`` pairs or bare model names; a pair
    wins over a bare name::

        StaticPriceTable({
            ("openai", "gpt-4.1"): ModelPrice(input_per_million=2, output_per_million=8,
                                              cached_input_per_million=0.5),
            "claude-sonnet-4": ModelPrice(input_per_million=3, output_per_million=15),
        })
    """

    def __init__(self, prices: Mapping[str | tuple[str, str], ModelPrice]) -> None:
        self._prices = dict(prices)

    def price(self, backend: str | None, model: str) -> ModelPrice | None:
        """The price for ``(backend, model)``, else for ``model``, else ``None``."""
        if backend is not None:
            exact = self._prices.get((backend, model))
            if exact is not None:
                return exact
        return self._prices.get(model)


def priced(usage: TokenUsage, price: ModelPrice | None) -> TokenUsage:
    """``usage`` with ``cost_usd`` set from ``price`` (unchanged without a price)."""
    if price is None:
        return usage
    return usage.model_copy(update={"cost_usd": price.cost(usage)})
