"""Rule-based approvals: decide calls from their arguments, leave the rest to a person.

::

    rules = ApprovalRules(
        [
            ApprovalRule.deny("bash", argument="command", matching=r"\\brm\\s+-rf\\b",
                              reason="recursive deletes are not allowed here"),
            ApprovalRule.allow("write_file", argument="path", under="docs"),
        ]
    )
    config = RunConfig(approval_provider=rules)

The first rule that matches a request decides it. A request no rule matches gets ``default``:
``None`` (the default) leaves it to the next approver — the host through ``RunHandle.approve``,
the person at the terminal, or a pending call in ``wait_user``. Rules only see calls that need
approval under the run's approval mode; use ``ToolPolicy`` to hide or refuse tools outright.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agentcycle.errors import ConfigurationError
from agentcycle.runtime.approvals import ApprovalDecision, ApprovalRequest
from agentcycle.workspace.paths import PathEscapesWorkspace, is_within, normalize_path

RuleAction = Literal["allow", "allow_session", "deny"]


@dataclass(frozen=True, slots=True)
class ApprovalRule:
    """One rule: which tool (a name or an ``fnmatch`` pattern such as ``"*"``), which argument
    to inspect, and how.

    ``matching`` is a regular expression searched in the argument's text (strings as they are,
    other values as compact JSON); ``under`` is a workspace directory the argument, read as a
    workspace path, must lie in (``"docs"`` matches ``docs`` and ``docs/a.md``, never
    ``docs2/a.md`` or a path that escapes the workspace). A rule with neither matches every call
    of its tool. A call without the argument does not match.
    """

    tool: str
    action: RuleAction
    argument: str | None = None
    matching: str | None = None
    under: str | None = None
    reason: str | None = None
    _regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)
    _under: str | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if (self.matching is not None or self.under is not None) and self.argument is None:
            raise ConfigurationError(
                f"approval rule for {self.tool!r}: 'matching' and 'under' need 'argument'"
            )
        if self.matching is not None:
            try:
                object.__setattr__(self, "_regex", re.compile(self.matching))
            except re.error as exc:
                raise ConfigurationError(
                    f"approval rule for {self.tool!r}: invalid pattern {self.matching!r}: {exc}"
                ) from None
        if self.under is not None:
            try:
                object.__setattr__(self, "_under", normalize_path(self.under))
            except PathEscapesWorkspace as exc:
                raise ConfigurationError(
                    f"approval rule for {self.tool!r}: 'under' {exc.message}"
                ) from None

    @classmethod
    def allow(
        cls,
        tool: str,
        *,
        argument: str | None = None,
        matching: str | None = None,
        under: str | None = None,
        for_session: bool = False,
    ) -> ApprovalRule:
        """Allow matching calls (``for_session``: and every later call of the tool)."""
        action: RuleAction = "allow_session" if for_session else "allow"
        return cls(tool, action, argument, matching, under)

    @classmethod
    def deny(
        cls,
        tool: str,
        *,
        argument: str | None = None,
        matching: str | None = None,
        under: str | None = None,
        reason: str | None = None,
    ) -> ApprovalRule:
        """Refuse matching calls; the model sees ``reason``."""
        return cls(tool, "deny", argument, matching, under, reason)

    def matches(self, request: ApprovalRequest) -> bool:
        """Whether this rule applies to ``request``."""
        if not fnmatch.fnmatchcase(request.tool_name, self.tool):
            return False
        if self.argument is None:
            return True
        if self.argument not in request.arguments:
            return False
        value = request.arguments[self.argument]
        if self._regex is not None and not self._regex.search(_as_text(value)):
            return False
        return self._under is None or _lies_under(value, self._under)

    def decision(self) -> ApprovalDecision:
        """The decision this rule gives."""
        if self.action == "deny":
            return ApprovalDecision.deny(self.reason or f"denied by an approval rule ({self.tool})")
        if self.action == "allow_session":
            return ApprovalDecision.allow_session()
        return ApprovalDecision.allow()


class ApprovalRules:
    """An ``ApprovalProvider`` that decides from an ordered list of :class:`ApprovalRule`.

    Rules can be added while runs use the provider: a host that shares one ``ApprovalRules``
    between the runs of a conversation pre-approves for the rest of it ("allow for this
    session", a command pattern approved ahead of time) with ``add``, and takes it back with
    ``remove``; the next request sees the change.
    """

    def __init__(self, rules: Sequence[ApprovalRule], *, default: RuleAction | None = None) -> None:
        self.rules = tuple(rules)
        self.default = default

    def add(self, rule: ApprovalRule) -> None:
        """Decide later requests with ``rule`` too (after the rules already held, so an
        earlier ``deny`` still wins); a rule held already is not added twice."""
        if rule not in self.rules:
            self.rules = (*self.rules, rule)

    def remove(self, rule: ApprovalRule) -> None:
        """Stop deciding with ``rule`` (nothing if it is not held)."""
        self.rules = tuple(held for held in self.rules if held != rule)

    async def decide(self, request: ApprovalRequest) -> ApprovalDecision | None:
        """The first matching rule's decision, else ``default`` (``None``: ask someone else)."""
        for rule in self.rules:
            if rule.matches(request):
                return rule.decision()
        if self.default is None:
            return None
        return ApprovalRule(request.tool_name, self.default).decision()


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    from agentcycle._json import dumps

    return dumps(value)


def _lies_under(value: Any, base: str) -> bool:
    if not isinstance(value, str):
        return False
    try:
        path = normalize_path(value)
    except PathEscapesWorkspace:
        return False
    return is_within(path, base)
