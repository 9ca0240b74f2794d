"""Per-account, per-day score history: the ``account_scores`` table of the workspace engine.

Every score Sinergia computes (health, churn risk, CLV, expansion propensity, …) is stored here, one row
per ``(account_id, as_of, score)``, so the app and playbooks read scores — and their explanations — later
without recomputing them.

* :func:`write_scores` upserts one score's rows: re-running the same day replaces those rows, never
  doubles them. The write goes through :meth:`Workspace.writer` (copy-on-write): either every row of the
  call lands or none does, and readers keep seeing the previous snapshot until the commit.
* :func:`read_scores` filters the history; :func:`latest_scores` gives the latest row per account on or
  before a date (what a score "was" as of that day).

Columns: ``account_id`` (VARCHAR), ``as_of`` (DATE), ``score`` (VARCHAR), ``value`` (DOUBLE), ``band``,
``trend`` (``up`` / ``down`` / ``same``), ``explanation`` (JSON text in the engine; a ``dict`` in the frames
returned here), ``model_version``, ``computed_at`` (UTC TIMESTAMP of the write).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from sinergia.engine.tables import SCORE_TABLES, ensure_score_tables
from sinergia.errors import InputError, UsageError

if TYPE_CHECKING:
    from sinergia.workspace.workspace import Workspace

TABLE = "account_scores"
COLUMNS: tuple[str, ...] = tuple(SCORE_TABLES[TABLE])
REQUIRED: tuple[str, ...] = ("account_id", "as_of", "value")
OPTIONAL: tuple[str, ...] = ("band", "trend", "explanation")
TRENDS: frozenset[str] = frozenset({"up", "down", "same"})
_SCORE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _check_score_name(score: str) -> str:
    if not isinstance(score, str) or not _SCORE_NAME.match(score):
        raise UsageError(
            f"score name {score!r} is not valid: use lower-case letters, digits and '_' "
            "(e.g. 'health', 'churn_risk_90d')"
        )
    return score


def _as_date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        if value.time() != dt.time(0):
            raise InputError(f"{where}: as_of must be a date, got the timestamp {value.isoformat()}")
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise InputError(f"{where}: as_of {value!r} is not a date (YYYY-MM-DD)")


def _explanation_text(value: Any, where: str) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        try:
            json.loads(value)
        except json.JSONDecodeError as error:
            raise InputError(f"{where}: explanation is not valid JSON ({error.msg})") from None
        return value
    if isinstance(value, (dict, list)):
        try:
            return json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False, default=_json_default)
        except (TypeError, ValueError) as error:
            raise InputError(f"{where}: explanation cannot be written as JSON ({error})") from None
    raise InputError(f"{where}: explanation must be a dict, a list or a JSON string, got {type(value).__name__}")


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _optional_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return str(value)


def prepare_rows(frame: pd.DataFrame, *, score: str, model_version: str | None = None) -> pd.DataFrame:
    """Validate ``frame`` and return the rows exactly as they will be stored (used by :func:`write_scores`)."""
    _check_score_name(score)
    if not isinstance(frame, pd.DataFrame):
        raise UsageError(f"write_scores needs a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InputError(
            f"score '{score}': the frame lacks the column(s) {', '.join(missing)} "
            f"(required: {', '.join(REQUIRED)}; optional: {', '.join(OPTIONAL)})"
        )
    unknown = [c for c in frame.columns if c not in REQUIRED and c not in OPTIONAL]
    if unknown:
        raise InputError(
            f"score '{score}': unknown column(s) {', '.join(map(str, unknown))} "
            f"(allowed: {', '.join(REQUIRED + OPTIONAL)}; model_version is a parameter)"
        )
    computed_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    records: list[dict[str, Any]] = []
    for position, row in enumerate(frame.to_dict("records")):
        where = f"score '{score}', row {position}"
        account = row["account_id"]
        if account is None or (isinstance(account, float) and math.isnan(account)) or str(account) == "":
            raise InputError(f"{where}: account_id is empty")
        value = row["value"]
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{where} (account {account}): value {value!r} is not a number") from None
        if not math.isfinite(number):
            raise InputError(f"{where} (account {account}): value is {value!r}; a score must be a finite number")
        trend = _optional_text(row.get("trend"))
        if trend is not None and trend not in TRENDS:
            raise InputError(f"{where} (account {account}): trend {trend!r} is not one of up, down, same")
        records.append(
            {
                "account_id": str(account),
                "as_of": _as_date(row["as_of"], where),
                "score": score,
                "value": number,
                "band": _optional_text(row.get("band")),
                "trend": trend,
                "explanation": _explanation_text(row.get("explanation"), where),
                "model_version": model_version,
                "computed_at": computed_at,
            }
        )
    out = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    for column in ("account_id", "score", "band", "trend", "explanation", "model_version"):
        out[column] = out[column].astype(object)
    return out


def upsert_rows(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame) -> int:
    """Replace the stored rows with the keys of ``rows`` and insert ``rows``, on an open writer connection.

    Rows sharing a key inside ``rows`` violate the table's primary key: the error names the key, and the
    caller's writer discards the whole write.
    """
    ensure_score_tables(con)
    if rows.empty:
        return 0
    con.register("_sinergia_new_scores", rows)
    try:
        con.execute(
            f"""
            DELETE FROM {TABLE} AS t
            USING (SELECT DISTINCT account_id, CAST(as_of AS DATE) AS as_of, score FROM _sinergia_new_scores) AS n
            WHERE t.account_id = n.account_id AND t.as_of = n.as_of AND t.score = n.score
            """
        )
        cols = ", ".join(COLUMNS)
        select = ", ".join(
            "CAST(as_of AS DATE)"
            if c == "as_of"
            else "CAST(value AS DOUBLE)"
            if c == "value"
            else "CAST(computed_at AS TIMESTAMP)"
            if c == "computed_at"
            else f"CAST({c} AS VARCHAR)"
            for c in COLUMNS
        )
        try:
            con.execute(f"INSERT INTO {TABLE} ({cols}) SELECT {select} FROM _sinergia_new_scores")
        except duckdb.ConstraintException:
            dups = con.execute(  # fetchall: DuckDB refuses new work while a result is unfinished
                "SELECT account_id, CAST(as_of AS DATE), score, count(*) FROM _sinergia_new_scores "
                "GROUP BY ALL HAVING count(*) > 1 ORDER BY 1, 2 LIMIT 1"
            ).fetchall()
            if not dups:  # pragma: no cover - the only constraint is the primary key
                raise
            dup = dups[0]
            raise InputError(
                f"score '{dup[2]}': account {dup[0]} has {dup[3]} rows for {dup[1].isoformat()}; "
                "give one row per account and day (nothing was written)"
            ) from None
    finally:
        con.unregister("_sinergia_new_scores")
    return len(rows)


def write_scores(workspace: Workspace, frame: pd.DataFrame, *, score: str, model_version: str | None = None) -> int:
    """Store one score's rows (idempotent upsert on ``(account_id, as_of, score)``); returns the row count.

    ``frame`` needs ``account_id``, ``as_of`` and ``value``; ``band``, ``trend`` (up/down/same) and
    ``explanation`` (a dict, written as JSON) are optional. The write is atomic: on any error nothing
    changes in the workspace.
    """
    rows = prepare_rows(frame, score=score, model_version=model_version)
    with workspace.writer() as con:
        return upsert_rows(con, rows)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in COLUMNS}).assign(value=pd.Series([], dtype="float64"))


def _has_table(con: duckdb.DuckDBPyConnection) -> bool:
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main'", [TABLE]
    ).fetchone()
    return bool(found and found[0])


def _finish(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> pd.DataFrame:
    rows = con.execute(sql, params).fetchall()
    if not rows:
        return _empty()
    out = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    out["value"] = out["value"].astype("float64")
    out["explanation"] = [None if e is None else json.loads(e) for e in out["explanation"]]
    return out


def read_scores(
    workspace: Workspace,
    *,
    score: str | None = None,
    account_id: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pd.DataFrame:
    """Stored score rows, filtered; ordered by score, account, as_of. ``start``/``end`` are inclusive.

    ``as_of`` comes back as ``datetime.date`` and ``explanation`` as a ``dict`` (or ``None``).
    """
    if score is not None:
        _check_score_name(score)
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("score", score), ("account_id", account_id)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if start is not None:
        where.append("as_of >= ?")
        params.append(_as_date(start, "start"))
    if end is not None:
        where.append("as_of <= ?")
        params.append(_as_date(end, "end"))
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    con = workspace.duckdb_reader()
    try:
        if not _has_table(con):
            return _empty()
        return _finish(
            con, f"SELECT {', '.join(COLUMNS)} FROM {TABLE} {clause} ORDER BY score, account_id, as_of", params
        )
    finally:
        con.close()


def latest_scores(workspace: Workspace, score: str, as_of: dt.date) -> pd.DataFrame:
    """The latest stored row per account with ``as_of`` on or before the given date (one row per account)."""
    _check_score_name(score)
    day = _as_date(as_of, "as_of")
    con = workspace.duckdb_reader()
    try:
        if not _has_table(con):
            return _empty()
        return _finish(
            con,
            f"""
            SELECT {", ".join(COLUMNS)} FROM {TABLE}
            WHERE score = ? AND as_of <= ?
            QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY as_of DESC) = 1
            ORDER BY account_id
            """,
            [score, day],
        )
    finally:
        con.close()
