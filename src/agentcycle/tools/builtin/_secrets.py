"""Keeping credentials away from the model: the shell's environment, secret files, redaction.

Three layers, each for a way a key could reach a tool result:

- **Environment.** ``bash`` gets an environment built from :data:`BASE_ENV_NAMES` (and
  ``LC_*``) plus the names the run adds (``RunConfig.shell_env``), never the host's whole
  environment. A name that looks like a credential (:func:`looks_like_credential`) passes only
  when it is named exactly: a pattern such as ``MYAPP_*`` never lets ``MYAPP_TOKEN`` through.
- **Files.** With :class:`SecretFiles` refusing (the default), ``read_file`` and ``edit_file``
  refuse sensitive paths (``workspace.filters.is_sensitive_path``: ``.env*``, keys,
  credentials, settings files) and the settings file in use, and ``search_files`` refuses
  ``include_sensitive``; the refusal's code is ``sensitive_path``.
- **Redaction.** The shell can read any file, so its output is scrubbed of the secret values
  the host knows: credential-looking variables of the host environment and credential-looking
  assignments in the workspace's top-level secret files and the settings file in use. This is
  a safety net for the obvious leaks (``env``, ``cat .env``), not a sandbox: a command that
  encodes a value on purpose gets it through.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agentcycle.errors import AgentcycleError
from agentcycle.messages import ToolResult
from agentcycle.tools.base import RunScope, ToolContext
from agentcycle.tools.builtin._tool import BuiltinTool
from agentcycle.workspace.filters import is_sensitive_path
from agentcycle.workspace.paths import normalize_path

SENSITIVE_PATH = "sensitive_path"
"""The error code of a refusal to read or search a secret file."""

BASE_ENV_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TERM",
        "TMPDIR",
        "TMP",
        "TEMP",
        "TZ",
        "HOSTNAME",
    }
)
"""Variables every command gets from the host (plus every ``LC_*``)."""

_CREDENTIAL_NAME = re.compile(
    r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE|CERT|DSN|CONN",
    re.IGNORECASE,
)
_ASSIGNMENT = re.compile(r"""(?P<name>[A-Za-z0-9_.-]+)["']?\s*[:=]\s*["']?(?P<value>[^\s"',;}]+)""")
_CREDENTIAL_WORDS = tuple(_CREDENTIAL_NAME.pattern.lower().split("|"))
_NAME_REST = re.compile(r"[A-Za-z0-9_.-]*")
_ASSIGNED = re.compile(r"""["']?\s*[:=]\s*["']?(?P<value>[^\s"',;}]+)""")
"""What follows a credential-looking name in an assignment (``=value``, ``": "value``)."""
MIN_SECRET_CHARS = 8
"""Values shorter than this are not redacted: they would blank out ordinary words."""

REDACTED = "[REDACTED]"
_O_PATH = getattr(os, "O_PATH", os.O_RDONLY)
_MAX_SECRET_FILE_BYTES = 256 * 1024


def looks_like_credential(name: str) -> bool:
    """Whether an environment variable or setting name suggests it holds a secret."""
    return _CREDENTIAL_NAME.search(name) is not None


def shell_environment(host: Mapping[str, str], extra: Sequence[str] = ()) -> dict[str, str]:
    """The host variables a command may see: the base set, ``LC_*``, and ``extra`` names
    (exact names, or ``fnmatch`` patterns that never match a credential-looking name)."""
    exact = {name for name in extra if not any(c in name for c in "*?[")}
    patterns = [name for name in extra if name not in exact]
    env: dict[str, str] = {}
    for name, value in host.items():
        if (
            name in exact
            or name in BASE_ENV_NAMES
            or (name.startswith("LC_") and not looks_like_credential(name))
            or (
                not looks_like_credential(name)
                and any(fnmatch.fnmatchcase(name, p) for p in patterns)
            )
        ):
            env[name] = value
    return env


SETTINGS_ENV = "AGENTCYCLE_SETTINGS"


@dataclass(frozen=True, slots=True)
class SecretFiles:
    """Which files the workspace tools refuse to show and the shell's output hides.

    ``allow`` lets the tools read sensitive paths (``RunConfig.read_sensitive_files``);
    ``settings_files`` are host paths of settings files in use (``RunConfig.settings_file``, the
    file the run's model provider read; ``$AGENTCYCLE_SETTINGS`` is always added), refused
    wherever they lie in the workspace.
    """

    allow: bool = False
    settings_files: tuple[str, ...] = ()
    keys: frozenset[str] = field(default=frozenset(), repr=False)
    """Literal API keys of the settings in use, redacted wherever they turn up (never shown in
    this object's repr)."""

    def in_use(self) -> list[Path]:
        """The settings files in use, as host paths."""
        named = [*self.settings_files, os.environ.get(SETTINGS_ENV, "")]
        return [Path(name) for name in named if name]

    def refuses(self, path: str, root: Path | None) -> bool:
        """Whether the normalised workspace path ``path`` must not be read or searched."""
        if not self.allow and is_sensitive_path(path):
            return True
        if root is None or not path:
            return False
        # Cheap first: a settings file is only a match when its name is the path's name.
        name = path.rpartition("/")[2]
        return any(f.name == name and settings_path_in(root, f) == path for f in self.in_use())


DEFAULT_SECRET_FILES = SecretFiles()


def provider_secrets(provider: object) -> tuple[tuple[str, ...], frozenset[str]]:
    """The settings file a model provider read (``settings.source``) and the literal API keys
    in its settings, for a provider that has them (``SettingsModelProvider``, the CLI's)."""
    settings = getattr(provider, "settings", None)
    source = getattr(settings, "source", None)
    keys: set[str] = set()
    for endpoint in getattr(settings, "endpoints", ()):
        reveal = getattr(getattr(endpoint, "api_key", None), "get_secret_value", None)
        value = reveal() if callable(reveal) else None
        if isinstance(value, str) and len(value) >= MIN_SECRET_CHARS:
            keys.add(value)
    return ((source,) if isinstance(source, str) else ()), frozenset(keys)


_HOST_SECRETS = "secrets.host"
"""Where a run's :func:`host_secrets` are kept in its ``RunScope``."""


def host_secrets(host: Mapping[str, str]) -> frozenset[str]:
    """The values of the credential-looking variables of the host environment ``host``."""
    return frozenset(
        value
        for name, value in host.items()
        if len(value) >= MIN_SECRET_CHARS and looks_like_credential(name)
    )


def file_secrets(root: Path | None, files: Iterable[Path] = ()) -> frozenset[str]:
    """The credential-looking values in ``files`` and the secret files at the top of
    ``root`` (see the module docstring)."""
    values: set[str] = set()
    candidates = [str(path) for path in files]
    if root is not None:
        with contextlib.suppress(OSError):
            listed = _secret_names(str(root), os.stat(root).st_mtime_ns)
            candidates += [os.path.join(root, name) for name in listed]
    for path in candidates:
        with contextlib.suppress(OSError):
            info = os.stat(path)
            values.update(_file_secrets(path, info.st_mtime_ns, info.st_size))
    return frozenset(values)


def top_level_secret_files(root: Path) -> list[Path]:
    """The files at the top of ``root`` that look like secret files (``.env*``, keys ...)."""
    try:
        listed = _secret_names(str(root), os.stat(root).st_mtime_ns)
    except OSError:
        return []
    return [root / name for name in listed]


# Both memos are keyed by modification time, so a tool call pays for a directory listing and
# a file read only when something changed since the last call; and both are small.
@functools.lru_cache(maxsize=64)
def _secret_names(root: str, mtime_ns: int) -> tuple[str, ...]:
    """The top-level entries of ``root`` that look like secret files."""
    with os.scandir(root) as scan:
        return tuple(
            entry.name
            for entry in scan
            if is_sensitive_path(entry.name) and entry.is_file(follow_symlinks=False)
        )


@functools.lru_cache(maxsize=256)
def _file_secrets(path: str, mtime_ns: int, size: int) -> frozenset[str]:
    """The values of credential-looking assignments in the file at ``path``."""
    try:
        with open(path, "rb") as handle:
            text = handle.read(_MAX_SECRET_FILE_BYTES).decode("utf-8", "replace")
    except OSError:
        return frozenset()
    return frozenset(
        match["value"]
        for match in _ASSIGNMENT.finditer(text)
        if looks_like_credential(match["name"]) and len(match["value"]) >= MIN_SECRET_CHARS
    )


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of every secret replaced by :data:`REDACTED`."""
    # Longest first, so a secret that contains another is replaced whole.
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def scrub_assignments(text: str) -> str:
    """``text`` with the value of every credential-looking assignment (``API_KEY=...``,
    ``"token": "..."``) replaced by :data:`REDACTED`: for text whose secrets the host may not
    know (a custom tool's result)."""
    if "=" not in text and ":" not in text:
        return text
    parts: list[str] = []
    kept = checked = 0
    for start in _credential_words_at(text):
        if start < checked:
            continue  # within a word (or a value) already looked at
        rest = _NAME_REST.match(text, start)
        checked = rest.end() if rest is not None else start
        assigned = _ASSIGNED.match(text, checked)
        if assigned is None or len(assigned["value"]) < MIN_SECRET_CHARS:
            continue
        parts += (text[kept : assigned.start("value")], REDACTED)
        kept = checked = assigned.end()
    return "".join(parts) + text[kept:] if parts else text


def _credential_words_at(text: str) -> list[int]:
    """Where the words ``looks_like_credential`` looks for occur in ``text``, in order. Plain
    substring scans of the lower-cased text: several times faster than the case-insensitive
    pattern on a hot path (every tool call's preview)."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a character whose lower case is longer: scan as is
        return [hit.start() for hit in _CREDENTIAL_NAME.finditer(text)]
    found: list[int] = []
    for word in _CREDENTIAL_WORDS:
        at = lowered.find(word)
        while at >= 0:
            found.append(at)
            at = lowered.find(word, at + 1)
    found.sort()
    return found


def run_host_secrets(scope: RunScope) -> frozenset[str]:
    """The host's credentials (:func:`host_secrets` of ``os.environ``), read once per run and
    kept in its ``scope``."""
    secrets: frozenset[str] = scope.get_or_create(_HOST_SECRETS, lambda: host_secrets(os.environ))
    return secrets


def settings_path_in(root: Path, settings_file: str | os.PathLike[str] | None) -> str | None:
    """The workspace path of the settings file in use when it lies inside ``root``."""
    if settings_file is None:
        return None
    try:
        real = Path(os.path.realpath(settings_file))
        relative = real.relative_to(os.path.realpath(root))
    except (OSError, ValueError):
        return None
    return relative.as_posix()


def _local_root(workspace: object) -> Path | None:
    root = getattr(workspace, "local_root", None)
    return Path(root) if root is not None else None


def _real_workspace_path(root: Path, path: str) -> str | None:
    """Where ``path`` leads through symlinks, as a workspace path (``None`` when outside or
    missing). The kernel resolves it (an ``O_PATH`` descriptor read back through ``/proc``),
    much faster than ``os.path.realpath``'s walk; ``realpath`` where there is no ``/proc``."""
    full = os.path.join(root, path)
    try:
        fd = os.open(full, _O_PATH | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        real = os.path.realpath(full)
    finally:
        os.close(fd)
    prefix = str(root).rstrip("/") + "/"
    return real[len(prefix) :] if real.startswith(prefix) else None


def _refused_path(args: Mapping[str, Any], files: SecretFiles, root: Path | None) -> str | None:
    """The path argument of a read or edit that names a secret file, if it does."""
    raw = args.get("path")
    if not isinstance(raw, str):
        return None
    try:
        path = normalize_path(raw)
    except AgentcycleError:
        return None  # the tool itself reports the bad path
    if files.refuses(path, root):
        return path
    if root is not None:
        real = _real_workspace_path(root, path)
        if real is not None and real != path and files.refuses(real, root):
            return path
    return None


def guard_secrets(tool: BuiltinTool, files: SecretFiles, *, reads_path: bool) -> BuiltinTool:
    """``tool`` with secret files refused (when ``reads_path``: its ``path`` argument is read;
    ``include_sensitive`` is refused unless ``files.allow``) and secret values redacted from
    its output."""
    inner = tool.handler

    async def handler(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        root = _local_root(ctx.workspace)
        if args.get("include_sensitive") and not files.allow:
            return ToolResult.error(
                SENSITIVE_PATH,
                "Reading files that may hold secrets is disabled for this run "
                "(include_sensitive is refused).",
            )
        refused = _refused_path(args, files, root) if reads_path else None
        if refused is not None:
            return ToolResult.error(
                SENSITIVE_PATH,
                f"{refused!r} may hold secrets (keys, credentials, settings); workspace tools "
                "do not read it in this run.",
                details={"path": refused},
            )
        result = await inner(ctx, args)
        # The host's credentials are read once per run (iterating os.environ is slow).
        secrets = run_host_secrets(ctx.scope) | files.keys | file_secrets(root, files.in_use())
        content = redact(result.content, secrets)
        return (
            result if content == result.content else result.model_copy(update={"content": content})
        )

    return replace(tool, handler=handler)
