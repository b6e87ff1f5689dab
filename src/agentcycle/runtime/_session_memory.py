"""Session memory during a run: collect what the run adds to the conversation, extract notes
with a metered model call when it grew enough (and at the run's end), store them, report
(rules in ``agentcycle.memory.session``)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import TYPE_CHECKING, Literal

from agentcycle.errors import AgentcycleError
from agentcycle.events import Diagnostic, SessionMemoryUpdated
from agentcycle.memory.notes import merge_notes, parse_extraction
from agentcycle.memory.provider import MemoryItem
from agentcycle.memory.session import (
    EXTRACTION_INSTRUCTIONS,
    SessionMemory,
    extraction_request,
)
from agentcycle.memory.session_store import SessionMemoryStore
from agentcycle.memory.tokens import TokenEstimator
from agentcycle.memory.transcript import render_transcript
from agentcycle.messages import Message, SystemMessage, UserMessage
from agentcycle.runtime._memory_providers import ProviderCalls
from agentcycle.runtime._side_call import CallRecorder, side_call, side_settings

if TYPE_CHECKING:
    from agentcycle.memory.tokens import Tokenizer
    from agentcycle.runtime.environment import AgentSeat
    from agentcycle.runtime.event_bus import EventBus
    from agentcycle.state import RunState

SESSION_MEMORY_FAILED = "session_memory_failed"
"""Diagnostic code of an extraction that stored nothing (call, answer or store failed)."""

Trigger = Literal["threshold", "run_end"]


class SessionNotesRecorder:
    """Session memory for one run segment (a fresh run, or one resume)."""

    def __init__(
        self,
        seat: AgentSeat,
        bus: EventBus,
        state: RunState,
        history: list[Message],
        tokenizer: Tokenizer,
        settings: SessionMemory,
        store: SessionMemoryStore,
        session_id: str,
        providers: ProviderCalls,
        record_call: CallRecorder,
    ) -> None:
        self._seat = seat
        self._bus = bus
        self._state = state
        self._settings = settings
        self._store = store
        self._session_id = session_id
        self._providers = providers
        self._record_call = record_call
        self._estimator = TokenEstimator(tokenizer)
        self._seen_cycles = len(state.cycles)
        self._pending: list[Message] = []
        self._pending_tokens = 0
        cursor = state.session_cursor
        if state.resume_count == 0 and cursor is not None:
            # A fresh run's new input comes before any cycle; a resume's is in its first record.
            self._add(history[cursor:])

    async def after_cycle(self, index: int) -> None:
        """Extract when the conversation collected since the last extraction is big enough."""
        self._collect()
        if self._pending_tokens >= self._settings.extract_after_tokens:
            await self._extract(index, "threshold")

    async def at_end(self, index: int) -> None:
        """Extract what is left when the run ends (if enabled and enough was collected)."""
        self._collect()
        settings = self._settings
        if (
            settings.extract_at_end
            and self._pending
            and (self._pending_tokens >= settings.end_min_tokens)
        ):
            await self._extract(index, "run_end")

    def _collect(self) -> None:
        """Take the messages of the cycles committed since the last look (compaction records
        rewrite the history the model sees; they add nothing to the conversation)."""
        cycles = self._state.cycles
        for cycle in cycles[self._seen_cycles :]:
            if cycle.compaction is None:
                self._add(cycle.messages)
        self._seen_cycles = len(cycles)

    def _add(self, messages: tuple[Message, ...] | list[Message]) -> None:
        for message in messages:
            self._pending.append(message)
            self._pending_tokens += self._estimator.message(message)

    async def _extract(self, index: int, trigger: Trigger) -> None:
        """One extraction; the collected conversation is cleared whatever happens."""
        messages, self._pending, self._pending_tokens = self._pending, [], 0
        settings = self._settings
        stage = "load"
        try:
            existing = await self._store.load(self._session_id)
            stage = "call"
            transcript = render_transcript(messages, settings.transcript_chars)
            agent = self._seat.agent
            model = settings.model or agent.model
            answer = await side_call(
                model,
                [
                    SystemMessage(content=EXTRACTION_INSTRUCTIONS),
                    UserMessage(content=extraction_request(existing, transcript), synthetic=True),
                ],
                side_settings(agent.behavior.settings, settings.max_tokens),
                operation="session_memory",
                index=index,
                bus=self._bus,
                record=self._record_call,
                price=agent.price if model is agent.model else None,
            )
            stage = "parse"
            notes = parse_extraction(
                answer,
                run_id=self._state.spec.run_id,
                created_at=time.time(),
                max_note_chars=settings.max_note_chars,
            )
            fresh = merge_notes(existing, notes, len(existing) + len(notes))[0][len(existing) :]
            stage = "store"
            stored = await self._store.add(self._session_id, notes, max_notes=settings.max_notes)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # session memory never ends a run
            self._bus.emit(
                Diagnostic,
                cycle_index=index,
                level="warning",
                code=SESSION_MEMORY_FAILED,
                details={
                    "trigger": trigger,
                    "stage": stage,
                    "error_code": exc.code
                    if isinstance(exc, AgentcycleError)
                    else type(exc).__name__,
                    "error": str(exc),
                },
            )
            return
        self._bus.emit(
            SessionMemoryUpdated,
            cycle_index=index,
            trigger=trigger,
            added=dict(Counter(n.category for n in fresh)),
            dropped=stored.dropped,
            total=stored.total,
        )
        await self._providers.save(
            [
                MemoryItem(
                    text=n.text,
                    kind=n.category,
                    metadata={"session_id": self._session_id, "run_id": n.run_id},
                )
                for n in fresh
            ],
            index,
        )
