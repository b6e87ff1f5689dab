"""``python -m agentcycle`` runs the CLI."""

from __future__ import annotations

import sys

from agentcycle.cli import main

sys.exit(main())
