"""Context providers at run start: ask them, contain their failures, fit their fragments into
the character budget and render them (rules in ``agentcycle.context_providers``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from agentcycle.context_providers import (
    DEFAULT_PROVIDER_TIMEOUT,
    ContextProvider,
    PromptFragment,
)
from agentcycle.runtime._timeouts import answer_within
from agentcycle.runtime.environment import StartupDiagnostic

if TYPE_CHECKING:
    from agentcycle.context_providers import InstructionsContext


@dataclass(frozen=True, slots=True)
class RenderedContext:
    """The fragments' prompt text and what to report about them."""

    text: str
    diagnostics: tuple[StartupDiagnostic, ...]


def provider_name(provider: object) -> str:
    """How reports name ``provider``."""
    name = getattr(provider, "name", None)
    return name if isinstance(name, str) and name else type(provider).__name__


async def render_context(
    providers: Sequence[ContextProvider], ctx: InstructionsContext, budget_chars: int
) -> RenderedContext:
    """Ask every provider (concurrently) and render what fits in ``budget_chars``."""
    if not providers:
        return RenderedContext("", ())
    answers = await asyncio.gather(*(_ask(p, ctx) for p in providers))
    diagnostics: list[StartupDiagnostic] = []
    fragments: list[PromptFragment] = []
    for answer in answers:
        if isinstance(answer, StartupDiagnostic):
            diagnostics.append(answer)
        else:
            fragments.extend(f for f in answer if f.text)
    kept, omitted = fit_fragments(fragments, budget_chars)
    if omitted:
        diagnostics.append(
            StartupDiagnostic(
                "context_fragments_omitted",
                {
                    "omitted": len(omitted),
                    "sources": [f.source for f in omitted],
                    "budget_chars": budget_chars,
                    "used_chars": sum(len(f.text) for f in kept),
                },
            )
        )
    return RenderedContext("\n\n".join(f.text for f in kept), tuple(diagnostics))


def fit_fragments(
    fragments: Sequence[PromptFragment], budget_chars: int
) -> tuple[list[PromptFragment], list[PromptFragment]]:
    """Split ``fragments`` into the kept ones (in render order) and the omitted ones."""
    ordered = sorted(fragments, key=lambda f: f.order)  # stable: ties keep provider order
    by_priority = sorted(range(len(ordered)), key=lambda i: -ordered[i].priority)
    left = budget_chars
    keep = [False] * len(ordered)
    for i in by_priority:
        size = len(ordered[i].text)
        if size <= left:
            keep[i] = True
            left -= size
    kept = [f for f, k in zip(ordered, keep, strict=True) if k]
    omitted = [f for f, k in zip(ordered, keep, strict=True) if not k]
    return kept, omitted


async def _ask(
    provider: ContextProvider, ctx: InstructionsContext
) -> list[PromptFragment] | StartupDiagnostic:
    name = provider_name(provider)
    timeout = getattr(provider, "timeout", DEFAULT_PROVIDER_TIMEOUT)
    try:
        value: Any = await answer_within(provider.fragments(ctx), timeout, "fragments()")
        if not isinstance(value, list | tuple) or not all(
            isinstance(f, PromptFragment) for f in value
        ):
            raise TypeError(
                f"fragments() returned {type(value).__name__}, not a list of PromptFragment"
            )
    except Exception as exc:  # a broken provider must not take the run down
        return StartupDiagnostic(
            "context_provider_failed",
            {"provider": name, "error_type": type(exc).__name__, "error": str(exc)},
        )
    return [f if f.source else replace(f, source=name) for f in value]
