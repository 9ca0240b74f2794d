"""The ``sentiment`` playbook trigger: accounts whose recent texts read negative.

``trigger: {kind: sentiment, below: -0.3, window_days: 30, min_texts: 1}`` fires for each account whose texts
stamped in the ``window_days`` days up to the run date (feedback, survey comments, ticket subject and
description, as scored into the engine's ``text_sentiment`` table by ``sinergia text score``) number at least
``min_texts`` and have a mean sentiment strictly below ``below``. Texts after the run date are not seen.
The evidence lists the texts behind the mean (PII-redacted excerpts).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sinergia.playbooks.config import SentimentEvent

if TYPE_CHECKING:
    from sinergia.workspace.workspace import Workspace

#: Texts listed in a firing's evidence (the most recent ones).
EVIDENCE_TEXTS = 5


def sentiment_firings(workspace: Workspace, as_of: dt.date, trig: SentimentEvent) -> dict[str, dict[str, Any]]:
    """account_id → {reason, evidence} for the accounts the trigger fires for on ``as_of``."""
    from sinergia.text.workspace import account_sentiment, read_text_sentiment

    con = workspace.duckdb_reader()
    try:
        rows = read_text_sentiment(con, as_of, window_days=trig.window_days)
    finally:
        con.close()
    summary = account_sentiment(rows)
    out: dict[str, dict[str, Any]] = {}
    for record in summary.to_dict(orient="records"):
        n, mean = int(record["n"]), float(record["mean"])
        if n < trig.min_texts or not mean < trig.below:
            continue
        account = str(record["account_id"])
        texts = rows[rows["account_id"] == account].sort_values("at").tail(EVIDENCE_TEXTS)
        out[account] = {
            "reason": (f"mean sentiment {mean:+.3f} of {n} text{'s' if n != 1 else ''} in the last "
                       f"{trig.window_days} days (< {trig.below:+g})"),
            "evidence": {
                "mean_sentiment": round(mean, 4), "texts": n, "negative_texts": int(record["negative"]),
                "window_days": trig.window_days,
                "recent": [{"source": f"{r['source_entity']}:{r['source_id']}",
                            "at": r["at"].isoformat() if hasattr(r["at"], "isoformat") else str(r["at"]),
                            "sentiment": round(float(r["sentiment"]), 4), "polarity": r["polarity"],
                            "excerpt": r["excerpt"]} for r in texts.to_dict(orient="records")],
            },
        }
    return out
