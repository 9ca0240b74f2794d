"""``sinergia expansion``: upsell / cross-sell propensity on the workspace.

``train`` / ``backtest`` / ``score`` predict an expansion of the account's MRR (more seats, an upgrade, a
cross-sold line) within a horizon, with the same point-in-time features, calibrated LightGBM and drivers as
churn risk (``sinergia.models.risk``; the commands are built in ``cli/_risk.py``). Other expansion commands
(rule-based signals) are added to this same ``app``. See docs/expansion.md.
"""

from __future__ import annotations

import typer

from sinergia.cli._risk import add_workspace_commands

app = typer.Typer(
    help="Expansion: upsell / cross-sell propensity on the workspace (train / backtest / score) with drivers.",
    no_args_is_help=True,
)

add_workspace_commands(app, "expansion", "expansion")
