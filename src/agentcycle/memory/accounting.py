"""Incremental token accounting for one run's history.

History is one list appended in place, and messages are immutable, so each message is counted
once: ``HistoryTokens`` keeps a list of counts parallel to the history and only counts what was
appended since the last look. The estimate for the next request is the provider's reported
prompt tokens for the previous request plus the estimates of the messages added since; before the
first report (or after a compaction rewrote the history) it is the sum of the local estimates.
Work per call is proportional to what was appended, never to the whole history.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentcycle.memory.tokens import TokenEstimator
from agentcycle.messages import Message


class HistoryTokens:
    """Cached per-message counts of a history list, plus a fixed overhead (tool specs)."""

    def __init__(
        self, estimator: TokenEstimator, history: Sequence[Message], fixed_tokens: int = 0
    ) -> None:
        self.estimator = estimator
        self.fixed_tokens = fixed_tokens
        self._history = history
        self._counts: list[int] = []
        self._local_total = 0
        self._reported: int | None = None
        self._local_at_report = 0

    @property
    def counts(self) -> Sequence[int]:
        """Per-message counts, parallel to the history (after ``sync``)."""
        return self._counts

    def sync(self) -> None:
        """Count the messages appended since the last call."""
        counts = self._counts
        history = self._history
        count = self.estimator.message
        for i in range(len(counts), len(history)):
            n = count(history[i])
            counts.append(n)
            self._local_total += n

    def local_total(self) -> int:
        """The local estimate of the whole request (messages plus fixed overhead)."""
        self.sync()
        return self._local_total + self.fixed_tokens

    def estimate(self) -> int:
        """The best estimate of the next request's prompt tokens."""
        self.sync()
        if self._reported is None:
            return self._local_total + self.fixed_tokens
        return self._reported + self._local_total - self._local_at_report

    def observe(self, prompt_tokens: int | None) -> None:
        """Record the provider's prompt tokens for a request of the history as it is now."""
        if prompt_tokens is None:
            return
        self.sync()
        self._reported = prompt_tokens
        self._local_at_report = self._local_total

    def rebuilt(self, known: dict[int, int]) -> None:
        """The history was rewritten: recount it, reusing ``known`` counts by message identity
        (``id(message) -> tokens``) for the messages that survived. Forgets the provider's
        report, which described the old history."""
        self._counts = []
        self._local_total = 0
        self._reported = None
        count = self.estimator.message
        for message in self._history:
            n = known.get(id(message))
            if n is None:
                n = count(message)
            self._counts.append(n)
            self._local_total += n

    def known(self) -> dict[int, int]:
        """``id(message) -> tokens`` for the current history (to pass to ``rebuilt``)."""
        self.sync()
        return {id(m): n for m, n in zip(self._history, self._counts, strict=True)}
