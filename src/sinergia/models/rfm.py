"""From a transaction log to the per-customer summary the buy-till-you-die models read.

``rfm_summary`` is the one bridge from transactions to ``frequency / recency / T / monetary_value``
(the BG/NBD and Gamma-Gamma inputs), with the conventions of Fader & Hardie's CDNOW files and of
``lifetimes.utils.summary_data_from_transaction_data``: purchases on the same day are one purchase,
time is measured in whole days and expressed in days or weeks (``days / 7``).

``read_transactions`` reads a CSV (delimiter detected: ``,`` ``;`` tab, or runs of whitespace as in
``CDNOW_master.txt``) or a Parquet file into a DataFrame.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from sinergia.errors import InputError, UsageError

TimeUnit = Literal["day", "week"]
DAYS_PER_UNIT: dict[str, float] = {"day": 1.0, "week": 7.0}
_YYYYMMDD = re.compile(r"^\d{8}$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def days_per_unit(time_unit: str) -> float:
    """Length of one model time unit in days (``day`` → 1, ``week`` → 7)."""
    try:
        return DAYS_PER_UNIT[time_unit]
    except KeyError:
        raise UsageError(f"time unit must be day or week, got '{time_unit}'") from None


def rfm_summary(
    transactions: pd.DataFrame,
    customer_col: str,
    date_col: str,
    value_col: str | None = None,
    until: dt.date | str | None = None,
    time_unit: TimeUnit = "week",
) -> pd.DataFrame:
    r"""Per-customer frequency, recency, age and mean repeat spend, as of ``until``.

    Parameters
    ----------
    transactions
        One row per transaction (several rows per customer and day are allowed).
    customer_col, date_col
        Column names of the customer id and the transaction date. Dates may be datetimes, ISO strings
        (``1997-01-31``, with or without a time) or ``YYYYMMDD`` strings/integers (CDNOW); times are
        truncated to the day (tz-aware values are converted to UTC first).
    value_col
        Optional column with the transaction value (non-negative). Values of one day are summed.
    until
        End of the calibration period (inclusive). Rows dated after it are ignored and ``T`` is measured to
        it. Default: the last date in the data.
    time_unit
        ``"week"`` (days / 7, the unit of the published CDNOW results) or ``"day"``.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id (sorted), with columns

        * ``frequency`` :math:`x` - number of *repeat* purchase days (distinct days with a purchase, minus one);
        * ``recency`` :math:`t_x` - time from the first to the last purchase day;
        * ``T`` - time from the first purchase day to ``until``;
        * ``monetary_value`` (only with ``value_col``) - mean value of the repeat purchase days, 0 when
          :math:`x = 0`. The first purchase is left out, as the Gamma-Gamma model expects.

    Raises
    ------
    InputError
        Missing columns (the message lists the columns found), unparseable dates, missing or negative
        values, or no transaction on or before ``until``.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"id": ["a", "a", "a", "b"],
    ...                     "day": ["2024-01-01", "2024-01-01", "2024-01-15", "2024-01-08"],
    ...                     "value": [10.0, 5.0, 20.0, 7.0]})
    >>> summary = rfm_summary(log, "id", "day", "value", until="2024-01-29")
    >>> print(summary.reset_index().to_string(index=False))
    customer  frequency  recency   T  monetary_value
           a          1      2.0 4.0            20.0
           b          0      0.0 3.0             0.0
    """
    unit_days = days_per_unit(time_unit)
    needed = [c for c in (customer_col, date_col, value_col) if c is not None]
    missing = [c for c in needed if c not in transactions.columns]
    if missing:
        found = ", ".join(str(c) for c in transactions.columns)
        raise InputError(f"missing column(s) {', '.join(missing)}; columns found: {found}")
    if transactions.empty:
        raise InputError("no transactions: the table is empty")

    customers = transactions[customer_col]
    if customers.isna().any():
        raise InputError(f"{int(customers.isna().sum())} row(s) have no customer id in column '{customer_col}'")
    days = _to_days(transactions[date_col], date_col)
    frame = pd.DataFrame({"customer": customers.to_numpy(), "day": days})
    if value_col is not None:
        frame["value"] = _to_values(transactions[value_col], value_col)

    if until is None:
        end = int(frame["day"].max())
    else:
        end = _date_to_day(until)
        frame = frame[frame["day"] <= end]
        if frame.empty:
            raise InputError(f"no transaction on or before {_day_to_iso(end)}")

    per_day = frame.groupby(["customer", "day"], sort=True)
    if value_col is not None:
        daily = per_day["value"].sum().reset_index()
    else:
        daily = per_day.size().reset_index()[["customer", "day"]]
    grouped = daily.groupby("customer", sort=True)
    first = grouped["day"].min()
    last = grouped["day"].max()
    count = grouped["day"].size()
    out = pd.DataFrame(
        {
            "frequency": (count - 1).astype(np.int64),
            "recency": (last - first).astype(np.float64) / unit_days,
            "T": (end - first).astype(np.float64) / unit_days,
        }
    )
    if value_col is not None:
        total = grouped["value"].sum()
        first_value = daily.loc[grouped["day"].idxmin(), ["customer", "value"]].set_index("customer")["value"]
        repeat = out["frequency"].to_numpy()
        repeat_total = (total - first_value).to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(repeat > 0, repeat_total / np.maximum(repeat, 1), 0.0)
        out["monetary_value"] = np.maximum(mean, 0.0)  # guards a -1e-15 from float subtraction
    out.index.name = "customer"
    return out


def read_transactions(path: Path | str) -> pd.DataFrame:
    """Read a transaction file: Parquet, or delimited text (optionally gzip-compressed, ``.gz``) with the
    delimiter detected.

    Text files: the delimiter is ``,``, ``;`` or tab when every sampled line holds the same non-zero count of
    it, otherwise runs of whitespace (``CDNOW_master.txt``). A first line made only of numbers means there is
    no header: the columns are then named by their 1-based position (``"1"``, ``"2"``, ...), so
    ``CDNOW_sample.txt`` reads with ``customer_col="2", date_col="3", value_col="5"``. Every column is read as
    text (ids keep their leading zeros); :func:`rfm_summary` parses dates and values.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file}: no such file")
    if file.suffix.lower() in (".parquet", ".pq"):
        try:
            return pd.read_parquet(file)
        except Exception as error:  # pyarrow raises many types; one line for the user
            raise InputError(f"{file}: not a readable Parquet file ({type(error).__name__}: {error})") from None
    gzipped = file.suffix.lower() == ".gz"
    try:
        with (gzip.open(file, "rt", encoding="utf-8-sig", newline="") if gzipped
              else file.open("r", encoding="utf-8-sig", newline="")) as handle:
            sample = [line.rstrip("\r\n") for _, line in zip(range(50), handle, strict=False)]
    except UnicodeDecodeError:
        raise InputError(f"{file}: not UTF-8 text (CSV) nor a .parquet file") from None
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
        raise InputError(f"{file}: cannot read ({error})") from None
    lines = [line for line in sample if line.strip()]
    if not lines:
        raise InputError(f"{file}: the file is empty")
    sep = _detect_delimiter(lines)
    first = lines[0].split() if sep is None else lines[0].split(sep)
    has_header = not all(_NUMBER.match(field.strip().strip('"')) for field in first if field.strip())
    kwargs: dict[str, object] = {"dtype": str, "encoding": "utf-8-sig", "skipinitialspace": True}
    if sep is None:
        kwargs["sep"] = r"\s+"
    else:
        kwargs["sep"] = sep
    if not has_header:
        kwargs["header"] = None
    try:
        frame = pd.read_csv(file, **kwargs)
    except Exception as error:  # pandas' ParserError, EmptyDataError, ...
        raise InputError(f"{file}: cannot read as delimited text ({type(error).__name__}: {error})") from None
    if not has_header:
        frame.columns = [str(i + 1) for i in range(frame.shape[1])]
    else:
        frame.columns = [str(c).strip() for c in frame.columns]
    result: pd.DataFrame = frame
    return result


def _detect_delimiter(lines: list[str]) -> str | None:
    for sep in (",", ";", "\t"):
        counts = {line.count(sep) for line in lines}
        if len(counts) == 1 and counts.pop() > 0:
            return sep
    return None


def _to_days(column: pd.Series, name: str) -> np.ndarray:
    """Days since 1970-01-01 (int64) for every value; InputError naming the first bad value."""
    if pd.api.types.is_datetime64_any_dtype(column):
        parsed = column
        if getattr(column.dt, "tz", None) is not None:
            parsed = column.dt.tz_convert("UTC").dt.tz_localize(None)
    else:
        if column.isna().any():
            raise InputError(f"{int(column.isna().sum())} row(s) have no date in column '{name}'")
        text = column.astype(str).str.strip()
        text = text.str.replace(r"\.0$", "", regex=True)  # 19970101.0 from a float column
        if text.str.match(_YYYYMMDD).all():
            parsed = pd.to_datetime(text, format="%Y%m%d", errors="coerce")
        else:
            parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True).dt.tz_localize(None)
        bad = parsed.isna()
        if bad.any():
            example = text[bad].iloc[0]
            raise InputError(
                f"{int(bad.sum())} row(s) have an unparseable date in column '{name}' (first: '{example}'); "
                "use ISO dates (1997-01-31) or YYYYMMDD"
            )
    if parsed.isna().any():
        raise InputError(f"{int(parsed.isna().sum())} row(s) have no date in column '{name}'")
    days = parsed.dt.floor("D").to_numpy(dtype="datetime64[D]").astype(np.int64)
    result: np.ndarray = days
    return result


def _to_values(column: pd.Series, name: str) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna()
    if bad.any():
        example = column[bad].iloc[0]
        raise InputError(f"{int(bad.sum())} row(s) have a missing or non-numeric value in column '{name}' "
                         f"(first: '{example}')")
    array = np.asarray(values, dtype=np.float64)
    if (array < 0).any():
        raise InputError(f"{int((array < 0).sum())} row(s) have a negative value in column '{name}' "
                         f"(first: {array[array < 0][0]}); refunds must be netted before the summary")
    if not np.isfinite(array).all():
        raise InputError(f"column '{name}' holds infinite values")
    return array


def _date_to_day(value: dt.date | str) -> int:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise UsageError(f"until must be a date like 1997-09-30, got '{value}'") from None
    return (value - dt.date(1970, 1, 1)).days


def _day_to_iso(day: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
