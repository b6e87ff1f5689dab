"""The CLI's agents file (``--agents FILE``): a team of agents in YAML (``.yaml``/``.yml``) or
JSON (``.json``)::

    entry: triage                  # receives --prompt (default: the first agent)
    agents:
      triage:
        instructions: Route each request to the right specialist.
        handoffs: [billing]        # a transfer_to_billing tool: billing takes over the run
        agent_tools: [researcher]  # a researcher tool: runs researcher as a child run
        sub_agents: [analyst]      # create_sub_task / sub_task_status: background tasks
      billing:
        description: Payments, invoices and refunds.
        backend: local
        model: qwen3
      researcher:
        description: Looks things up in the workspace and reports what it found.
        agent_type: computer
        max_cycles: 20
      analyst:
        description: Reads one part of the workspace and summarises it.

Every key of an agent is optional. ``description`` is what other agents are told about it (in
the ``transfer_to_`` and agent-as-tool tool descriptions); ``instructions`` default to the
CLI's own; ``backend`` / ``model`` resolve through the CLI's settings file; ``max_cycles``
bounds the runs the agent starts (the whole run for the entry agent, since a handoff continues
the same run; its own child run when called as a tool); ``agent_type: computer`` offers the
shell tools. The CLI's flags are the defaults of every key an agent does not set. A
sub-agent's id in ``create_sub_task`` is its name here, and its tasks run at most its
``max_cycles`` (default 8, as for ``SubAgent``).

Everything is checked before anything runs, and each problem is one ``AgentsFileError`` line
naming the file and the key: unknown keys, wrong types, references to agents the file does
not define, an agent handing off to itself, and agent-tool or sub-agent references that lead
back to the caller (directly, or through handoffs and other agent tools), which would let a run nest
itself without end. Handoff cycles (triage -> billing -> triage) are fine: they stay in one
run, bounded by ``max_handoffs``.

The format is the CLI's; an SDK host builds the same team in Python (``Agent(handoffs=...)``,
``Agent.as_tool``, ``Agent(sub_agents=...)``). Keys naming other agents are listed in
``_REFERENCES``; those that start child runs also in ``_NESTING``.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from agentcycle._validation import field_path, one_line
from agentcycle.agent import Agent
from agentcycle.errors import AgentsFileError, ConfigurationError, ToolDefinitionError
from agentcycle.handoffs import agent_slug, handoff
from agentcycle.models.base import Model, ModelRef, ModelSettings
from agentcycle.sub_agents import DEFAULT_SUB_AGENT_MAX_CYCLES, SubAgent, check_sub_agents

SUFFIXES = (".yaml", ".yml", ".json")
_MAX_REPORTED_ERRORS = 4


class AgentSpec(BaseModel):
    """One agent of the file; unset keys take the CLI's defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    description: str | None = None
    instructions: str | None = None
    backend: str | None = None
    model: str | None = None
    max_cycles: int | None = Field(default=None, ge=1)
    agent_type: Literal["default", "computer"] | None = None
    handoffs: list[str] = Field(default_factory=list)
    """Agents this one can hand the run to."""
    agent_tools: list[str] = Field(default_factory=list)
    """Agents this one can call as tools (each call is a child run)."""
    sub_agents: list[str] = Field(default_factory=list)
    """Agents this one can give tasks with ``create_sub_task`` (each task is a child run)."""

    @field_validator("description", "instructions")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        # ``description: " "`` says nothing: the default applies, as for an empty string
        # (a sub-agent needs a description the delegating model can read).
        return value if value is None or value.strip() else None


_REFERENCES: dict[str, str] = {
    "handoffs": "an agent cannot hand off to itself",
    "agent_tools": "an agent cannot call itself as a tool",
    "sub_agents": "an agent cannot be its own sub-agent",
}
"""The keys of an agent that name other agents of the file, and why one cannot name itself."""

_NESTING: dict[str, str] = {
    "agent_tools": "calling {target!r} as a tool",
    "sub_agents": "giving {target!r} sub-tasks",
}
"""The reference keys whose use starts a child run (so a reference back to the caller would
let a run nest itself without end), and how that use is worded."""


class AgentsFile(BaseModel):
    """A validated agents file."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    entry: str | None = None
    agents: dict[str, AgentSpec] = Field(min_length=1)
    _source: str = PrivateAttr(default="agents file")

    @field_validator("agents", mode="before")
    @classmethod
    def _empty_agents_are_defaults(cls, value: Any) -> Any:
        # ``billing:`` with nothing under it is an agent with every default.
        if isinstance(value, dict):
            return {name: {} if spec is None else spec for name, spec in value.items()}
        return value

    @property
    def source(self) -> str:
        """The file this was read from (how errors name it)."""
        return self._source

    @property
    def entry_name(self) -> str:
        """The agent that receives the prompt: ``entry``, else the first agent."""
        return self.entry or next(iter(self.agents))


def load_agents_file(path: Path) -> AgentsFile:
    """Read and validate an agents file; raises ``AgentsFileError`` naming the file and key."""
    source = str(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise AgentsFileError(
            f"{source}: unsupported agents file type {suffix or '(none)'!r}; use .yaml, .yml or "
            ".json",
            details={"path": source},
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AgentsFileError(
            f"agents file {source} does not exist", details={"path": source}
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc.strerror
        raise AgentsFileError(
            f"{source}: cannot read the agents file ({reason})", details={"path": source}
        ) from None
    data = _parse_json(text, source) if suffix == ".json" else _parse_yaml(text, source)
    return parse_agents_file(data, source=source)


def parse_agents_file(data: Any, *, source: str = "agents file") -> AgentsFile:
    """Validate the contents of an agents file: shape and types, then the references between
    agents. Raises ``AgentsFileError``."""
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise AgentsFileError(
            f"{source}: an agents file is a mapping with an 'agents' key, not {kind}",
            details={"path": source},
        )
    try:
        team = AgentsFile.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(error) for error in exc.errors(include_url=False)]
        raise AgentsFileError(
            f"{source}: {one_line(problems, _MAX_REPORTED_ERRORS)}",
            details={"path": source, "errors": problems},
        ) from None
    team._source = source
    _check_team(team)
    return team


@dataclass(frozen=True, slots=True)
class AgentDefaults:
    """What an agent gets for a key it does not set: the CLI's flags."""

    instructions: str
    max_cycles: int
    agent_type: str
    model_settings: ModelSettings | None = None
    skills_dirs: tuple[Path, ...] = ()


ModelChooser = Callable[[str | None, str | None], Model | ModelRef]
"""The model for an agent's ``backend`` and ``model`` keys (``None`` when unset); raises
``ConfigurationError`` when they name nothing usable."""


def build_team(team: AgentsFile, defaults: AgentDefaults, model_for: ModelChooser) -> Agent:
    """The entry agent of ``team``, wired to the others through handoffs and agent tools.

    CLI-wide settings (sampling flags, skills directories) go on every agent rather than on
    the run, so the child runs of agent tools get them too. Raises ``AgentsFileError`` for a
    model that does not resolve or an agent tool whose name another tool of its caller has."""
    agents: dict[str, Agent] = {}
    for name, spec in team.agents.items():
        try:
            model = model_for(spec.backend, spec.model)
        except ConfigurationError as exc:
            key = "model" if spec.model is not None else "backend"
            raise _error(team, f"agents.{name}.{key}", exc.message) from None
        agents[name] = Agent(
            name=name,
            instructions=spec.instructions or defaults.instructions,
            model=model,
            model_settings=defaults.model_settings,
            max_cycles=spec.max_cycles or defaults.max_cycles,
            shell_tools=(spec.agent_type or defaults.agent_type) == "computer",
            skills_dirs=defaults.skills_dirs,
        )
    # Every agent exists before any is wired, so references may form handoff cycles.
    for name, spec in team.agents.items():
        agent = agents[name]
        agent.handoffs = tuple(
            handoff(agents[target], team.agents[target].description) for target in spec.handoffs
        )
        agent.tools = tuple(
            agents[target].as_tool(description=_tool_description(target, team.agents[target]))
            for target in spec.agent_tools
        )
        agent.sub_agents = {
            target: SubAgent(
                agents[target],
                team.agents[target].description or f"The agent {target!r}.",
                max_cycles=team.agents[target].max_cycles or DEFAULT_SUB_AGENT_MAX_CYCLES,
            )
            for target in spec.sub_agents
        }
        try:
            check_sub_agents(agent.sub_agents)
        except ConfigurationError as exc:
            raise _error(team, f"agents.{name}.sub_agents", exc.message) from None
        _check_tool_names(team, name, agent)
    return agents[team.entry_name]


# --------------------------------------------------------------------------- checks


def _check_team(team: AgentsFile) -> None:
    names = list(team.agents)
    if team.entry is not None and team.entry not in team.agents:
        raise _error(team, "entry", _unknown(team.entry, names))
    slugs: dict[str, str] = {}
    for name in names:
        try:
            slug = agent_slug(name)
        except ConfigurationError:
            raise _error(
                team, f"agents.{name}", "an agent name needs letters or digits (it names tools)"
            ) from None
        if slug in slugs:
            raise _error(
                team,
                f"agents.{name}",
                f"its tool name {slug!r} is also that of agent {slugs[slug]!r}; rename one",
            )
        slugs[slug] = name
    for name, spec in team.agents.items():
        for key, naming_itself in _REFERENCES.items():
            seen: set[str] = set()
            for index, target in enumerate(_references(spec, key)):
                where = f"agents.{name}.{key}[{index}]"
                if target not in team.agents:
                    raise _error(team, where, _unknown(target, names))
                if target in seen:
                    raise _error(team, where, f"{target!r} is listed twice")
                if target == name:
                    raise _error(team, where, naming_itself)
                seen.add(target)
    for name, spec in team.agents.items():
        for key, use in _NESTING.items():
            for index, target in enumerate(_references(spec, key)):
                path = _path_between(team, target, name)
                if path is not None:
                    raise _error(
                        team,
                        f"agents.{name}.{key}[{index}]",
                        f"{use.format(target=target)} can lead back to {name!r} "
                        f"({' -> '.join([name, *path])}), so a run could nest itself without "
                        "end",
                    )


def _references(spec: AgentSpec, key: str) -> Sequence[str]:
    value: Sequence[str] = getattr(spec, key)
    return value


def _path_between(team: AgentsFile, start: str, goal: str) -> list[str] | None:
    """The agents from ``start`` to ``goal`` along any references (breadth first, so the
    shortest), or ``None`` when ``goal`` cannot be reached."""
    previous: dict[str, str | None] = {start: None}
    queue = [start]
    for current in queue:
        if current == goal:
            path: list[str] = []
            step: str | None = current
            while step is not None:
                path.append(step)
                step = previous[step]
            return path[::-1]
        spec = team.agents[current]
        for key in _REFERENCES:
            for target in _references(spec, key):
                if target not in previous:
                    previous[target] = current
                    queue.append(target)
    return None


def _check_tool_names(team: AgentsFile, name: str, agent: Agent) -> None:
    """Refuse an agent tool named like one of the caller's built-in tools now, not when the
    run (or a child run, much later) assembles the caller's tools."""
    from agentcycle.assembly._tools import assemble_tools

    try:
        # The CLI always has a workspace; multimodal adds read_image, the widest tool set.
        assemble_tools(agent, workspace=True, multimodal=True)
    except ToolDefinitionError as exc:
        raise _error(
            team,
            f"agents.{name}.agent_tools",
            f"{exc.message} An agent offered as a tool is named after the agent; rename it.",
        ) from None


# --------------------------------------------------------------------------- messages


def _tool_description(name: str, spec: AgentSpec) -> str:
    what = f" {spec.description.rstrip('.')}." if spec.description else ""
    return (
        f"Delegate a task to the agent {name!r}.{what} It works on its own with its own tools "
        "and returns its final answer as this tool's result."
    )


def _unknown(name: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"no agent named {name!r} in this file (agents: {', '.join(names)}){hint}"


def _error(team: AgentsFile, key: str, message: str) -> AgentsFileError:
    return AgentsFileError(
        f"{team.source}: {key}: {message}", details={"path": team.source, "key": key}
    )


def _problem(error: Mapping[str, Any]) -> str:
    location = tuple(error["loc"])
    if location[-1:] == ("[key]",):  # a mapping key of the wrong type: report its mapping
        message = f"{location[-2]!r} is not a name (names are strings)"
        location = location[:-2]
    elif error["type"] == "missing":
        message = "missing (an agents file lists its agents under 'agents')"
    elif location == ("agents",) and error["type"] == "too_short":
        message = "the team needs at least one agent"
    elif error["type"] == "extra_forbidden":
        known = AgentSpec.model_fields if len(location) == 3 else AgentsFile.model_fields
        message = f"unknown key (known: {', '.join(known)})"
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
    key = field_path(location)
    return f"{key}: {message}" if key else message


def _parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise AgentsFileError(
            f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            details={"path": source, "line": exc.lineno},
        ) from None
    except _DuplicateKey as exc:
        raise AgentsFileError(
            f"{source}: invalid JSON: duplicate key {exc.key!r}", details={"path": source}
        ) from None


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a repeated key (``json`` would keep the last silently)."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise _DuplicateKey(key)
        data[key] = value
    return data


def _parse_yaml(text: str, source: str) -> Any:
    from agentcycle._yaml import YAMLProblem, load_strict

    try:
        return load_strict(text)
    except YAMLProblem as exc:
        where = f" at line {exc.line + 1}, column {exc.column + 1}" if exc.line is not None else ""
        raise AgentsFileError(
            f"{source}: invalid YAML{where}: {exc.problem}", details={"path": source}
        ) from None
