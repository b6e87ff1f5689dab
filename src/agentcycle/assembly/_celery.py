"""``execution="celery"``, the submitting side: compile the run here, create its log in the
store, and hand it to the workers by sending one ``run_segment`` task through the broker.

Workers rebuild the agent from an *agent factory* named in the run itself (``module:name``,
kept in the run's metadata under ``FACTORY_KEY``): the submitter and every worker call the same
code, so they run the same agent. Celery is imported only here and in ``agentcycle.workers``,
when a Celery run is submitted (extra ``celery``).
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from agentcycle.agent import Agent
from agentcycle.errors import BrokerUnavailable, ConfigurationError
from agentcycle.messages import ToolResult
from agentcycle.run_config import RunConfig
from agentcycle.runtime.approvals import ApprovalAction, ApprovalDecision
from agentcycle.runtime.durable import Durability
from agentcycle.stores.checkpoint_urls import shown_url

TASK_NAME = "agentcycle.run_segment"
"""The Celery task that runs a segment of a durable run's cycles (``agentcycle.workers``)."""

QUEUE = "agentcycle"
"""The queue segments are sent to and workers consume."""

BROKER_ENV = "AGENTCYCLE_BROKER_URL"
"""The environment variable naming the broker when ``RunConfig.broker`` is not set."""

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
"""The broker without ``RunConfig.broker`` or ``AGENTCYCLE_BROKER_URL``: the local Redis."""

FACTORY_KEY = "agentcycle.agent_factory"
"""The run metadata key that names the agent factory (``module:name``)."""

DURABILITY_KEY = "agentcycle.durability"
"""The run metadata key that carries the run's ``Durability`` options for its workers."""

_clients: dict[tuple[int, str], Any] = {}
_clients_lock = threading.Lock()


def broker_url(explicit: str | None) -> str:
    """The broker: ``explicit``, else ``AGENTCYCLE_BROKER_URL``, else the local Redis."""
    return explicit or os.environ.get(BROKER_ENV) or DEFAULT_BROKER


def load_agent_factory(
    reference: str, metadata: Mapping[str, Any]
) -> tuple[Agent, RunConfig | None]:
    """Import ``reference`` (``module:name``): an ``Agent``, or a callable given the run's
    metadata that returns an ``Agent`` or ``(Agent, RunConfig)``. Raises
    ``ConfigurationError`` for anything else."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(
            f"agent factory {reference!r}: expected 'module:name'",
            details={"agent_factory": reference},
        )
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            f"agent factory {reference!r} cannot be imported: {exc}",
            details={"agent_factory": reference},
        ) from exc
    made = target(dict(metadata)) if callable(target) else target
    config: RunConfig | None = None
    if isinstance(made, tuple) and len(made) == 2:
        made, config = made
    if not isinstance(made, Agent) or not (config is None or isinstance(config, RunConfig)):
        raise ConfigurationError(
            f"agent factory {reference!r} must give an Agent or (Agent, RunConfig), not "
            f"{type(made).__name__}",
            details={"agent_factory": reference},
        )
    return made, config


def check_worker_store(config: RunConfig) -> None:
    """Refuse a ``checkpoint_store`` the workers could not open (unset, an instance, or
    ``memory:``)."""
    store = config.checkpoint_store
    if not isinstance(store, str) or store.startswith("memory:"):
        raise ConfigurationError(
            "execution='celery' needs RunConfig.checkpoint_store as a URL the workers can open "
            "(sqlite:///path or redis://host:port/db), not "
            f"{'memory:' if isinstance(store, str) else type(store).__name__}",
            details={"execution": "celery"},
        )


def celery_config(config: RunConfig, factory: str) -> RunConfig:
    """``config`` made ready for submission: a store URL the workers can open, the factory
    and the durability options recorded in the run's metadata."""
    check_worker_store(config)
    options = config.durability or Durability()
    durability = {
        "lease_ttl": options.lease_ttl,
        "on_unverified": str(options.on_unverified),
        "max_takeovers": options.max_takeovers,
    }
    metadata = {**config.metadata, FACTORY_KEY: factory, DURABILITY_KEY: durability}
    return replace(config, metadata=metadata, execution="celery")


def stored_durability(metadata: Mapping[str, Any]) -> Durability:
    """The ``Durability`` a submitted run was given (``celery_config``)."""
    stored = metadata.get(DURABILITY_KEY) or {}
    return Durability(**stored)


@dataclass(frozen=True, slots=True)
class HostAnswer:
    """What the host answered a run waiting in its log with (``SubmittedRun.resume``), sent
    with the segment that continues the run. ``after_seq`` is the log's last record when the
    host answered: a worker applies the answer only to that same wait, so a redelivered task
    never answers a later one."""

    after_seq: int
    input: str | None = None
    approvals: Mapping[str, ApprovalDecision] = field(default_factory=dict)
    resolutions: Mapping[str, ToolResult | str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The task argument (Celery's JSON serializer)."""
        return {
            "after_seq": self.after_seq,
            "input": self.input,
            "approvals": {
                key: {"action": str(d.action), "reason": d.reason}
                for key, d in self.approvals.items()
            },
            "resolutions": {
                key: value if isinstance(value, str) else value.model_dump(mode="json")
                for key, value in self.resolutions.items()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HostAnswer:
        """The answer a task carries (``to_json``)."""
        return cls(
            after_seq=int(data["after_seq"]),
            input=data.get("input"),
            approvals={
                key: ApprovalDecision(ApprovalAction(d["action"]), d.get("reason"))
                for key, d in (data.get("approvals") or {}).items()
            },
            resolutions={
                key: value if isinstance(value, str) else ToolResult.model_validate(value)
                for key, value in (data.get("resolutions") or {}).items()
            },
        )


def send_segment(broker: str, run_id: str, answer: HostAnswer | None = None) -> None:
    """Queue one ``run_segment`` task for ``run_id`` on ``broker``, carrying the host's
    ``answer`` to the run's wait when there is one (a client per broker URL, kept for the
    process; a forked pool child opens its own, never its parent's socket)."""
    key = (os.getpid(), broker)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            try:
                from celery import Celery
            except ImportError as exc:
                raise ConfigurationError(
                    "execution='celery' needs the celery extra: pip install 'agentcycle[celery]'"
                ) from exc
            client = _clients[key] = Celery("agentcycle-client", broker=broker)
    kwargs = {} if answer is None else {"answer": answer.to_json()}
    from kombu.exceptions import OperationalError

    try:
        client.send_task(TASK_NAME, args=[run_id], kwargs=kwargs, queue=QUEUE)
    except OperationalError as exc:
        shown = shown_url(broker)
        raise BrokerUnavailable(
            f"cannot reach the Celery broker {shown}: {exc}", details={"broker": shown}
        ) from exc
