"""What the discovery tools may see: visibility rules, file-type globs, shared argument plumbing.

Hidden and ignored are judged on the path *below* the directory the call names, so asking for
``path="node_modules/pkg"`` or ``path=".github"`` explicitly lists or searches it. Sensitive is
judged on the whole workspace path: naming a secrets directory does not reveal its secrets;
``include_sensitive`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agentcycle._json import dumps
from agentcycle.errors import AgentcycleError
from agentcycle.messages import ToolResult
from agentcycle.tools.base import ToolContext
from agentcycle.workspace._glob import GlobMatcher
from agentcycle.workspace.base import WorkspaceBackend
from agentcycle.workspace.filters import is_ignored_dir_name, is_sensitive_path
from agentcycle.workspace.output_bounds import MAX_TOOL_OUTPUT_CHARS
from agentcycle.workspace.paths import is_addressable_name, path_name, relative_to

FILE_TYPES: dict[str, tuple[str, ...]] = {
    "py": ("*.py", "*.pyi"),
    "js": ("*.js", "*.mjs", "*.cjs", "*.jsx"),
    "ts": ("*.ts", "*.tsx", "*.mts", "*.cts"),
    "rust": ("*.rs",),
    "go": ("*.go",),
    "java": ("*.java",),
    "c": ("*.c", "*.h"),
    "cpp": ("*.cpp", "*.cc", "*.cxx", "*.c++", "*.hpp", "*.hh", "*.hxx", "*.h"),
    "md": ("*.md", "*.markdown"),
    "json": ("*.json",),
    "yaml": ("*.yaml", "*.yml"),
    "toml": ("*.toml",),
    "sh": ("*.sh", "*.bash", "*.zsh"),
    "html": ("*.html", "*.htm"),
    "css": ("*.css", "*.scss", "*.less"),
}
"""``search_files`` ``type`` names and the file-name globs each stands for (both engines)."""

RESULT_BUDGET_CHARS = MAX_TOOL_OUTPUT_CHARS - 1_000
"""What a structured (JSON) result of a discovery tool may take. The runtime cuts any longer
output as text, which would leave the model invalid JSON: these tools return fewer entries with
``truncated`` and ``next_offset`` instead. The margin is for the envelope (counts, hints)."""

VISIBILITY_PROPERTIES: dict[str, Any] = {
    "include_hidden": {
        "type": "boolean",
        "description": "Also look inside dot files and dot directories (default false).",
    },
    "include_ignored": {
        "type": "boolean",
        "description": (
            "Also look inside dependency, build and cache directories such as node_modules, "
            ".git, .venv, __pycache__, dist, build, target (default false)."
        ),
    },
    "include_sensitive": {
        "type": "boolean",
        "description": "Also show files that may hold secrets: .env, keys, credentials.",
    },
}


@dataclass(frozen=True, slots=True)
class Visibility:
    """The hidden / ignored / sensitive rules for one call rooted at the directory ``base``."""

    base: str
    include_hidden: bool = False
    include_ignored: bool = False
    include_sensitive: bool = False
    _verdicts: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_args(cls, base: str, args: dict[str, Any]) -> Visibility:
        """The rules a tool call's ``include_*`` arguments ask for."""
        return cls(
            base,
            bool(args.get("include_hidden", False)),
            bool(args.get("include_ignored", False)),
            bool(args.get("include_sensitive", False)),
        )

    def refusal(self, directory: str) -> str | None:
        """Why the walk must not enter ``directory`` (``"hidden"``/``"ignored"``), or None."""
        name = path_name(directory)
        if not self.include_ignored and is_ignored_dir_name(name):
            return "ignored"
        if not self.include_hidden and name.startswith("."):
            return "hidden"
        return None

    def shows(self, path: str, is_dir: bool) -> bool:
        """Whether a listed entry is visible, given that the walk already pruned its parents."""
        name = path_name(path)
        if not self.include_hidden and name.startswith("."):
            return False
        if is_dir and not self.include_ignored and is_ignored_dir_name(name):
            return False
        return self.include_sensitive or is_dir or not is_sensitive_path(path)

    def shows_file(self, path: str) -> bool:
        """Whether a file found by some other walk (ripgrep's) is visible, checking every part.

        Each segment below ``base`` must be addressable and every directory on the way must
        be one the walk would have entered.
        """
        relative = relative_to(path, self.base)
        directory, _, name = relative.rpartition("/")
        if not self._enterable(directory):
            return False
        if not is_addressable_name(name, top_level=not self.base and not directory):
            return False
        if not self.include_hidden and name.startswith("."):
            return False
        return self.include_sensitive or not is_sensitive_path(path)

    def _enterable(self, relative_dir: str) -> bool:
        """Whether every directory of a base-relative directory path may be walked (cached)."""
        verdict = self._verdicts.get(relative_dir)
        if verdict is None:
            verdict = not relative_dir or self._check_dir(relative_dir)
            self._verdicts[relative_dir] = verdict
        return verdict

    def _check_dir(self, relative_dir: str) -> bool:
        parent, _, name = relative_dir.rpartition("/")
        return (
            self._enterable(parent)
            and is_addressable_name(name, top_level=not self.base and not parent)
            and (self.include_hidden or not name.startswith("."))
            and (self.include_ignored or not is_ignored_dir_name(name))
        )


def type_matcher(file_type: str | None) -> GlobMatcher | None:
    """A matcher for file names of a ``type`` (``None`` for no type filter)."""
    if file_type is None:
        return None
    return GlobMatcher("{" + ",".join(FILE_TYPES[file_type]) + "}")


def workspace_of(ctx: ToolContext) -> WorkspaceBackend | ToolResult:
    """The run's workspace, or the error result a tool returns when the run has none."""
    if ctx.workspace is None:
        return ToolResult.error(
            "no_workspace", "This run has no workspace, so there are no files to look at."
        )
    workspace: WorkspaceBackend = ctx.workspace
    return workspace


def error_result(error: AgentcycleError) -> ToolResult:
    """A typed error as the tool result the model sees."""
    return ToolResult.error(error.code, error.message, details=error.details)


def iso_time(timestamp: float | None) -> str | None:
    """A POSIX timestamp as ISO 8601 UTC with seconds (``None`` stays ``None``)."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clamp(value: Any, default: int, low: int, high: int) -> int:
    """An integer argument with its default, clamped into ``low..high``."""
    return default if value is None else min(max(int(value), low), high)


def fitting(items: list[Any], budget: int) -> int:
    """How many of ``items``, from the first, fit in ``budget`` characters of compact JSON."""
    used = 0
    for count, item in enumerate(items):
        used += len(dumps(item)) + 1  # the separating comma
        if used > budget:
            return count
    return len(items)
