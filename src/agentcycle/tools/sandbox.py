"""A sandbox for the commands ``bash`` runs: what they may write, read, reach and start.

Intent: the approval gate alone is not a boundary (``--approval never`` removes it), so on
Linux every ``bash`` command (foreground or background) runs inside a bubblewrap sandbox the
:class:`SandboxPolicy` describes:

- ``workspace-write`` (the default when a sandbox is available): the host filesystem is
  read-only, the workspace and ``writable_roots`` are writable, ``protected_paths`` inside them
  (``.git``, ``.agentcycle``) stay read-only, ``/tmp`` is private and empty;
- ``read-only``: nothing is writable but the private ``/tmp``;
- ``off``: commands run with the caller's rights, as before.

In every sandboxed mode (bubblewrap, the backend where user namespaces work) the command is
in new user, PID, IPC, UTS and (unless ``network``) network namespaces, with every capability
dropped, credential files (the workspace's top-level secret files such as ``.env*``, the
settings files in use, the home directory's key and cloud credential stores) masked by empty
ones, the process count capped and the process tree killed
when the command ends or times out. The environment is the shell's allow-list
(``RunConfig.shell_env``, see ``tools.builtin._secrets``), so the policy does not repeat it.

Where user namespaces are unavailable the fallback is Landlock plus a seccomp socket filter
(``tools.builtin._landlock``): writes only beneath the writable roots and a per-run temporary
directory, no internet sockets, the same process cap and tree cleanup; it cannot keep protected
paths read-only inside a writable root nor mask files.

Only a workspace backed by a local directory runs commands on the host at all; the shell tools
refuse other backends (``shell_unavailable``), so there is nothing for a sandbox to confine.

:func:`sandbox_support` probes once per process whether a sandbox can be set up here. When the
policy asks for one and none can be had, commands fail closed: the ``bash`` call is an error
result with code ``sandbox_unavailable`` (its ``tool_call_completed`` event carries the code)
and the run reports a ``sandbox_unavailable`` diagnostic when it starts.
"""

from __future__ import annotations

import enum
import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from agentcycle.errors import AgentcycleError, ConfigurationError

SANDBOX_UNAVAILABLE = "sandbox_unavailable"
"""The error code of a command refused because its sandbox cannot be set up."""

DEFAULT_PROTECTED_PATHS = (".git", ".agentcycle")
Backend = Literal["auto", "bubblewrap", "landlock"]
DEFAULT_MAX_PROCESSES = 512


class SandboxMode(enum.StrEnum):
    """How much a sandboxed command may change (CLI ``--sandbox``)."""

    READ_ONLY = "read-only"
    WORKSPACE_WRITE = "workspace-write"
    OFF = "off"


class SandboxUnavailableError(AgentcycleError):
    """The policy asks for a sandbox and none can be set up on this host."""

    code = SANDBOX_UNAVAILABLE


@dataclass(frozen=True, slots=True)
class SandboxPolicy:
    """What a ``bash`` command may do (see the module docstring).

    ``writable_roots`` are absolute host directories writable besides the workspace (in
    ``workspace-write`` mode); ``protected_paths`` are relative paths kept read-only inside
    every writable root; ``network`` lets commands use the host's network; ``mask_credentials``
    hides credential files; ``max_processes`` caps the processes a command may have at once
    (a fork bomb stops there).
    """

    mode: SandboxMode | str = SandboxMode.WORKSPACE_WRITE
    writable_roots: tuple[str, ...] = ()
    protected_paths: tuple[str, ...] = DEFAULT_PROTECTED_PATHS
    network: bool = False
    mask_credentials: bool = True
    max_processes: int = DEFAULT_MAX_PROCESSES
    backend: Backend = "auto"
    """``"bubblewrap"``, ``"landlock"`` (the fallback, weaker: see ``tools.builtin._landlock``)
    or ``"auto"``: bubblewrap where it works, else Landlock."""

    def __post_init__(self) -> None:
        if self.backend not in ("auto", "bubblewrap", "landlock"):
            raise ConfigurationError(
                f"SandboxPolicy: unknown backend {self.backend!r} (auto, bubblewrap, landlock)"
            )
        try:
            object.__setattr__(self, "mode", SandboxMode(self.mode))
        except ValueError:
            choices = ", ".join(m.value for m in SandboxMode)
            raise ConfigurationError(
                f"SandboxPolicy: unknown mode {self.mode!r} (one of {choices})"
            ) from None
        for root in self.writable_roots:
            if not os.path.isabs(root):
                raise ConfigurationError(
                    f"SandboxPolicy: writable root {root!r} is not an absolute path"
                )
        object.__setattr__(self, "writable_roots", tuple(self.writable_roots))
        for path in self.protected_paths:
            parts = PurePosixPath(path).parts
            if not parts or path.startswith("/") or ".." in parts:
                raise ConfigurationError(
                    f"SandboxPolicy: protected path {path!r} must be relative to a writable "
                    "root, without '..'"
                )
        object.__setattr__(self, "protected_paths", tuple(self.protected_paths))
        if self.max_processes < 8:
            raise ConfigurationError("SandboxPolicy: max_processes must be at least 8")

    @classmethod
    def of(cls, value: SandboxPolicy | SandboxMode | str) -> SandboxPolicy:
        """A policy from a policy or a mode name (``"read-only"``, ``"workspace-write"``,
        ``"off"``) with the other settings at their defaults."""
        return value if isinstance(value, SandboxPolicy) else cls(mode=value)

    @property
    def enabled(self) -> bool:
        """Whether commands run sandboxed (any mode but ``off``)."""
        return self.mode is not SandboxMode.OFF


OFF = SandboxPolicy(mode=SandboxMode.OFF)
"""Commands run with the caller's rights."""


@dataclass(frozen=True, slots=True)
class SandboxSupport:
    """What :func:`sandbox_support` found: the backend that works here, or why none does."""

    backend: str | None
    reason: str = ""

    @property
    def available(self) -> bool:
        """Whether commands can be sandboxed on this host."""
        return self.backend is not None


BWRAP_NAMESPACES = (
    "--unshare-user",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
)
"""The namespaces every sandboxed command gets (network is added unless allowed)."""


def sandbox_support(backend: Backend = "auto") -> SandboxSupport:
    """Whether (and how) commands can be sandboxed on this host: bubblewrap where it can set
    up its namespaces, else Landlock (``backend`` picks one). Probed once per process."""
    if backend == "landlock":
        return _landlock_support()
    bubblewrap = _bubblewrap_support()
    if backend == "bubblewrap" or bubblewrap.available:
        return bubblewrap
    fallback = _landlock_support()
    if fallback.available:
        return fallback
    return SandboxSupport(None, f"{bubblewrap.reason}; {fallback.reason}")


def clear_probes() -> None:
    """Forget the probes' results (after installing bubblewrap, or in tests)."""
    _bubblewrap_support.cache_clear()
    _landlock_support.cache_clear()


@functools.cache
def _landlock_support() -> SandboxSupport:
    if not sys.platform.startswith("linux"):
        return SandboxSupport(None, f"no Landlock on {sys.platform}")
    from agentcycle.tools.builtin._landlock import landlock_abi

    if landlock_abi() < 1:
        return SandboxSupport(None, "Landlock is not available in this kernel")
    return SandboxSupport("landlock")


@functools.cache
def _bubblewrap_support() -> SandboxSupport:
    """Probed by starting ``true`` in a sandbox with every namespace the commands get."""
    if not sys.platform.startswith("linux"):
        return SandboxSupport(None, f"no sandbox backend for {sys.platform}")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return SandboxSupport(None, "bubblewrap (bwrap) is not installed")
    argv = [bwrap, *BWRAP_NAMESPACES, "--unshare-net", "--cap-drop", "ALL"]
    argv += ["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"]
    try:
        probe = subprocess.run(argv, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return SandboxSupport(None, f"bubblewrap could not start: {exc}")
    if probe.returncode != 0:
        detail = probe.stderr.decode("utf-8", "replace").strip()[-500:]
        return SandboxSupport(None, f"bubblewrap cannot create its namespaces here: {detail}")
    return SandboxSupport("bubblewrap")


def resolve_policy(value: SandboxPolicy | SandboxMode | str | None) -> SandboxPolicy:
    """The policy a run's commands get: the one set (agent or run), else ``workspace-write``
    when this host can sandbox and ``off`` when it cannot."""
    if value is not None:
        return SandboxPolicy.of(value)
    return SandboxPolicy() if sandbox_support().available else OFF
