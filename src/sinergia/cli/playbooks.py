"""``sinergia playbooks``: validate, list and run the workspace's playbooks (placeholder until the runner lands)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Playbooks: triggers, conditions and actions on scores, metrics and events.",
                  no_args_is_help=True)
