"""Scores per account and day: the score history table, health scorecards (and, from other modules,
churn risk, CLV and expansion propensity, which all store their results through :mod:`.history`).

Python API::

    from sinergia.scores import write_scores, read_scores, latest_scores
    from sinergia.scores.health import score_accounts, compute_history
"""

from __future__ import annotations

from sinergia.scores.history import latest_scores, read_scores, write_scores

__all__ = ["latest_scores", "read_scores", "write_scores"]
