"""Prepare the context before each model call: token budget, compaction, prompt-too-long recovery.

The loop calls ``ContextManager.prepare`` before each model call, then ``check_fits`` (a prompt
the runtime's own count says cannot fit the window is refused before it is sent, in every
provider path), and ``recover`` when either that check or the provider rejects the prompt as too
long. Both may compact the history (see ``memory.compaction``); a
compaction rewrites only the part of the history already committed to the run state (messages of
the cycle in progress stay as they are), replaces the history list's contents in place, appends a
compaction record to the run state (so a resumed run sees the compacted history), and emits
``memory_compact_started`` / ``memory_compact_completed``. Right after each of those events the
runtime hooks' ``before_compaction`` / ``after_compaction`` run (a failing hook ends the run as
``hook_failed``), then the memory providers' (contained: a ``memory_provider_failed``
diagnostic); providers' ``after_compaction`` gets the removed messages themselves.

Without a known context window there is no threshold compaction and no counting at all; recovery
still works, aiming below the estimated size of the rejected prompt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from agentcycle.errors import ContextExhaustedError, PromptTooLongError
from agentcycle.events import MemoryCompactCompleted, MemoryCompactStarted, ModelOperation
from agentcycle.hooks import CompactionEnd, CompactionStart
from agentcycle.memory.accounting import HistoryTokens
from agentcycle.memory.compaction import CompactionResult, Compactor
from agentcycle.memory.policy import context_budget
from agentcycle.memory.provider import CompactionNotice, CompactionRecord
from agentcycle.memory.tokens import TokenEstimator
from agentcycle.memory.transcript import render_transcript
from agentcycle.messages import (
    AssistantMessage,
    Message,
    SystemMessage,
    TokenUsage,
    ToolMessage,
    UserMessage,
)
from agentcycle.models.base import Model
from agentcycle.runtime._hooks import HookDispatcher
from agentcycle.runtime._memory_providers import ProviderCalls
from agentcycle.runtime._side_call import CallRecorder, side_call, side_settings
from agentcycle.state import CompactionInfo, CycleRecord
from agentcycle.workspace import output_bounds

if TYPE_CHECKING:
    from agentcycle.memory.policy import MemoryPolicy
    from agentcycle.runtime.environment import AgentProfile, AgentSeat
    from agentcycle.runtime.event_bus import EventBus
    from agentcycle.state import RunState, RunToolState
    from agentcycle.workspace.base import WorkspaceBackend

_NO_USAGE = TokenUsage()
"""The usage of no call (immutable: shared, not one per run)."""

RECOVERY_FACTOR = 0.7
"""Each prompt-too-long attempt aims at this share of the previous aim."""
_TRANSCRIPT_DEFAULT_CHARS = 200_000

SUMMARY_INSTRUCTIONS = """You compress the history of an agent's work so it can continue \
within a limited context window. Write a structured summary in the conversation's language with \
these sections: User intent (what the user asked for and any later changes), Decisions, Work \
done (files changed, commands run, results), Errors and fixes, Key facts (names, paths, numbers, \
identifiers the agent will need), Open questions and next steps. Be specific and concise; keep \
exact paths and identifiers. Do not invent anything."""


class ContextManager:
    """Budget and compaction for one run (see the module docstring); it is the
    ``CompactionHost`` its compactions use."""

    def __init__(
        self,
        seat: AgentSeat,
        *,
        state: RunState,
        bus: EventBus,
        history: list[Message],
        tool_state: RunToolState,
        workspace: WorkspaceBackend | None,
        policy: MemoryPolicy,
        record_call: CallRecorder,
        hooks: HookDispatcher | None,
        providers: ProviderCalls,
    ) -> None:
        self._seat = seat
        self._state = state
        self._bus = bus
        self._tool_state = tool_state
        self._workspace = workspace
        self._hooks = hooks
        self._providers = providers
        self._policy = policy
        self._history = history
        self._record_call = record_call
        self._agent = seat.agent
        self._budget = context_budget(policy, self._agent.model_info, self._agent.behavior.settings)
        self._tokens: HistoryTokens | None = None
        self._compactor: Compactor | None = None
        """With its token estimator, built on the first count: a run whose model declares no
        context window, and that is never told its prompt is too long, never counts."""
        self._quiet_until = 0
        """No threshold compaction until the estimate passes this (after one fell short)."""
        self._modified: dict[str, None] = {}
        self._writes: dict[str, str] = {}
        self._scanned = 0
        self._index = 0
        self._summary_calls = 0
        self._summary_usage = _NO_USAGE

    # ------------------------------------------------------------------ loop entry points

    def _follow(self, agent: AgentProfile) -> None:
        """Another agent took control (a handoff): budget for its model and settings, and
        count the history again (its system prompt and tools differ, and the provider's prompt
        tokens of the last call were another model's)."""
        self._agent = agent
        self._budget = context_budget(self._policy, agent.model_info, agent.behavior.settings)
        self._tokens = None
        self._quiet_until = 0

    async def prepare(self, index: int, start: int) -> int:
        """Compact if the next request would pass the threshold. ``start`` is where the
        uncommitted messages of the cycle begin; returns it as it is after any compaction."""
        if self._seat.agent is not self._agent:
            self._follow(self._seat.agent)
        budget = self._budget
        if budget is None or not self._policy.enabled:
            return start
        self._scan()
        counter = self._counter()
        estimate = counter.estimate()
        if estimate <= max(budget.threshold, self._quiet_until):
            return start
        # Compaction measures with local estimates; when the provider counts differently, aim
        # at the target in its units.
        scale = estimate / max(1, counter.local_total())
        start, after = await self._compact(
            index,
            start,
            "threshold",
            estimate,
            target=int(budget.target / scale),
            emergency=False,
        )
        # Could not get under: wait for real growth before trying (and paying for) it again.
        after = int(after * scale)
        fell_short = after > budget.threshold
        self._quiet_until = after + (budget.threshold - budget.target) // 2 if fell_short else 0
        return start

    def check_fits(self) -> None:
        """Refuse the next request before it is sent when the runtime's own count says it cannot
        fit the model's context window (no room left for a single output token), whatever the
        provider. Raises ``PromptTooLongError`` (``details["sent"]`` is ``False``), which the
        loop recovers from like a provider's rejection. Uses the incremental count: the cost
        is the messages appended since the last call. Unknown window: nothing to check."""
        if self._seat.agent is not self._agent:
            self._follow(self._seat.agent)
        budget = self._budget
        if budget is None:
            return
        estimate = self._counter().estimate()
        window = budget.context_length
        if estimate >= window:
            raise PromptTooLongError(
                f"the prompt (about {estimate:,} tokens) cannot fit the context window of "
                f"model {self._agent.model.name!r} ({window:,} tokens); it was not sent",
                details={"estimated_tokens": estimate, "context_length": window, "sent": False},
            )

    def observe(self, usage: TokenUsage) -> None:
        """Take the provider's prompt tokens of the call that just succeeded."""
        if self._tokens is not None:
            self._tokens.observe(usage.input_tokens)

    async def recover(self, index: int, start: int, error: PromptTooLongError, attempt: int) -> int:
        """Compact harder after the provider rejected the prompt (``attempt`` counts from 1),
        emergency included from the second attempt; returns the new ``start``. Raises
        ``ContextExhaustedError`` once the attempts are used up or nothing could be removed."""
        policy = self._policy
        if not policy.enabled:
            raise error
        self._scan()
        counter = self._counter()
        estimate = counter.local_total()
        if attempt > policy.max_recovery_attempts:
            raise _exhausted(error, attempt - 1, estimate)
        aim = estimate if self._budget is None else min(estimate, self._budget.target)
        target = int(aim * RECOVERY_FACTOR**attempt)
        start, after = await self._compact(
            index, start, "prompt_too_long", estimate, target=target, emergency=attempt > 1
        )
        if after >= estimate:  # nothing left to remove: the same prompt would fail again
            raise _exhausted(error, attempt, estimate)
        return start

    # ------------------------------------------------------------------ compaction

    def _counter(self) -> HistoryTokens:
        if self._tokens is None:
            estimator = self._compaction().estimator
            fixed = estimator.tools(self._agent.tool_specs)
            self._tokens = HistoryTokens(estimator, self._history, fixed)
        return self._tokens

    def _compaction(self) -> Compactor:
        if self._compactor is None:
            self._compactor = Compactor(self._policy, TokenEstimator(self._policy.tokenizer))
        return self._compactor

    async def _compact(
        self,
        index: int,
        start: int,
        trigger: Literal["threshold", "prompt_too_long"],
        estimate: int,
        *,
        target: int,
        emergency: bool,
    ) -> tuple[int, int]:
        """Compact the committed part ``history[:start]``; returns the new ``start`` and the
        estimate after."""
        history = self._history
        counter = self._counter()
        bus = self._bus
        budget = self._budget
        thresholds = {"target": target}
        if budget is not None:
            thresholds.update(
                context_length=budget.context_length,
                input_limit=budget.input_limit,
                threshold=budget.threshold,
            )
        bus.emit(
            MemoryCompactStarted,
            cycle_index=index,
            trigger=trigger,
            message_count=len(history),
            estimated_tokens=estimate,
            thresholds=thresholds,
        )
        await self._notify_start(index, trigger, len(history), estimate)
        # The old messages stay referenced until the counts are rebuilt: ``known`` is keyed by
        # identity, and a freed message's id could be reused by a new one.
        before = list(history)
        known = counter.known()
        local_before = counter.local_total()
        counts = counter.counts
        tail_tokens = sum(counts[start:])
        self._index = index
        self._summary_calls, self._summary_usage = 0, _NO_USAGE
        compacted = before[:start]
        result = await self._compaction().compact(
            compacted,
            counts[:start],
            fixed=counter.fixed_tokens + tail_tokens,
            target=target,
            hard_limit=budget.input_limit if budget is not None else None,
            emergency=emergency,
            host=self,
        )
        if result.dropped:
            history[:] = [*result.messages, *before[start:]]
            counter.rebuilt(known)
            start = len(result.messages)
            self._record(result, trigger, local_before, counter.local_total())
        after = counter.local_total()
        self._scanned = len(history)
        bus.emit(
            MemoryCompactCompleted,
            cycle_index=index,
            mode=result.mode,
            before_count=len(before),
            after_count=len(history),
            tokens_before=local_before,
            tokens_after=after,
            reclaimed_tokens=local_before - after,
            archived_count=result.archived,
            dropped=result.dropped,
        )
        if self._hooks is not None:
            await self._hooks.after_compaction(
                CompactionEnd(
                    mode=result.mode,
                    before_count=len(before),
                    after_count=len(history),
                    reclaimed_tokens=local_before - after,
                    dropped=tuple(result.dropped),
                )
            )
        if self._providers:
            await self._providers.after_compaction(
                self._compaction_record(index, trigger, result, compacted, local_before, after)
            )
        del before, compacted, known
        return start, after

    async def _notify_start(
        self,
        index: int,
        trigger: Literal["threshold", "prompt_too_long"],
        message_count: int,
        estimate: int,
    ) -> None:
        """``before_compaction``: hooks (a failure ends the run), then memory providers."""
        if self._hooks is not None:
            await self._hooks.before_compaction(
                CompactionStart(
                    trigger=trigger, message_count=message_count, estimated_tokens=estimate
                )
            )
        if self._providers:
            spec = self._state.spec
            await self._providers.before_compaction(
                CompactionNotice(
                    run_id=spec.run_id,
                    session_id=spec.session_id,
                    cycle_index=index,
                    trigger=trigger,
                    message_count=message_count,
                    estimated_tokens=estimate,
                )
            )

    def _compaction_record(
        self,
        index: int,
        trigger: Literal["threshold", "prompt_too_long"],
        result: CompactionResult,
        compacted: Sequence[Message],
        tokens_before: int,
        tokens_after: int,
    ) -> CompactionRecord:
        """What memory providers get: the messages that left the compacted part and the ones
        that replaced them (told apart by identity: compaction never copies a kept message)."""
        kept = {id(m) for m in result.messages}
        was = {id(m) for m in compacted}
        spec = self._state.spec
        return CompactionRecord(
            run_id=spec.run_id,
            session_id=spec.session_id,
            cycle_index=index,
            trigger=trigger,
            mode=result.mode,
            tokens_before=tokens_before,
            tokens_after=tokens_after,
            removed=tuple(m for m in compacted if id(m) not in kept) if result.dropped else (),
            added=tuple(m for m in result.messages if id(m) not in was) if result.dropped else (),
            dropped=tuple(result.dropped),
        )

    def _record(
        self,
        result: CompactionResult,
        trigger: Literal["threshold", "prompt_too_long"],
        tokens_before: int,
        tokens_after: int,
    ) -> None:
        """Append the compaction record (the compacted committed history) to the run state."""
        state = self._state
        state.cycles.append(
            CycleRecord(
                index=state.last_cycle_index,
                messages=tuple(result.messages),
                usage=self._summary_usage,
                model_calls=self._summary_calls,
                compaction=CompactionInfo(
                    trigger=trigger,
                    mode=result.mode,
                    tokens_before=tokens_before,
                    tokens_after=tokens_after,
                    dropped=result.dropped,
                ),
            )
        )

    # ------------------------------------------------------------------ pinned state

    def _scan(self) -> None:
        """Note files that successful calls of the policy's write tools modified (new messages
        only)."""
        tools = self._policy.modified_file_tools
        history = self._history
        for i in range(self._scanned, len(history)):
            message = history[i]
            if isinstance(message, AssistantMessage):
                for call in message.tool_calls:
                    if call.name in tools:
                        path = _path_argument(call.arguments)
                        if path is not None:
                            self._writes[call.id] = path
            elif isinstance(message, ToolMessage):
                path = self._writes.pop(message.tool_call_id, None)
                if path is not None and not message.is_error:
                    self._modified.pop(path, None)
                    self._modified[path] = None  # most recent last
        self._scanned = len(history)

    async def pinned_notes(self, *, with_files: bool) -> str:
        """The current TODO list and (``with_files``) the recently modified files, bounded."""
        sections: list[str] = []
        todos = self._tool_state.todos
        if todos:
            lines = [f"- [{t.status}] ({t.priority}) {t.title} (id {t.id})" for t in todos]
            sections.append("## Current TODO list\n" + "\n".join(lines))
        if with_files and self._modified:
            paths = list(self._modified)[-self._policy.pinned_files :]
            blocks = [await self._file_block(path) for path in reversed(paths)]
            heading = "## Files modified in this run (most recent first)\n"
            sections.append(heading + "\n".join(blocks))
        return "\n\n".join(sections)

    async def _file_block(self, path: str) -> str:
        limit = self._policy.pinned_file_chars
        workspace = self._workspace
        if workspace is None:
            return f"- {path}"
        try:
            text = await workspace.read_text(path, end=limit * 4)
        except Exception:  # deleted, binary or unreadable since: the path alone still helps
            return f"- {path} (not readable now)"
        more = "" if len(text) <= limit else "\n[... more; read it with read_file]"
        return f"### {path}\n```\n{text[:limit]}\n```{more}"

    # ------------------------------------------------------------------ summary call

    async def summarize(self, messages: Sequence[Message]) -> str:
        """One metered model call (``operation="memory_compaction"``) summarising
        ``messages``; raises on failure or an empty answer."""
        agent = self._seat.agent
        model: Model = self._policy.summary_model or agent.model
        return await side_call(
            model,
            [
                SystemMessage(content=SUMMARY_INSTRUCTIONS),
                UserMessage(content=self._transcript(messages), synthetic=True),
            ],
            side_settings(agent.behavior.settings, self._policy.summary_max_tokens),
            operation="memory_compaction",
            index=self._index,
            bus=self._bus,
            record=self._record_summary,
            # A separate summary model's price is not known here: its calls stay unpriced.
            price=agent.price if model is agent.model else None,
        )

    def _record_summary(
        self,
        index: int,
        operation_id: str,
        attempts: int,
        usage: TokenUsage,
        operation: ModelOperation,
    ) -> None:
        self._record_call(index, operation_id, attempts, usage, operation)
        self._summary_calls += 1
        self._summary_usage = self._summary_usage + usage

    def _transcript(self, messages: Sequence[Message]) -> str:
        """The messages as bounded text: each message clipped, the whole kept under what the
        summary model can read (the oldest messages go first when it is too long)."""
        budget = self._budget
        total_chars = (
            _TRANSCRIPT_DEFAULT_CHARS
            if budget is None
            else max(4_000, (budget.input_limit - self._policy.summary_max_tokens) * 3)
        )
        return "Conversation to summarise:\n\n" + render_transcript(messages, total_chars)

    async def archive(self, message: ToolMessage, text: str) -> str | None:
        """Keep a tool result's full text: the artifact its preview already names, else a new
        one under the run's memory area; ``None`` without a workspace."""
        existing = output_bounds.artifact_path_in(text)
        if existing is not None:
            return existing
        spec = self._state.spec
        path = output_bounds.artifact_path(spec.run_id, message.tool_call_id, "memory")
        return await output_bounds.archive_text(self._workspace, path, text)


def _path_argument(arguments: str) -> str | None:
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return None
    path = parsed.get("path") if isinstance(parsed, dict) else None
    return path if isinstance(path, str) and path else None


def _exhausted(error: PromptTooLongError, attempts: int, estimate: int) -> ContextExhaustedError:
    exhausted = ContextExhaustedError(
        f"The prompt does not fit the model's context window after {attempts} compaction "
        f"attempts (about {estimate} tokens): {error.message}",
        details={"attempts": attempts, "estimated_tokens": estimate, "last_error": error.code},
    )
    exhausted.__cause__ = error
    return exhausted
