"""Tools: what a model can call, and how a call is checked before it runs.

``base`` defines the ``Tool`` protocol, the ``ToolContext`` a call receives and the
``SideEffect`` a tool declares; ``function_tool`` turns a typed Python function into a tool;
``effects`` holds the ``effect_class`` durable runs act on; ``validation`` checks arguments
against JSON Schema; ``registry`` keeps the ordered set a model is offered; ``builtin`` holds the
built-in tools (files, search, shell, todos, control, skills, agents as tools). Modules are
imported directly (``from agentcycle.tools.base import Tool``) or through the top-level
``agentcycle`` names, so importing this package costs nothing.
"""
