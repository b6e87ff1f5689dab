"""Runtime hooks: host code that observes and steers a run at fixed points.

Subclass ``RuntimeHook`` and override the points you need; every method is a no-op by default
and a point that no hook overrides costs nothing. Register hooks on ``Agent(hooks=[...])``,
``Runner(RunConfig(hooks=[...]))`` and ``RunConfig(hooks=[...])`` for one run. They run in that
order (agent, runner, run) at every point, before and after alike.

Points, in the order a run meets them::

    before_run
      before_cycle
        before_model_call   -> may return a patched ModelRequest (for this call only)
        after_model_call    -> may return a patched ModelResponse (what history records)
        before_tool_call    -> may return Veto(reason) or RewriteArguments(arguments)
        after_tool_call     -> may return a rewritten ToolResult
      after_cycle           -> may return Continue(), Steer(messages) or Stop(code, message)
    after_run

``before_tool_call`` runs after validation, policy and the approval gate, immediately before
``tool_call_started``; ``after_tool_call`` runs before oversized output is bounded. Tool hooks
see only calls that reached that point (not refused ones) and may run concurrently for a
parallel read-only batch. ``before_compaction`` / ``after_compaction`` frame memory compaction
(right after ``memory_compact_started`` / ``memory_compact_completed``).

Failures are contained, never raised into the host or other runs:

- ``before_tool_call`` raising: that call does not run; the model sees an error result with
  code ``hook_failed``. ``after_tool_call`` raising: the tool ran, but the model sees a
  ``hook_failed`` error result instead of the unprocessed output (a redaction hook fails
  closed).
- Any other point raising (or any hook returning a value of the wrong type): the run ends as
  a typed failure ``hook_failed`` whose message names the hook and the point. A failing
  ``after_run`` turns the outcome into that failure too, except for a cancelled run, which
  stays cancelled.
- Every hook failure is also reported as a ``diagnostic`` event (level ``error``, code
  ``hook_failed``, details ``hook``, ``point``, ``error_type``, ``error``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agentcycle.errors import AgentcycleError, RunStoppedByHook
from agentcycle.events import CompletionReason, RunStatus
from agentcycle.messages import Message, TokenUsage, ToolResult, UserMessage
from agentcycle.models.base import ModelRequest, ModelResponse

HOOK_FAILED = "hook_failed"
"""Error code of a hook that raised: a tool result's, or the failed run's."""
TOOL_VETOED_BY_HOOK = "tool_vetoed_by_hook"
"""Error code of the result of a call a ``before_tool_call`` hook vetoed."""
HOOK_INVALID_ARGUMENTS = "hook_invalid_arguments"
"""Error code of a call whose hook-rewritten arguments fail the tool's schema or policy."""
STOPPED_BY_HOOK = "stopped_by_hook"
"""Default error code of a run an ``after_cycle`` hook stopped."""


@dataclass(frozen=True, slots=True)
class HookContext:
    """What every hook point receives first: the run's identity and its live history."""

    run_id: str
    trace_id: str
    agent_name: str
    context: Any
    """``RunConfig.context``: the host's own object, passed through untouched."""
    language: str
    messages: Sequence[Message]
    """The run's history so far (live: it grows during the run). Read it, never mutate it;
    patch a model request to show the model something else."""


# --------------------------------------------------------------------------- cycle decisions


@dataclass(frozen=True, slots=True)
class Continue:
    """``after_cycle``: let the run go on as it would (the same as returning ``None``)."""


@dataclass(frozen=True, slots=True)
class Steer:
    """``after_cycle``: add user messages to history before the next model call. Strings
    become synthetic user messages. Ignored (with a ``hook_steering_ignored`` diagnostic) when
    the cycle ended the run."""

    messages: tuple[str | UserMessage, ...]

    def __init__(self, messages: Sequence[str | UserMessage] | str) -> None:
        items = (messages,) if isinstance(messages, str) else tuple(messages)
        for item in items:
            if not isinstance(item, str | UserMessage):
                raise TypeError(f"Steer takes strings or UserMessage, not {type(item).__name__}")
        object.__setattr__(self, "messages", items)

    def user_messages(self) -> list[UserMessage]:
        """The messages as they enter history."""
        return [
            UserMessage(content=m, synthetic=True) if isinstance(m, str) else m
            for m in self.messages
        ]


@dataclass(frozen=True, slots=True)
class Stop:
    """``after_cycle``: end the run as a typed failure with this code and message, even when
    the cycle would have completed it. (For a check of the final answer, ``output_guardrails``
    (``agentcycle.guardrails``) give a typed outcome and events of their own.)"""

    error_code: str = STOPPED_BY_HOOK
    message: str = "A hook stopped the run."
    details: Any = None

    def error(self) -> AgentcycleError:
        """The failure the run ends with."""
        return RunStoppedByHook(self.message, code=self.error_code, details=self.details)


CycleDecision = Continue | Steer | Stop
"""What ``after_cycle`` may return (``None`` means ``Continue()``)."""


# --------------------------------------------------------------------------- tool decisions


@dataclass(frozen=True, slots=True)
class Veto:
    """``before_tool_call``: do not run the call. The model sees an error result with code
    ``tool_vetoed_by_hook`` and ``reason``."""

    reason: str


@dataclass(frozen=True, slots=True)
class RewriteArguments:
    """``before_tool_call``: run the call with these arguments instead. Once every hook has
    had its turn, rewritten arguments are validated against the tool's schema and checked by
    the run's policy again; if they fail, the call does not run and the model sees an error
    result with code ``hook_invalid_arguments``."""

    arguments: dict[str, Any]

    def __post_init__(self) -> None:
        if not isinstance(self.arguments, dict):
            raise TypeError(f"RewriteArguments needs a dict, not {type(self.arguments).__name__}")


ToolCallDecision = Veto | RewriteArguments
"""What ``before_tool_call`` may return (``None`` means run the call as it is)."""


# --------------------------------------------------------------------------- payloads


@dataclass(frozen=True, slots=True)
class ToolCallInfo:
    """A tool call at the hook points: validated, allowed and approved."""

    tool_call_id: str
    tool_name: str
    arguments: dict[str, Any]
    """The arguments the tool gets (in ``after_tool_call``: the ones it ran with)."""
    cycle_index: int


@dataclass(frozen=True, slots=True)
class CycleEnd:
    """A cycle at ``after_cycle``: its model call, tools and directives are done; it is not
    yet committed, so messages a ``Steer`` adds belong to it (and survive a checkpoint)."""

    cycle_index: int
    messages: tuple[Message, ...]
    """What this cycle appended to history (assistant message, tool results, hints)."""
    usage: TokenUsage
    ending: RunStatus | None
    """The status the run ends with after this cycle, or ``None`` when it goes on."""


@dataclass(frozen=True, slots=True)
class RunEnd:
    """How the run ended, at ``after_run`` (called once per run start, also when cancelled)."""

    status: RunStatus
    completion_reason: CompletionReason
    final_output: Any = None
    error: AgentcycleError | None = None


@dataclass(frozen=True, slots=True)
class CompactionStart:
    """Memory compaction is about to run."""

    trigger: Literal["threshold", "prompt_too_long", "manual"]
    message_count: int
    estimated_tokens: int


@dataclass(frozen=True, slots=True)
class CompactionEnd:
    """Memory compaction finished."""

    mode: Literal["micro", "structural", "summary", "emergency"]
    before_count: int
    after_count: int
    reclaimed_tokens: int
    dropped: tuple[dict[str, Any], ...] = field(default=())


# --------------------------------------------------------------------------- the hook


class RuntimeHook:
    """Base class of runtime hooks: override the points you need (see the module docstring
    for order, return values and failure handling). ``name`` identifies the hook in errors
    and events; it defaults to the class name."""

    timeout: float | None = None
    """Seconds each call of this hook may take before it fails as ``hook_failed`` (with
    ``error_type`` ``TimeoutError``); ``None`` (the default) waits as long as it takes, for
    hooks that wait on a person. Applies to async hook methods; anything but a positive
    number or ``None`` is a ``ConfigurationError`` when a run starts."""

    @property
    def name(self) -> str:
        """How errors and events name this hook."""
        return type(self).__name__

    async def before_run(self, ctx: HookContext) -> None:
        """The run (or a resumed run) is starting, after ``agent_started``."""

    async def after_run(self, ctx: HookContext, end: RunEnd) -> None:
        """The run ended; called before the terminal event, once per start."""

    async def before_cycle(self, ctx: HookContext, cycle_index: int) -> None:
        """A cycle started (after ``cycle_started`` and any steering messages)."""

    async def after_cycle(self, ctx: HookContext, cycle: CycleEnd) -> CycleDecision | None:
        """A cycle's work is done: return ``None``/``Continue()``, ``Steer`` or ``Stop``."""
        return None

    async def before_model_call(
        self, ctx: HookContext, request: ModelRequest
    ) -> ModelRequest | None:
        """The model is about to be called; return a patched request (e.g.
        ``dataclasses.replace(request, messages=[...])``) to send that instead. The patch
        applies to this call only; history is unchanged."""
        return None

    async def after_model_call(
        self, ctx: HookContext, request: ModelRequest, response: ModelResponse
    ) -> ModelResponse | None:
        """The model answered (after ``model_call_completed``); return a patched response to
        make that the assistant message the run records and acts on."""
        return None

    async def before_tool_call(
        self, ctx: HookContext, call: ToolCallInfo
    ) -> ToolCallDecision | None:
        """A call is about to run; return ``Veto`` or ``RewriteArguments`` to change that."""
        return None

    async def after_tool_call(
        self, ctx: HookContext, call: ToolCallInfo, result: ToolResult
    ) -> ToolResult | None:
        """A call ran; return a ``ToolResult`` to give the model that instead."""
        return None

    async def before_compaction(self, ctx: HookContext, compaction: CompactionStart) -> None:
        """Memory compaction is about to run."""

    async def after_compaction(self, ctx: HookContext, compaction: CompactionEnd) -> None:
        """Memory compaction finished."""
