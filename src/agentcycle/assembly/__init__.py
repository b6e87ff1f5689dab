"""Run assembly: an ``Agent``, its input and a ``RunConfig`` become a loop ready to run.

Internal: the SDK front door (``Runner``, ``RunHandle``) and the CLI use it; users never import
it. Compilation resolves models, tools, skills, policy and memory into a frozen ``RunSpec`` and
the loop's run environment (``_compile``, ``_resolution``, ``_tools``); ``_launch`` wires the
event bus, approvals, budget meter and child runs around it.
"""
