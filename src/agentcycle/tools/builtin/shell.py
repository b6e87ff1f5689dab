"""Shell tools: ``bash`` runs a command in the workspace, ``check_background_command`` polls one.

Offered only when the agent opts in (``Agent(shell_tools=True)``, the CLI's ``--agent-type
computer``) and only useful on a workspace with a local directory.

Results (model-visible ``content``, compact JSON):

- finished with exit 0: ``{"ok": true, "status": "completed", "exit_code": 0, "duration_s",
  "output", "truncated", "output_bytes", "streams": "stdout+stderr"}``;
- non-zero exit: an error result, code ``command_failed``, with the same fields in
  ``details`` (plus ``signal`` when a signal killed the shell);
- still running at its ``timeout`` (not killed) or started with ``run_in_background``: status
  ``running`` (:attr:`ToolResultStatus.RUNNING`) with a ``session_id`` and the output so far;
  ``check_background_command`` then reports ``running|completed|failed|timeout|missing``.

``output`` is stdout and stderr merged in the order written, decoded as UTF-8 (invalid bytes
replaced), at most the first 5,000 and last 5,000 characters with an omission marker between.
Every command is killed after ``4 x timeout`` seconds in total (reported as ``timeout``), and
when the run ends (the run's scope closes) every process group still alive is killed.

Environment: an allow-list of the host's (``PATH``, ``HOME``, ``LANG``, ``LC_*``, ``TMPDIR``
... and the names in ``RunConfig.shell_env``; credential-looking names only when named exactly,
see ``_secrets``) plus ``PAGER=cat GIT_PAGER=cat TERM=dumb NO_COLOR=1 GIT_TERMINAL_PROMPT=0
PYTHONUNBUFFERED=1`` so pagers, colours, credential prompts and output buffering do not get in
the way; ``auto_confirm`` adds ``DEBIAN_FRONTEND=noninteractive``. Output is scrubbed of the
secret values the host knows (host credentials, the workspace's ``.env`` files, the settings
file in use) before the model sees it.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import signal
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agentcycle._json import dumps
from agentcycle.errors import AgentcycleError
from agentcycle.messages import ToolResult, ToolResultStatus
from agentcycle.tools.base import RunScope, SideEffect, Tool, ToolContext
from agentcycle.tools.builtin._confine import bwrap_argv
from agentcycle.tools.builtin._landlock import landlock_code
from agentcycle.tools.builtin._processes import SessionStore, ShellSession
from agentcycle.tools.builtin._secrets import (
    DEFAULT_SECRET_FILES,
    SecretFiles,
    guard_secrets,
    shell_environment,
)
from agentcycle.tools.builtin._tool import BuiltinTool, closed_object
from agentcycle.tools.sandbox import (
    OFF,
    SANDBOX_UNAVAILABLE,
    SandboxMode,
    SandboxPolicy,
    sandbox_support,
)
from agentcycle.workspace._common import not_a_directory, not_found
from agentcycle.workspace.base import WorkspaceBackend
from agentcycle.workspace.paths import normalize_path, path_error

BASH = "bash"
CHECK_BACKGROUND_COMMAND = "check_background_command"

DEFAULT_TIMEOUT_SECONDS = 300.0
MIN_TIMEOUT_SECONDS = 1.0
MAX_TIMEOUT_SECONDS = 600.0
HARD_LIMIT_FACTOR = 4
"""A command is killed after this many times its timeout in total."""

SESSIONS_KEY = "shell.sessions"
"""Where the run's :class:`SessionStore` lives in its :class:`RunScope`."""

SHELL_ENV = {
    "PAGER": "cat",
    "GIT_PAGER": "cat",
    "TERM": "dumb",
    "NO_COLOR": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "PYTHONUNBUFFERED": "1",
}
"""Set on top of the allowed host variables for every command."""

_STREAMS = "stdout+stderr"


def clamp_timeout(value: float | None) -> float:
    """The timeout a command gets: default 300 s, clamped into 1..600 s (never rejected)."""
    if value is None:
        return DEFAULT_TIMEOUT_SECONDS
    return min(max(float(value), MIN_TIMEOUT_SECONDS), MAX_TIMEOUT_SECONDS)


def _local_root(workspace: WorkspaceBackend | None) -> Path | None:
    """The directory commands run in: the backend's ``local_root`` (none for remote ones)."""
    return workspace.local_root if workspace is not None else None


def _exec_dir(root: Path, exec_dir: str) -> Path:
    """Resolve a workspace-relative directory; it must exist and stay inside the root."""
    rel = normalize_path(exec_dir)
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(real_root, rel))
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise path_error(exec_dir, "symlink_escape")
    if not os.path.exists(real):
        raise not_found(rel)
    if not os.path.isdir(real):
        raise not_a_directory(rel)
    return Path(real)


def _store(scope: RunScope) -> SessionStore:
    def create() -> SessionStore:
        store = SessionStore()
        scope.on_close(store.aclose)
        return store

    store: SessionStore = scope.get_or_create(SESSIONS_KEY, create)
    return store


def _report(session: ShellSession) -> dict[str, Any]:
    """Status, exit code, duration and bounded output of a session."""
    output, truncated, total = session.output()
    body: dict[str, Any] = {"status": session.status}
    code = session.exit_code
    if code is not None:
        body["exit_code"] = code
        if code < 0:
            body["signal"] = _signal_name(-code)
    body.update(
        duration_s=round(session.duration, 3),
        output=output,
        truncated=truncated,
        output_bytes=total,
        streams=_STREAMS,
    )
    return body


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _metadata(session: ShellSession, timeout: float) -> dict[str, Any]:
    return {
        "session_id": session.id,
        "status": session.status,
        "exit_code": session.exit_code,
        "timeout_s": timeout,
        "hard_limit_s": session.hard_limit,
    }


def _finished_result(session: ShellSession, timeout: float) -> ToolResult:
    body = _report(session)
    metadata = _metadata(session, timeout)
    if session.exit_code == 0:
        return ToolResult.success(dumps({"ok": True, **body}), metadata=metadata)
    if "signal" in body:
        message = f"The command was killed by {body['signal']}."
    else:
        message = f"The command exited with code {session.exit_code}."
    body.pop("status")
    return ToolResult.error("command_failed", message, details=body, metadata=metadata)


def _running_result(session: ShellSession, timeout: float, message: str) -> ToolResult:
    body = {"ok": True, "session_id": session.id, "message": message, **_report(session)}
    return ToolResult(
        status=ToolResultStatus.RUNNING,
        content=dumps(body),
        metadata=_metadata(session, timeout),
    )


@dataclass(frozen=True, slots=True)
class _ShellSetup:
    """What every ``bash`` call of a run shares: extra environment names, the secret files to
    mask, the sandbox policy."""

    env_names: tuple[str, ...] = ()
    secrets: SecretFiles = DEFAULT_SECRET_FILES
    sandbox: SandboxPolicy = OFF


ESCALATE_PROPERTY: dict[str, Any] = {
    "type": "object",
    "description": "Ask to run this one command with more than the sandbox allows; the user "
    "approves or refuses it. Only when the task needs it; say why.",
    "properties": {
        "reason": {"type": "string", "minLength": 1, "description": "Why the command needs it."},
        "network": {"type": "boolean", "description": "Network access."},
        "writable_roots": {
            "type": "array",
            "items": {"type": "string", "minLength": 2, "pattern": "^/"},
            "description": "Absolute directories outside the workspace it must write to.",
        },
        "no_sandbox": {"type": "boolean", "description": "Run outside the sandbox entirely."},
    },
    "required": ["reason"],
    "additionalProperties": False,
}
"""The ``escalate`` argument ``bash`` takes when its commands run sandboxed."""


def _escalation(policy: SandboxPolicy, args: dict[str, Any]) -> str | None:
    """What a call's ``escalate`` asks beyond ``policy``, with its reason (for the approval)."""
    asked = args.get("escalate")
    if not policy.enabled or not asked:
        return None
    wants = []
    if asked.get("no_sandbox"):
        wants.append("run outside the sandbox")
    if asked.get("network") and not policy.network:
        wants.append("use the network")
    if asked.get("writable_roots"):
        wants.append("write to " + ", ".join(asked["writable_roots"]))
    what = " and ".join(wants) or "run with more rights (nothing named)"
    return f"{what}, because: {asked['reason']}"


def _escalated(policy: SandboxPolicy, args: dict[str, Any]) -> SandboxPolicy:
    """The policy an approved ``escalate`` gives this one command."""
    asked = args.get("escalate")
    if not policy.enabled or not asked:
        return policy
    if asked.get("no_sandbox"):
        return OFF
    return replace(
        policy,
        network=policy.network or bool(asked.get("network")),
        writable_roots=(*policy.writable_roots, *asked.get("writable_roots", ())),
    )


@dataclass(frozen=True, slots=True)
class _Confinement:
    """How one command is confined: a wrapper command line (bubblewrap) or Python source the
    helper runs before the shell (Landlock), and the ``TMPDIR`` it gets."""

    wrapper: tuple[str, ...] = ()
    code: str = ""
    tmpdir: str | None = None

    @property
    def active(self) -> bool:
        """Whether the command runs sandboxed."""
        return bool(self.wrapper or self.code)


_TMP_KEY = "shell.sandbox_tmp"
"""Where the run's Landlock temporary directory lives in its ``RunScope``."""


def _run_tmpdir(scope: RunScope) -> str:
    """A temporary directory of the run (removed when it ends): Landlock has no private
    ``/tmp``, so this is the one place outside the workspace commands may write."""

    def create() -> str:
        path = tempfile.mkdtemp(prefix="agentcycle-tmp-")

        async def remove() -> None:
            shutil.rmtree(path, ignore_errors=True)

        scope.on_close(remove)
        return path

    path: str = scope.get_or_create(_TMP_KEY, create)
    return path


def _confinement(
    policy: SandboxPolicy, setup: _ShellSetup, scope: RunScope, root: Path, cwd: Path
) -> _Confinement | ToolResult:
    """How a command is confined (unconfined with the policy off), or the fail-closed error."""
    if not policy.enabled:
        return _Confinement()
    support = sandbox_support(policy.backend)
    bwrap = shutil.which("bwrap") if support.backend == "bubblewrap" else None
    if support.backend == "landlock":
        tmpdir = _run_tmpdir(scope)
        writable = [tmpdir]
        if policy.mode is SandboxMode.WORKSPACE_WRITE:
            writable += [str(root), *policy.writable_roots]
        return _Confinement(code=landlock_code(writable, policy.network), tmpdir=tmpdir)
    if bwrap is None:
        return ToolResult.error(
            SANDBOX_UNAVAILABLE,
            f"Commands must run in a sandbox ({policy.mode}) and none can be set up on this "
            f"host: {support.reason or 'bwrap is gone'}. The command was not run.",
            details={"mode": str(policy.mode), "reason": support.reason},
        )
    return _Confinement(wrapper=tuple(bwrap_argv(bwrap, policy, root, cwd, setup.secrets)))


async def _bash(setup: _ShellSetup, ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    command: str = args["command"]
    stdin: str | None = args.get("stdin")
    auto_confirm = bool(args.get("auto_confirm", False))
    if auto_confirm and stdin is not None:
        return ToolResult.error(
            "invalid_tool_arguments",
            "`stdin` and `auto_confirm` cannot be combined: auto_confirm already feeds stdin.",
        )
    root = _local_root(ctx.workspace)
    if root is None or not root.is_dir():
        return ToolResult.error(
            "shell_unavailable",
            "The shell needs a workspace backed by a local directory; this run's workspace "
            "has none. Use the workspace file tools instead.",
        )
    bash_path = shutil.which("bash")
    if bash_path is None:
        return ToolResult.error("shell_unavailable", "bash is not installed on this host.")
    try:
        cwd = _exec_dir(root, args.get("exec_dir", ""))
    except AgentcycleError as exc:
        return ToolResult.error(exc.code, exc.message, details=exc.details)
    if ctx.cancelled.is_set():
        return ToolResult.error("command_cancelled", "The run is being cancelled; not started.")
    timeout = clamp_timeout(args.get("timeout"))
    escalate = args.get("escalate")
    if escalate is not None and not any(
        escalate.get(k) for k in ("network", "writable_roots", "no_sandbox")
    ):
        return ToolResult.error(
            "invalid_tool_arguments",
            "`escalate` must ask for something: `network`, `writable_roots` or `no_sandbox`.",
        )
    # The orchestrator only runs an escalated call once it was approved (EscalatingTool).
    policy = _escalated(setup.sandbox, args)
    confined = _confinement(policy, setup, ctx.scope, root, cwd)
    if isinstance(confined, ToolResult):
        return confined
    env = {**shell_environment(os.environ, setup.env_names), **SHELL_ENV}
    if confined.active:
        # The sandbox's private /tmp (bubblewrap) or the run's temporary directory (Landlock).
        env["TMPDIR"] = confined.tmpdir or "/tmp"
    if auto_confirm:
        env["DEBIAN_FRONTEND"] = "noninteractive"
    store = _store(ctx.scope)
    try:
        session = await ShellSession.start(
            command,
            cwd=cwd,
            env=env,
            stdin=stdin,
            auto_confirm=auto_confirm,
            hard_limit=timeout * HARD_LIMIT_FACTOR,
            shell=bash_path,
            wrapper=confined.wrapper,
            max_processes=policy.max_processes if confined.active else 0,
            confine_code=confined.code,
        )
    except OSError as exc:
        return ToolResult.error("shell_unavailable", f"Could not start bash: {exc}")
    store.add(session)
    if args.get("run_in_background", False):
        return _running_result(
            session,
            timeout,
            f"Started in the background. Call {CHECK_BACKGROUND_COMMAND} with this session_id "
            f"for its status and output. It is killed after {session.hard_limit:g} s.",
        )
    cancel = asyncio.ensure_future(ctx.cancelled.wait())
    try:
        await asyncio.wait(
            {session.finished, cancel}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    except asyncio.CancelledError:
        # The run was cancelled: take the whole process group down before giving up.
        await asyncio.shield(session.terminate())
        raise
    finally:
        cancel.cancel()
    if session.finished.done():
        result = _finished_result(session, timeout)
        store.retire(session)
        return result
    if ctx.cancelled.is_set():
        await asyncio.shield(session.terminate())
        return ToolResult.error(
            "command_cancelled", "The run is being cancelled; the command was killed."
        )
    return _running_result(
        session,
        timeout,
        f"Still running after {timeout:g} s, so it was moved to the background (not killed). "
        f"Call {CHECK_BACKGROUND_COMMAND} with this session_id for its status and output. "
        f"It is killed after {session.hard_limit:g} s in total.",
    )


async def _check(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    session_id: str = args["session_id"]
    session = _store(ctx.scope).get(session_id)
    if session is None:
        return ToolResult.success(
            dumps(
                {
                    "ok": True,
                    "session_id": session_id,
                    "status": "missing",
                    "message": "No command with this session_id in this run.",
                }
            ),
            metadata={"session_id": session_id, "status": "missing"},
        )
    body = {"ok": True, "session_id": session.id, **_report(session)}
    if session.status == "timeout":
        body["message"] = f"Killed after running for {session.hard_limit:g} s."
    return ToolResult.success(
        dumps(body),
        metadata={
            "session_id": session.id,
            "status": session.status,
            "exit_code": body.get("exit_code"),
        },
    )


_BASH_PROPERTIES: dict[str, Any] = {
    "command": {
        "type": "string",
        "minLength": 1,
        "description": "The bash command line to run.",
    },
    "exec_dir": {
        "type": "string",
        "description": "Workspace-relative directory to run in (default: the root).",
    },
    "timeout": {
        "type": "number",
        "description": "Seconds to wait before moving it to the background "
        "(default 300, clamped to 1..600).",
    },
    "run_in_background": {
        "type": "boolean",
        "description": "Start it and return a session_id at once.",
    },
    "stdin": {
        "type": "string",
        "description": "Text fed to the command's standard input.",
    },
    "auto_confirm": {
        "type": "boolean",
        "description": "Answer 'y' to every prompt (an endless stream of 'y' lines "
        "on stdin, like `yes |`); not with commands that read all of stdin. "
        "Cannot be combined with `stdin`.",
    },
}


def _sandbox_note(policy: SandboxPolicy) -> str:
    """What the model is told about the sandbox its commands run in (the fallback backend,
    Landlock, neither protects paths inside the workspace nor masks secret files)."""
    if not policy.enabled:
        return ""
    full = sandbox_support(policy.backend).backend != "landlock"
    tmp = "/tmp (private, discarded)" if full else "$TMPDIR"
    if policy.mode is SandboxMode.READ_ONLY:
        writes = f"Nothing can be written except under {tmp}"
    else:
        roots = ", the configured roots" if policy.writable_roots else ""
        writes = f"Only the workspace{roots} and {tmp} can be written"
        protected = ", ".join(policy.protected_paths)
        if full and protected:
            writes += f" ({protected} stay read-only)"
    network = "" if policy.network else "; there is no network access"
    secrets = "; secret files read as empty" if full else ""
    return (
        f" Commands run in a sandbox: {writes}{network}{secrets}. A command that truly needs "
        "more (the network, a directory outside the workspace, no sandbox) may pass `escalate` "
        "with a reason: the user approves or refuses it."
    )


def bash_tool(
    env_names: Sequence[str] = (),
    sandbox: SandboxPolicy = OFF,
    secrets: SecretFiles = DEFAULT_SECRET_FILES,
) -> BuiltinTool:
    """The ``bash`` tool: run a shell command in the workspace (local workspaces only).

    Commands see the allowed host variables plus ``env_names`` (see the module docstring) and
    run confined by ``sandbox`` (``agentcycle.tools.sandbox``; ``secrets`` names the settings
    files it masks)."""
    properties = dict(_BASH_PROPERTIES)
    if sandbox.enabled:
        properties["escalate"] = ESCALATE_PROPERTY
    return BuiltinTool(
        name=BASH,
        description=(
            "Run a bash command (`bash -lc`) in the workspace root or `exec_dir`. Returns the "
            "exit code and the output (stdout and stderr merged; first 5,000 and last 5,000 "
            "characters). A non-zero exit is an error. `timeout` defaults to 300 s (1-600): a "
            "command still running then is moved to the background, not killed, and you get a "
            "session_id for check_background_command; `run_in_background` returns a session_id "
            "at once (use it for servers and long jobs). Commands are killed after 4 x timeout "
            "in total and when the run ends. There is no terminal: pass input with `stdin`, or "
            "`auto_confirm` to answer 'y' to every prompt." + _sandbox_note(sandbox)
        ),
        parameters=closed_object(properties, ("command",)),
        handler=functools.partial(_bash, _ShellSetup(tuple(env_names), secrets, sandbox)),
        escalation_of=functools.partial(_escalation, sandbox),
        side_effect=SideEffect.EXECUTE,
        read_only=False,
    )


def check_background_command_tool() -> BuiltinTool:
    """The ``check_background_command`` tool: status and output of a background command."""
    return BuiltinTool(
        name=CHECK_BACKGROUND_COMMAND,
        description=(
            "Check a command started by bash in the background: status running, completed, "
            "failed, timeout or missing (unknown id), the exit code once finished, and its "
            "output so far (first 5,000 and last 5,000 characters)."
        ),
        parameters=closed_object(
            {
                "session_id": {
                    "type": "string",
                    "description": "The session_id bash returned.",
                }
            },
            ("session_id",),
        ),
        handler=_check,
        side_effect=SideEffect.READ,
        read_only=True,
    )


def shell_tools(
    env_names: Sequence[str] = (),
    secrets: SecretFiles = DEFAULT_SECRET_FILES,
    sandbox: SandboxPolicy = OFF,
) -> list[Tool]:
    """``bash`` and ``check_background_command``, in that order, their output scrubbed of the
    secret values ``secrets`` knows about; ``bash`` passes ``env_names`` through and runs its
    commands confined by ``sandbox``."""
    if sandbox.enabled:
        sandbox_support(sandbox.backend)  # probe now (it blocks briefly, once), not in a call
    return [
        guard_secrets(bash_tool(env_names, sandbox, secrets), secrets, reads_path=False),
        guard_secrets(check_background_command_tool(), secrets, reads_path=False),
    ]
