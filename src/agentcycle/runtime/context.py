"""Prepare the context before each model call: token budget, compaction, prompt-too-long recovery.

The loop calls ``ContextManager.prepare`` before each model call and ``recover`` when the provider
rejects the prompt as too long. Both may compact the history (see ``memory.compaction``); a
compaction rewrites only the part of the history already committed to the run state (messages of
the cycle in progress stay as they are), replaces the history list's contents in place, appends a
compaction record to the run state (so a resumed run sees the compacted history), and emits
``memory_compact_started`` / ``memory_compact_completed``.

Without a known context window there is no threshold compaction and no counting at all; recovery
still works, aiming below the estimated size of the rejected prompt.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from agentcycle.errors import ContextExhaustedError, ModelError, PromptTooLongError
from agentcycle.events import (
    MemoryCompactCompleted,
    MemoryCompactStarted,
    ModelCallCompleted,
    ModelCallFailed,
    ModelCallStarted,
)
from agentcycle.memory.accounting import HistoryTokens
from agentcycle.memory.compaction import CompactionResult, Compactor
from agentcycle.memory.policy import context_budget
from agentcycle.memory.tokens import TokenEstimator
from agentcycle.messages import (
    AssistantMessage,
    Message,
    SystemMessage,
    TokenUsage,
    ToolMessage,
    UserMessage,
    content_text,
)
from agentcycle.models.base import (
    AttemptFailed,
    AttemptStarted,
    Model,
    ModelRequest,
    ModelResponse,
)
from agentcycle.runtime import output_bounds
from agentcycle.runtime.event_bus import new_id
from agentcycle.runtime.state import CompactionInfo, CycleRecord

if TYPE_CHECKING:
    from agentcycle.runtime.loop import LoopInputs

CallRecorder = Callable[[int, str, int, TokenUsage], None]
"""Records a metered model call: ``(cycle_index, operation_id, attempts, usage)``."""

RECOVERY_FACTOR = 0.7
"""Each prompt-too-long attempt aims at this share of the previous aim."""
_TRANSCRIPT_MESSAGE_CHARS = 2_000
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

    def __init__(self, inputs: LoopInputs, record_call: CallRecorder) -> None:
        self._in = inputs
        self._policy = inputs.memory
        self._history = inputs.history
        self._record_call = record_call
        self._budget = context_budget(self._policy, inputs.model_info, inputs.behavior.settings)
        self._estimator = TokenEstimator(self._policy.tokenizer)
        self._tokens: HistoryTokens | None = None
        self._compactor = Compactor(self._policy, self._estimator)
        self._quiet_until = 0
        """No threshold compaction until the estimate passes this (after one fell short)."""
        self._modified: dict[str, None] = {}
        self._writes: dict[str, str] = {}
        self._scanned = 0
        self._index = 0
        self._summary_calls = 0
        self._summary_usage = TokenUsage()

    # ------------------------------------------------------------------ loop entry points

    def agent_changed(self) -> None:
        """Another agent took control (a handoff): budget for its model and settings, and
        count the history again (its system prompt and tools differ, and the provider's prompt
        tokens of the last call were another model's)."""
        self._budget = context_budget(self._policy, self._in.model_info, self._in.behavior.settings)
        self._tokens = None
        self._quiet_until = 0

    async def prepare(self, index: int, start: int) -> int:
        """Compact if the next request would pass the threshold. ``start`` is where the
        uncommitted messages of the cycle begin; returns it as it is after any compaction."""
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
            fixed = self._estimator.tools(self._in.tool_specs)
            self._tokens = HistoryTokens(self._estimator, self._history, fixed)
        return self._tokens

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
        bus = self._in.bus
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
        # The old messages stay referenced until the counts are rebuilt: ``known`` is keyed by
        # identity, and a freed message's id could be reused by a new one.
        before = list(history)
        known = counter.known()
        local_before = counter.local_total()
        counts = counter.counts
        tail_tokens = sum(counts[start:])
        self._index = index
        self._summary_calls, self._summary_usage = 0, TokenUsage()
        result = await self._compactor.compact(
            before[:start],
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
        del before, known
        return start, after

    def _record(
        self,
        result: CompactionResult,
        trigger: Literal["threshold", "prompt_too_long"],
        tokens_before: int,
        tokens_after: int,
    ) -> None:
        """Append the compaction record (the compacted committed history) to the run state."""
        state = self._in.state
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
        todos = self._in.tool_state.todos
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
        workspace = self._in.workspace
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
        model: Model = self._policy.summary_model or self._in.model
        settings = self._in.behavior.settings.model_copy(
            update={
                "max_tokens": self._policy.summary_max_tokens,
                "tool_choice": None,
                "parallel_tool_calls": None,
                "response_format": None,
            }
        )
        request = ModelRequest(
            messages=[
                SystemMessage(content=SUMMARY_INSTRUCTIONS),
                UserMessage(content=self._transcript(messages), synthetic=True),
            ],
            settings=settings,
            cycle_index=self._index,
            operation="memory_compaction",
        )
        bus = self._in.bus
        index = self._index
        ids: dict[str, Any] = {
            "call_id": new_id("mc"),
            "operation_id": new_id("op"),
            "attempt": 1,
            "operation": "memory_compaction",
            "backend": model.backend,
            "model": model.name,
        }
        bus.emit(ModelCallStarted, cycle_index=index, **ids)
        response: ModelResponse | None = None
        try:
            async for item in model.stream(request):
                if isinstance(item, ModelResponse):
                    response = item
                elif isinstance(item, AttemptFailed):
                    _failed(bus, index, ids, item.error, retryable=True)
                elif isinstance(item, AttemptStarted):
                    ids.update(attempt=item.attempt, call_id=new_id("mc"))
                    bus.emit(ModelCallStarted, cycle_index=index, endpoint=item.endpoint, **ids)
        except ModelError as exc:
            _failed(bus, index, ids, exc, retryable=False)
            raise
        if response is None or not response.text.strip():
            error = ModelError("The summary call returned no text.", code="empty_response")
            _failed(bus, index, ids, error, retryable=False)
            raise error
        bus.emit(ModelCallCompleted, cycle_index=index, usage=response.usage, **ids)
        self._record_call(index, ids["operation_id"], ids["attempt"], response.usage)
        self._summary_calls += 1
        self._summary_usage = self._summary_usage + response.usage
        return response.text

    def _transcript(self, messages: Sequence[Message]) -> str:
        """The messages as bounded text: each message clipped, the whole kept under what the
        summary model can read (the oldest messages go first when it is too long)."""
        budget = self._budget
        total_chars = (
            _TRANSCRIPT_DEFAULT_CHARS
            if budget is None
            else max(4_000, (budget.input_limit - self._policy.summary_max_tokens) * 3)
        )
        lines = [_render(m) for m in messages]
        kept: list[str] = []
        used = 0
        for line in reversed(lines):
            if used + len(line) > total_chars and kept:
                kept.append(f"[{len(lines) - len(kept)} earlier messages omitted]")
                break
            kept.append(line)
            used += len(line)
        return "Conversation to summarise:\n\n" + "\n\n".join(reversed(kept))

    async def archive(self, message: ToolMessage, text: str) -> str | None:
        """Keep a tool result's full text: the artifact its preview already names, else a new
        one under the run's memory area; ``None`` without a workspace."""
        existing = output_bounds.artifact_path_in(text)
        if existing is not None:
            return existing
        spec = self._in.state.spec
        path = output_bounds.artifact_path(spec.run_id, message.tool_call_id, "memory")
        return await output_bounds.archive_text(self._in.workspace, path, text)


def _render(message: Message) -> str:
    text = content_text(message.content)
    if isinstance(message, AssistantMessage) and message.tool_calls:
        calls = "; ".join(f"{c.name}({c.arguments[:300]})" for c in message.tool_calls)
        text = f"{text}\n[tool calls: {calls}]".strip()
    label: str = message.role
    if isinstance(message, ToolMessage):
        label = f"tool {message.name}" + (" (error)" if message.is_error else "")
    if len(text) > _TRANSCRIPT_MESSAGE_CHARS:
        text = text[:_TRANSCRIPT_MESSAGE_CHARS] + " [...]"
    return f"{label}: {text}"


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


def _failed(bus: Any, index: int, ids: dict[str, Any], exc: Exception, *, retryable: bool) -> None:
    bus.emit(
        ModelCallFailed,
        cycle_index=index,
        error_code=getattr(exc, "code", "model_error"),
        error=str(exc),
        retryable=retryable,
        outcome=getattr(exc, "outcome", "definitive"),
        **ids,
    )
