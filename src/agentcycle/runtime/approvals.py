"""Approvals: a decision before a tool call with consequences runs.

An ``ApprovalProvider`` answers ``ApprovalRequest``s. Returning ``None`` means "no decision
here": with nobody else to ask, the run ends in ``wait_user`` with the pending call recorded in
its state — never a silent allow.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from agentcycle.errors import ConfigurationError
from agentcycle.events import Diagnostic
from agentcycle.tools.base import SideEffect

if TYPE_CHECKING:
    from agentcycle.runtime.event_bus import EventBus


class ApprovalAction(enum.StrEnum):
    """How a pending call was decided."""

    ALLOW = "allow"
    ALLOW_SESSION = "allow_session"
    """Allow this tool for the rest of the run."""
    DENY = "deny"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """A tool call waiting for a decision."""

    request_id: str
    run_id: str
    tool_call_id: str
    tool_name: str
    arguments: dict[str, Any]
    side_effect: SideEffect
    message: str


@dataclass(frozen=True, slots=True)
class ApprovalDecision:
    """The answer to an ``ApprovalRequest``; ``reason`` is shown to the model on deny."""

    action: ApprovalAction
    reason: str | None = None

    @classmethod
    def allow(cls) -> ApprovalDecision:
        """Run this call."""
        return cls(ApprovalAction.ALLOW)

    @classmethod
    def allow_session(cls) -> ApprovalDecision:
        """Run this call and every later call of the same tool in this run."""
        return cls(ApprovalAction.ALLOW_SESSION)

    @classmethod
    def deny(cls, reason: str | None = None) -> ApprovalDecision:
        """Refuse the call; the model sees ``reason``."""
        return cls(ApprovalAction.DENY, reason)


def as_decision(value: ApprovalDecision | str) -> ApprovalDecision:
    """``value`` as a decision: a decision as is, or an action name (``"allow"``,
    ``"allow_session"``, ``"deny"``, ``"timeout"``). Raises ``ConfigurationError`` for any
    other value."""
    if isinstance(value, ApprovalDecision):
        return value
    try:
        return ApprovalDecision(ApprovalAction(value))
    except ValueError:
        choices = ", ".join(repr(a.value) for a in ApprovalAction)
        raise ConfigurationError(
            f"{value!r} is not an approval decision; use one of {choices} or an ApprovalDecision"
        ) from None


@runtime_checkable
class ApprovalProvider(Protocol):
    """Decides approval requests (a person at a terminal, a rule set, a host UI)."""

    async def decide(self, request: ApprovalRequest) -> ApprovalDecision | None:
        """The decision, or ``None`` to leave the call pending for the host."""
        ...


class ApprovalBroker:
    """The in-process approver behind ``RunHandle.approve``.

    It asks the run's own provider first; when that has no decision, it waits for the host to
    call ``resolve`` — up to ``timeout`` seconds, after which the decision is ``timeout``. With
    ``live=False`` (nobody holds the handle) it never waits: the call stays pending. A provider
    that raises or answers something other than a decision has no decision (never a silent
    allow); ``on_provider_failure`` is told.
    """

    def __init__(
        self,
        provider: ApprovalProvider | None,
        *,
        live: bool,
        timeout: float | None,
        on_provider_failure: Callable[[ApprovalRequest, Exception], None] | None = None,
    ) -> None:
        self._provider = provider
        self._live = live
        self._timeout = timeout
        self._on_provider_failure = on_provider_failure
        self._waiting: dict[str, asyncio.Future[ApprovalDecision]] = {}

    @property
    def waiting(self) -> list[str]:
        """Request ids waiting for the host."""
        return list(self._waiting)

    async def decide(self, request: ApprovalRequest) -> ApprovalDecision | None:
        """The provider's decision, else the host's, else ``None`` (pending)."""
        if self._provider is not None:
            decision = await self._ask_provider(self._provider, request)
            if decision is not None:
                return decision
        if not self._live:
            return None
        future: asyncio.Future[ApprovalDecision] = asyncio.get_running_loop().create_future()
        self._waiting[request.request_id] = future
        try:
            return await asyncio.wait_for(future, self._timeout)
        except TimeoutError:
            return ApprovalDecision(ApprovalAction.TIMEOUT)
        finally:
            self._waiting.pop(request.request_id, None)

    async def _ask_provider(
        self, provider: ApprovalProvider, request: ApprovalRequest
    ) -> ApprovalDecision | None:
        try:
            decision = await provider.decide(request)
            if decision is not None and not isinstance(decision, ApprovalDecision):
                raise TypeError(
                    f"decide() returned {type(decision).__name__}, expected ApprovalDecision "
                    "or None"
                )
        except Exception as exc:  # a broken provider must not crash the run mid-batch
            if self._on_provider_failure is not None:
                self._on_provider_failure(request, exc)
            return None
        return decision

    def resolve(self, request_id: str, decision: ApprovalDecision) -> None:
        """Answer a waiting request."""
        future = self._waiting.get(request_id)
        if future is None:
            raise KeyError(f"no approval request {request_id!r} is waiting")
        if not future.done():
            future.set_result(decision)


def describe(tool_name: str, arguments: dict[str, Any], side_effect: SideEffect) -> str:
    """A one-line description of a call for the person deciding."""
    from agentcycle._json import dumps

    text = dumps(arguments)
    if len(text) > 200:
        text = text[:199] + "…"
    return f"{tool_name} ({side_effect.value}) {text}"


APPROVAL_PROVIDER_FAILED = "approval_provider_failed"
"""``diagnostic`` code: the approval provider failed on a request, which stayed undecided."""


def report_provider_failure(bus: EventBus, request: ApprovalRequest, exc: Exception) -> None:
    """Report on ``bus`` that the approval provider failed on ``request``."""
    bus.emit(
        Diagnostic,
        level="error",
        code=APPROVAL_PROVIDER_FAILED,
        details={
            "request_id": request.request_id,
            "tool_call_id": request.tool_call_id,
            "tool_name": request.tool_name,
            "error_type": type(exc).__name__,
            "error": str(exc),
        },
    )
