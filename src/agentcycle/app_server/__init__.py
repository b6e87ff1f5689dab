"""The app server: agentcycle behind JSON-RPC 2.0 for UI hosts (desktop apps, IDE plugins, web
back ends), wire-compatible with the v1 app-server protocol.

    agentcycle app-server --listen stdio --scripted-model replies.json
    agentcycle app-server --listen ws://127.0.0.1:8765 ...     (the ``ws`` extra)

Hosts spawn the server, ``initialize``, start threads, send turns and render the items that
stream back; approvals arrive as server requests. Threads, turns, items and the event log live
in SQLite, so history survives a restart.

- ``agentcycle.app_server.protocol``: every v1 message as a pydantic model.
- ``agentcycle.app_server.schemas``: the JSON Schema and TypeScript bundles generated from them.
- ``agentcycle.app_server.client``: a typed client that spawns the server or connects to it
  over WebSocket.

Nothing here is imported by ``import agentcycle``; the CLI loads it for ``app-server`` only.
"""
