"""Calls a run's hooks at each point, in order, and contains their failures (the rules are in
``agentcycle.hooks``). The loop and the orchestrator hold a ``HookDispatcher`` only when the run
has hooks, so a run without any pays nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentcycle.errors import AgentcycleError, HookFailedError
from agentcycle.events import Diagnostic
from agentcycle.hooks import (
    HOOK_FAILED,
    TOOL_VETOED_BY_HOOK,
    CompactionEnd,
    CompactionStart,
    Continue,
    CycleEnd,
    HookContext,
    RewriteArguments,
    RunEnd,
    RuntimeHook,
    Steer,
    Stop,
    ToolCallInfo,
    Veto,
)
from agentcycle.messages import Message, ToolResult, UserMessage
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.runtime._timeouts import answer_within
from agentcycle.runtime.event_bus import EventBus

_POINTS = (
    "before_run",
    "after_run",
    "before_cycle",
    "after_cycle",
    "before_model_call",
    "after_model_call",
    "before_tool_call",
    "after_tool_call",
    "before_compaction",
    "after_compaction",
)


def _overrides(hook: RuntimeHook, point: str) -> bool:
    return getattr(type(hook), point) is not getattr(RuntimeHook, point)


def hook_name(hook: RuntimeHook) -> str:
    """How errors and events name ``hook`` (its ``name``, falling back to the class name)."""
    try:
        name = hook.name
    except Exception:  # a broken ``name`` must not hide the hook's real failure
        name = None
    return name if isinstance(name, str) and name else type(hook).__name__


@dataclass(frozen=True, slots=True)
class ToolGate:
    """What ``before_tool_call`` hooks decided: a refusal, or the arguments to run with
    (``rewritten_by`` names the hooks that changed them; they need validating again)."""

    arguments: dict[str, Any]
    refusal: ToolResult | None = None
    rewritten_by: tuple[str, ...] = ()


class HookDispatcher:
    """The hooks of one run."""

    def __init__(self, hooks: Sequence[RuntimeHook], ctx: HookContext, bus: EventBus) -> None:
        self.ctx = ctx
        self._bus = bus
        # Per point, only the hooks that override it: a no-op point is an empty tuple.
        self._at: dict[str, tuple[RuntimeHook, ...]] = {
            point: tuple(h for h in hooks if _overrides(h, point)) for point in _POINTS
        }
        self._after_run_called = False

    @classmethod
    def for_run(
        cls,
        hooks: Sequence[RuntimeHook],
        bus: EventBus,
        history: Sequence[Message],
        context: Any,
        language: str,
    ) -> HookDispatcher | None:
        """The dispatcher of the run ``bus`` belongs to, or ``None`` when it has no hooks."""
        if not hooks:
            return None
        ctx = HookContext(
            run_id=bus.run_id,
            trace_id=bus.trace_id,
            agent_name=bus.agent_name or "",
            context=context,
            language=language,
            messages=history,
        )
        return cls(hooks, ctx, bus)

    # ------------------------------------------------------------------ run and cycle

    async def before_run(self) -> None:
        """Raises ``HookFailedError`` when a hook fails."""
        for hook in self._at["before_run"]:
            await self._call(hook, "before_run", None)

    async def after_run(self, end: RunEnd) -> HookFailedError | None:
        """Call every ``after_run`` hook once per run, even when one fails; return the first
        failure. A second call (cancelled while the first ran) does nothing."""
        if self._after_run_called:
            return None
        self._after_run_called = True
        failure: HookFailedError | None = None
        for hook in self._at["after_run"]:
            try:
                await self._call(hook, "after_run", None, end)
            except HookFailedError as exc:
                failure = failure or exc
        return failure

    async def before_cycle(self, cycle_index: int) -> None:
        """Raises ``HookFailedError`` when a hook fails."""
        for hook in self._at["before_cycle"]:
            await self._call(hook, "before_cycle", cycle_index, cycle_index)

    async def after_cycle(self, cycle: CycleEnd) -> AgentcycleError | list[UserMessage] | None:
        """Every hook's decision combined: the error to end the run with (the first ``Stop``,
        or ``hook_failed``), else the messages all ``Steer`` decisions add (in hook order),
        else ``None``. Steering a cycle that ended the run is ignored (and reported)."""
        steer: list[UserMessage] = []
        stop: Stop | None = None
        for hook in self._at["after_cycle"]:
            point = "after_cycle"
            try:
                decision = await self._call(hook, point, cycle.cycle_index, cycle)
                if decision is not None and not isinstance(decision, Continue | Steer | Stop):
                    raise self._failed(
                        hook, point, cycle.cycle_index, _wrong_type(decision, "a decision")
                    )
            except HookFailedError as exc:
                return exc
            if isinstance(decision, Stop):
                stop = stop or decision
            elif isinstance(decision, Steer):
                steer.extend(decision.user_messages())
        if stop is not None:
            return stop.error()
        if not steer:
            return None
        ending = cycle.ending is not None
        self._bus.emit(
            Diagnostic,
            cycle_index=cycle.cycle_index,
            level="warning" if ending else "info",
            code="hook_steering_ignored" if ending else "hook_steering_applied",
            details={"messages": len(steer), "ending": cycle.ending},
        )
        return None if ending else steer

    # ------------------------------------------------------------------ model calls

    async def before_model_call(self, request: ModelRequest) -> ModelRequest:
        """The request to send. Raises ``HookFailedError`` when a hook fails."""
        for hook in self._at["before_model_call"]:
            patched = await self._call(hook, "before_model_call", request.cycle_index, request)
            if patched is None:
                continue
            if not isinstance(patched, ModelRequest):
                raise self._failed(
                    hook,
                    "before_model_call",
                    request.cycle_index,
                    _wrong_type(patched, "ModelRequest"),
                )
            request = patched
        return request

    async def after_model_call(
        self, request: ModelRequest, response: ModelResponse
    ) -> ModelResponse:
        """The response the run records. Raises ``HookFailedError`` when a hook fails."""
        for hook in self._at["after_model_call"]:
            point = "after_model_call"
            patched = await self._call(hook, point, request.cycle_index, request, response)
            if patched is None:
                continue
            if not isinstance(patched, ModelResponse):
                raise self._failed(
                    hook, point, request.cycle_index, _wrong_type(patched, "ModelResponse")
                )
            response = patched
        return response

    # ------------------------------------------------------------------ tool calls

    @property
    def has_tool_hooks(self) -> bool:
        """True when any hook watches tool calls."""
        return bool(self._at["before_tool_call"] or self._at["after_tool_call"])

    async def before_tool_call(self, call: ToolCallInfo) -> ToolGate:
        """Run the ``before_tool_call`` hooks in order; each sees the arguments as earlier
        hooks left them. A veto or a failure stops there with an error result."""
        rewritten_by: list[str] = []
        for hook in self._at["before_tool_call"]:
            point = "before_tool_call"
            try:
                decision = await self._call(hook, point, call.cycle_index, call)
                if decision is not None and not isinstance(decision, Veto | RewriteArguments):
                    raise self._failed(hook, point, call.cycle_index, _wrong_type(decision, "Veto"))
            except HookFailedError as exc:
                return ToolGate(
                    call.arguments,
                    ToolResult.error(
                        HOOK_FAILED, f"{exc.message} The call did not run.", details=exc.details
                    ),
                )
            if isinstance(decision, Veto):
                message = f"Hook {hook_name(hook)!r} vetoed this call: {decision.reason}"
                return ToolGate(
                    call.arguments,
                    ToolResult.error(
                        TOOL_VETOED_BY_HOOK, message, details={"hook": hook_name(hook)}
                    ),
                )
            if isinstance(decision, RewriteArguments):
                rewritten_by.append(hook_name(hook))
                call = ToolCallInfo(
                    call.tool_call_id, call.tool_name, decision.arguments, call.cycle_index
                )
        return ToolGate(call.arguments, rewritten_by=tuple(rewritten_by))

    async def after_tool_call(self, call: ToolCallInfo, result: ToolResult) -> ToolResult:
        """Run the ``after_tool_call`` hooks in order, each on the previous one's result. A
        failure replaces the result with a ``hook_failed`` error (the tool did run)."""
        for hook in self._at["after_tool_call"]:
            point = "after_tool_call"
            try:
                rewritten = await self._call(hook, point, call.cycle_index, call, result)
                if rewritten is not None and not isinstance(rewritten, ToolResult):
                    raise self._failed(
                        hook, point, call.cycle_index, _wrong_type(rewritten, "ToolResult")
                    )
            except HookFailedError as exc:
                return ToolResult.error(
                    HOOK_FAILED,
                    f"The tool ran, but {exc.message[0].lower()}{exc.message[1:]} Its output "
                    "was withheld.",
                    details=exc.details,
                )
            if rewritten is not None:
                result = rewritten
        return result

    # ------------------------------------------------------------------ compaction

    async def before_compaction(self, compaction: CompactionStart) -> None:
        """Raises ``HookFailedError`` when a hook fails."""
        for hook in self._at["before_compaction"]:
            await self._call(hook, "before_compaction", None, compaction)

    async def after_compaction(self, compaction: CompactionEnd) -> None:
        """Raises ``HookFailedError`` when a hook fails."""
        for hook in self._at["after_compaction"]:
            await self._call(hook, "after_compaction", None, compaction)

    # ------------------------------------------------------------------ machinery

    async def _call(
        self, hook: RuntimeHook, point: str, cycle_index: int | None, *args: Any
    ) -> Any:
        try:
            value = await answer_within(
                getattr(hook, point)(self.ctx, *args), getattr(hook, "timeout", None), point
            )
        except Exception as exc:
            raise self._failed(hook, point, cycle_index, exc) from exc
        return value

    def _failed(
        self, hook: RuntimeHook, point: str, cycle_index: int | None, exc: Exception
    ) -> HookFailedError:
        """Report a hook failure as a diagnostic and return the typed error."""
        name = hook_name(hook)
        details: dict[str, Any] = {
            "hook": name,
            "point": point,
            "error_type": type(exc).__name__,
            "error": str(exc),
        }
        if isinstance(exc, AgentcycleError):
            details["error_code"] = exc.code
        self._bus.emit(
            Diagnostic, cycle_index=cycle_index, level="error", code=HOOK_FAILED, details=details
        )
        error = HookFailedError(
            f"Hook {name!r} failed in {point}: {type(exc).__name__}: {exc}.",
            details=details,
        )
        error.__cause__ = exc
        return error


def _wrong_type(value: Any, expected: str) -> TypeError:
    return TypeError(f"returned {type(value).__name__}, expected {expected} or None")
