"""MCP server configurations and the common ``{"mcpServers": {...}}`` JSON file.

Pure data: nothing here imports the ``mcp`` SDK, so configurations can be built, compared and
validated without the extra installed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentcycle.errors import ConfigurationError

SERVER_NAME_PATTERN = re.compile(r"[a-zA-Z0-9_-]{1,64}")
"""Server names become the prefix of exposed tool names, so they use the tool-name charset."""

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_STARTUP_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class _Common:
    """What every server configuration has (see ``StdioServerConfig``)."""

    allowed_tools: tuple[str, ...] | None = None
    blocked_tools: tuple[str, ...] = ()
    timeout_s: float = DEFAULT_TIMEOUT_S
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S
    require_approval: bool = False
    cache_tools: bool = True

    def offers(self, tool_name: str) -> bool:
        """True when the filters let the server's tool ``tool_name`` through."""
        if tool_name in self.blocked_tools:
            return False
        return self.allowed_tools is None or tool_name in self.allowed_tools


@dataclass(frozen=True, slots=True, kw_only=True)
class StdioServerConfig(_Common):
    """A server started as a subprocess speaking MCP on its stdin/stdout.

    ``allowed_tools`` (``None``: all) and ``blocked_tools`` filter the server's tools by their
    MCP name; ``timeout_s`` bounds one call (``mcp_timeout``), ``startup_timeout_s`` the start
    (process, handshake, first listing); ``require_approval`` asks before
    every call of the server's tools; ``cache_tools`` keeps the tool list until the server
    announces a change (``False``: listed again for every run).
    """

    name: str = ""
    command: str = ""
    args: tuple[str, ...] = ()
    env: Mapping[str, str] | None = None
    cwd: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpServerConfig(_Common):
    """A server reached over streamable HTTP at ``url``, sending ``headers`` with every request.
    The filters and limits are those of ``StdioServerConfig``."""

    name: str = ""
    url: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


MCPServerConfig = StdioServerConfig | HttpServerConfig
"""One MCP server the run may use."""


def load_mcp_config(path: str | Path) -> tuple[MCPServerConfig, ...]:
    """The servers of a ``{"mcpServers": {name: {...}}}`` JSON file. A file that cannot be read
    or a bad entry raises ``ConfigurationError`` naming the file and the key."""
    source = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"{source}: cannot read MCP config: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigurationError(f"{source}: not valid JSON: {exc}") from None
    return parse_mcp_config(data, source=source)


def parse_mcp_config(data: Any, *, source: str = "MCP config") -> tuple[MCPServerConfig, ...]:
    """The servers of an already-parsed ``{"mcpServers": {...}}`` object (see
    ``load_mcp_config``); ``source`` names it in errors."""
    if not isinstance(data, Mapping) or not isinstance(data.get("mcpServers"), Mapping):
        raise ConfigurationError(f"{source}: expected an object with an 'mcpServers' object")
    return tuple(
        _server(name, entry, f"{source}: mcpServers.{name}")
        for name, entry in data["mcpServers"].items()
    )


_COMMON_KEYS = {
    "allowed_tools",
    "blocked_tools",
    "timeout_s",
    "startup_timeout_s",
    "require_approval",
    "cache_tools",
}
_STDIO_KEYS = {"command", "args", "env", "cwd", "type", *_COMMON_KEYS}
_HTTP_KEYS = {"url", "headers", "type", *_COMMON_KEYS}


def _server(name: str, entry: Any, where: str) -> MCPServerConfig:
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"{where}: expected an object")
    kind = entry.get("type")
    is_http = "url" in entry or kind in ("http", "streamable-http", "streamable_http")
    allowed = _HTTP_KEYS if is_http else _STDIO_KEYS
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ConfigurationError(f"{where}.{unknown[0]}: unknown key")
    if kind is not None and kind not in ("stdio", "http", "streamable-http", "streamable_http"):
        raise ConfigurationError(f"{where}.type: expected 'stdio' or 'http', got {kind!r}")
    common: dict[str, Any] = {
        "allowed_tools": _optional_names(entry, "allowed_tools", where),
        "blocked_tools": _optional_names(entry, "blocked_tools", where) or (),
        "timeout_s": _timeout(entry.get("timeout_s", DEFAULT_TIMEOUT_S), f"{where}.timeout_s"),
        "startup_timeout_s": _timeout(
            entry.get("startup_timeout_s", DEFAULT_STARTUP_TIMEOUT_S), f"{where}.startup_timeout_s"
        ),
        "require_approval": _flag(entry, "require_approval", False, where),
        "cache_tools": _flag(entry, "cache_tools", True, where),
    }
    config: MCPServerConfig
    if is_http:
        config = HttpServerConfig(
            name=name,
            url=_text(entry.get("url"), f"{where}.url"),
            headers=_strings(entry.get("headers", {}), f"{where}.headers"),
            **common,
        )
    else:
        cwd = entry.get("cwd")
        env = entry.get("env")
        config = StdioServerConfig(
            name=name,
            command=_text(entry.get("command"), f"{where}.command"),
            args=_names(entry.get("args", []), f"{where}.args"),
            env=_strings(env, f"{where}.env") if env is not None else None,
            cwd=_text(cwd, f"{where}.cwd") if cwd is not None else None,
            **common,
        )
    return check_server(config, where=where)


def check_server(config: MCPServerConfig, *, where: str | None = None) -> MCPServerConfig:
    """``config`` when it can work; else a ``ConfigurationError`` naming ``where`` (default:
    the server)."""
    where = where or f"MCP server {config.name!r}"
    if not SERVER_NAME_PATTERN.fullmatch(config.name):
        raise ConfigurationError(f"{where}: server name must be 1-64 letters, digits, '_' or '-'")
    if "__" in config.name:
        # ``<server>__<tool>`` must split back unambiguously.
        raise ConfigurationError(f"{where}: server name must not contain '__'")
    if isinstance(config, StdioServerConfig) and not config.command:
        raise ConfigurationError(f"{where}.command: required")
    if isinstance(config, HttpServerConfig) and not config.url.startswith(("http://", "https://")):
        raise ConfigurationError(f"{where}.url: expected an http(s) URL, got {config.url!r}")
    _timeout(config.timeout_s, f"{where}.timeout_s")
    _timeout(config.startup_timeout_s, f"{where}.startup_timeout_s")
    return config


def check_servers(configs: Sequence[MCPServerConfig]) -> tuple[MCPServerConfig, ...]:
    """Every config checked, and names unique."""
    seen: set[str] = set()
    for config in configs:
        if not isinstance(config, StdioServerConfig | HttpServerConfig):
            raise ConfigurationError(
                f"mcp_servers: expected StdioServerConfig or HttpServerConfig, got "
                f"{type(config).__name__}"
            )
        check_server(config)
        if config.name in seen:
            raise ConfigurationError(f"mcp_servers: two servers are named {config.name!r}")
        seen.add(config.name)
    return tuple(configs)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{where}: expected a non-empty string")
    return value


def _names(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(f"{where}: expected a list of strings")
    return tuple(value)


def _optional_names(entry: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = entry.get(key)
    return None if value is None else _names(value, f"{where}.{key}")


def _strings(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigurationError(f"{where}: expected an object of strings")
    return dict(value)


def _flag(entry: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    value = entry.get(key, default)
    if not isinstance(value, bool):
        raise ConfigurationError(f"{where}.{key}: expected true or false")
    return value


def _timeout(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigurationError(f"{where}: expected a number of seconds > 0")
    return float(value)
