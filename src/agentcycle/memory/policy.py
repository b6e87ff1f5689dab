"""``MemoryPolicy``: how a run budgets its context window and compacts its history.

Set it on ``Agent(memory=...)`` or ``RunConfig(memory=...)``; the run's value wins over the
runner's, which wins over the agent's (the whole policy, not field by field). Without one a run
uses ``MemoryPolicy()``: the defaults below.

The budget (see ``ContextBudget``) is the model's context window minus the reserved output minus a
safety buffer. When the estimated prompt passes ``compact_at`` of that budget, compaction runs the
stages cheapest first (micro, structural, summary, emergency) until the prompt is under
``compact_to`` of it.

The same policy turns on session memory (``session_memory``, off by default) and bounds what
memory providers recall into the system prompt (``recall_limit``, ``recall_chars``).
"""

from __future__ import annotations

from dataclasses import dataclass

from agentcycle.errors import ConfigurationError
from agentcycle.memory.session import SessionMemory
from agentcycle.memory.tokens import Tokenizer
from agentcycle.models.base import Model, ModelInfo, ModelSettings

DEFAULT_OUTPUT_RESERVE = 8_192


@dataclass(frozen=True, slots=True)
class MemoryPolicy:
    """Context budgeting and compaction settings; every default is documented on its field."""

    enabled: bool = True
    """``False`` turns off threshold compaction and prompt-too-long recovery."""
    tokenizer: Tokenizer = "cl100k_base"
    """Offline estimator for messages the provider has not counted yet (see ``memory.tokens``)."""
    context_length: int | None = None
    """Overrides the model's context window. Unknown (``None`` here and on the model): no
    threshold compaction; a prompt-too-long rejection still triggers recovery."""
    output_reserve: int = DEFAULT_OUTPUT_RESERVE
    """Tokens kept free for the answer when ``ModelSettings.max_tokens`` is unset; capped by the
    model's ``max_output_tokens``."""
    safety_ratio: float = 0.05
    """Share of the window kept free for estimation error."""
    compact_at: float = 0.8
    """Compact when the estimated prompt exceeds this share of the budget."""
    compact_to: float = 0.6
    """Compaction stops once the prompt is under this share of the budget."""
    keep_recent_cycles: int = 3
    """The last N cycles are never archived or summarised (emergency may still drop them)."""
    micro_min_chars: int = 2_000
    """Tool results shorter than this are never archived."""
    excerpt_chars: int = 300
    """Length of the excerpt an archived tool result keeps."""
    keep_tool_results: tuple[str, ...] = ("todo_write", "activate_skill")
    """Tools whose results micro compaction never archives (the plan, skill instructions)."""
    summary: bool = True
    """Run the summary stage (one model call) before resorting to emergency drops."""
    summary_model: Model | None = None
    """A ``Model`` for summaries (for example a cheaper one); ``None``: the run's model."""
    summary_max_tokens: int = 2_000
    """Output limit of the summary call."""
    modified_file_tools: tuple[str, ...] = ("write_file", "edit_file")
    """Tools whose ``path`` argument names a file the run modified (pinned after a summary)."""
    pinned_files: int = 5
    """How many recently modified files are re-attached after a summary."""
    pinned_file_chars: int = 2_000
    """How much of each re-attached file is shown."""
    max_recovery_attempts: int = 3
    """Compaction retries after prompt-too-long rejections before ``context_exhausted``."""
    session_memory: SessionMemory | None = None
    """Notes carried across the runs of a session (``memory.session``); ``None``: off."""
    recall_limit: int = 5
    """Items each memory provider's ``search`` may return at run start
    (``memory.provider``)."""
    recall_chars: int = 2_000
    """Characters each memory provider's recalled section of the system prompt takes at
    most."""

    def __post_init__(self) -> None:
        if not 0 < self.compact_to < self.compact_at <= 1:
            raise ConfigurationError(
                "MemoryPolicy needs 0 < compact_to < compact_at <= 1, got "
                f"compact_to={self.compact_to}, compact_at={self.compact_at}"
            )
        if not 0 <= self.safety_ratio < 0.5:
            raise ConfigurationError(f"safety_ratio must be in [0, 0.5), got {self.safety_ratio}")
        if self.keep_recent_cycles < 1 or self.max_recovery_attempts < 1:
            raise ConfigurationError("keep_recent_cycles and max_recovery_attempts must be >= 1")
        if self.recall_limit < 1 or self.recall_chars < 1:
            raise ConfigurationError("recall_limit and recall_chars must be >= 1")


@dataclass(frozen=True, slots=True)
class ContextBudget:
    """The token budget of one run's prompts."""

    context_length: int
    reserved_output: int
    safety_buffer: int
    threshold: int
    """Compaction starts above this many prompt tokens."""
    target: int
    """Compaction stops at or below this many prompt tokens."""

    @property
    def input_limit(self) -> int:
        """The most prompt tokens a request may carry."""
        return self.context_length - self.reserved_output - self.safety_buffer


def context_budget(
    policy: MemoryPolicy, info: ModelInfo, settings: ModelSettings
) -> ContextBudget | None:
    """The budget for a model, or ``None`` when its context window is unknown.

    Reserved output is ``settings.max_tokens`` when set, else ``policy.output_reserve`` capped by
    the model's ``max_output_tokens``; either way at most half the window, so a model whose
    declared output limit equals its window still gets room for a prompt.
    """
    window = policy.context_length or info.context_length
    if not window:
        return None
    if settings.max_tokens is not None:
        reserved = settings.max_tokens
    else:
        reserved = policy.output_reserve
        if info.max_output_tokens is not None:
            reserved = min(reserved, info.max_output_tokens)
    reserved = min(reserved, window // 2)
    safety = int(window * policy.safety_ratio)
    limit = window - reserved - safety
    return ContextBudget(
        context_length=window,
        reserved_output=reserved,
        safety_buffer=safety,
        threshold=int(limit * policy.compact_at),
        target=int(limit * policy.compact_to),
    )
