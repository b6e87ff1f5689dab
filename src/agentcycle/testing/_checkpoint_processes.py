"""Store calls in other processes, for the checkpoint conformance suite's cross-process cases.

The suite calls :func:`in_processes`; each child runs

    python -m agentcycle.testing._checkpoint_processes OPENER URL

``OPENER`` is ``module:function``, called with ``URL`` to open the store. The process reads one
JSON line from stdin, a list of calls ``[method, {argument: value}]`` on the store (records of
``append`` as ``[kind, key, payload]`` triples), opens the store and touches it once, prints
``ready`` and waits for a line on stdin: the suite releases every process at once. It then
makes the calls in order and prints one JSON line, a list with each call's result as JSON (a
typed error as ``{"error": code}``).
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import json
import sys
from collections.abc import Callable
from typing import Any

from agentcycle.errors import AgentcycleError
from agentcycle.stores.checkpoints import CheckpointStore
from agentcycle.stores.run_records import NewRecord
from agentcycle.testing._processes import released_together


def opener(spec: str) -> Callable[[str], CheckpointStore]:
    """The function ``module:function`` names."""
    module, _, name = spec.partition(":")
    function: Callable[[str], CheckpointStore] = getattr(importlib.import_module(module), name)
    return function


def jsonable(value: Any) -> Any:
    """A store's answer as JSON: dataclasses as objects (with a record's ``payload``), enums
    as their values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if "payload_json" in fields:
            fields["payload"] = json.loads(fields.pop("payload_json"))
        return fields
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


def call(store: CheckpointStore, method: str, arguments: dict[str, Any]) -> Any:
    """One call on ``store``; a typed error becomes ``{"error": code}``."""
    if method == "append":
        arguments = {**arguments, "records": [NewRecord(*r) for r in arguments["records"]]}
    try:
        return jsonable(getattr(store, method)(**arguments))
    except AgentcycleError as exc:
        return {"error": exc.code}


def in_processes(
    store_opener: str, store_url: str, calls: list[list[list[Any]]]
) -> list[list[Any]]:
    """Each list of calls in its own process, all released at once; their results."""
    module = "agentcycle.testing._checkpoint_processes"
    command = [sys.executable, "-m", module, store_opener, store_url]
    outputs = released_together([command] * len(calls), [json.dumps(own) for own in calls])
    return [json.loads(output) for output in outputs]


def main() -> None:
    """Run the calls of stdin's first line once released (see the module docstring)."""
    spec, url = sys.argv[1], sys.argv[2]
    calls = json.loads(sys.stdin.readline())
    store = opener(spec)(url)
    store.head("warm-up")  # connect (and create a new file's schema) before the race starts
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        print(json.dumps([call(store, method, args) for method, args in calls]), flush=True)
    finally:
        store.close()


if __name__ == "__main__":
    main()
