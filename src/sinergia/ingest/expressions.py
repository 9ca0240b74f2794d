"""Compile a mapping's column specs into DuckDB expressions: the typed value, and why a row is invalid.

Every value arrives as text (CSV is read as VARCHAR) or already typed (Parquet). For each canonical
field we build three expressions over one source row:

* ``value``  — the typed, normalised value (NULL when blank);
* ``error``  — true when the source had something but it is not acceptable;
* ``reason`` — a readable message naming the field and the offending value.

Rows whose ``error`` is true for any field go to quarantine; the others load. Nothing is coerced
silently: an unparseable number is an error, not a NULL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import duckdb

from sinergia.errors import InputError
from sinergia.ingest.mapping import ColumnSpec, ReadOptions
from sinergia.schema.entities import Field

TRUE_WORDS = ("true", "t", "yes", "y", "sim", "s", "1", "verdadeiro", "v")
FALSE_WORDS = ("false", "f", "no", "n", "não", "nao", "0", "falso")
_TEXT_TYPES = ("VARCHAR", "JSON")

#: strptime candidates tried on a sample when a mapping gives no date format. ISO is tried first
#: through a cast; day-first and month-first forms compete on the sample, ties go to ``day_first``.
DAY_FIRST = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d-%m-%Y %H:%M:%S", "%d-%m-%Y", "%d.%m.%Y")
MONTH_FIRST = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y")
OTHER = ("%Y%m%d", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d", "%d %b %Y", "%b %d %Y")
_ISO_OFFSET = r"(Z|[+-]\d{2}:?\d{2})$"


def lit(value: Any) -> str:
    """An SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Compiled:
    field: str
    value: str
    error: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Source:
    """The relation a mapping reads: its columns and types, and how it was read."""

    view: str
    columns: dict[str, str]  # name → DuckDB type
    format: str
    decimal: str

    def resolve(self, names: list[str]) -> str | None:
        """The first of ``names`` present in the source (exact, then case/space-insensitive)."""
        if self.format in ("json", "ndjson"):
            return names[0]
        for name in names:
            if name in self.columns:
                return name
        folded = {c.strip().casefold(): c for c in self.columns}
        for name in names:
            hit = folded.get(name.strip().casefold())
            if hit is not None:
                return hit
        return None

    def column_sql(self, name: str) -> tuple[str, str]:
        """SQL for a source column and its type. JSON sources take dotted paths into each record."""
        if self.format in ("json", "ndjson"):
            path = "$" + "".join(f'."{part}"' for part in name.split("."))
            return f"json_extract_string(json, {lit(path)})", "VARCHAR"
        return ident(name), self.columns[name]


def _text(expr: str, null_values: list[str]) -> str:
    cleaned = f"NULLIF(TRIM({expr}), '')"
    if null_values:
        return f"CASE WHEN TRIM({expr}) IN ({', '.join(lit(v) for v in null_values)}) THEN NULL ELSE {cleaned} END"
    return cleaned


def _value_map(expr: str, values: dict[str, str | None]) -> str:
    cases = " ".join(f"WHEN {lit(k.lower())} THEN {lit(v)}" for k, v in values.items())
    return f"CASE lower({expr}) {cases} ELSE {expr} END"


def _number_text(expr: str, decimal: str) -> str:
    """Text of a number with currency symbols, spaces and thousands separators removed.

    Only a leading or trailing currency marker (``R$``, ``$``, ``USD``, ``%``) and spaces are dropped: text
    inside the digits ("1x2") stays and makes the cast fail. Separators are thousands separators only when
    they group digits by three ("1.234,56" with decimal ``,``; "1,234.50" with decimal ``.``).
    """
    bare = f"regexp_replace({expr}, '^[^0-9+.,-]+|[^0-9.,]+$|[\\s\\x{{00A0}}\\x{{202F}}]+', '', 'g')"
    if decimal == ",":
        grouped = "'^[+-]?[0-9]{1,3}([.][0-9]{3})+(,[0-9]+)?$'"
        ungrouped = f"replace(replace({bare}, '.', ''), ',', '.')"
        return f"CASE WHEN regexp_matches({bare}, {grouped}) THEN {ungrouped} ELSE replace({bare}, ',', '.') END"
    grouped = "'^[+-]?[0-9]{1,3}(,[0-9]{3})+([.][0-9]+)?$'"
    return f"CASE WHEN regexp_matches({bare}, {grouped}) THEN replace({bare}, ',', '') ELSE {bare} END"


def _numeric(raw: str, src_type: str, decimal: str, sql_type: str) -> str:
    if src_type not in _TEXT_TYPES:
        return f"TRY_CAST({raw} AS {sql_type})"
    if decimal == ",":
        return f"TRY_CAST({_number_text(raw, ',')} AS {sql_type})"
    return f"COALESCE(TRY_CAST({raw} AS {sql_type}), TRY_CAST({_number_text(raw, '.')} AS {sql_type}))"


@dataclass(frozen=True)
class DateParse:
    """How a date column's text is parsed: ISO (``formats`` empty), strptime formats, or epoch numbers."""

    formats: tuple[str, ...] = ()
    offsets: str = "none"  # none | all | mixed — whether ISO values carry a UTC offset or Z
    epoch: str | None = None  # "s" or "ms"


def detect_dates(
    con: duckdb.DuckDBPyConnection, source: Source, raw: str, day_first: bool, sample: int = 2000
) -> DateParse:
    """Pick how to parse a text date column by trying the candidates on a sample of its values."""
    values = [
        r[0]
        for r in con.execute(
            f"SELECT v FROM (SELECT {raw} AS v FROM {source.view} LIMIT 200000) WHERE v IS NOT NULL LIMIT {sample}"
        ).fetchall()
    ]
    if not values:
        return DateParse()
    con.execute("CREATE OR REPLACE TEMP TABLE _date_sample (v VARCHAR)")
    con.execute("INSERT INTO _date_sample SELECT unnest(?::VARCHAR[])", [values])  # executemany: ~0.5 ms a row
    iso, offset = con.execute(
        f"SELECT count(TRY_CAST(v AS TIMESTAMPTZ)), count(*) FILTER (regexp_matches(v, {lit(_ISO_OFFSET)})) "
        "FROM _date_sample WHERE regexp_matches(v, '^[0-9]{4}-[0-9]{2}-[0-9]{2}')"
    ).fetchone() or (0, 0)
    if iso == len(values):
        return DateParse(offsets="all" if offset == iso else "mixed" if offset else "none")
    epoch_s, epoch_ms = con.execute(
        "SELECT count(*) FILTER (regexp_matches(v, '^[0-9]{9,10}$')), "
        "count(*) FILTER (regexp_matches(v, '^[0-9]{12,13}$')) FROM _date_sample"
    ).fetchone() or (0, 0)
    if epoch_s == len(values):
        return DateParse(epoch="s")
    if epoch_ms == len(values):
        return DateParse(epoch="ms")
    # Some values are bad: the form most values take wins (the bad ones are quarantined row by row).
    preferred = (DAY_FIRST, MONTH_FIRST) if day_first else (MONTH_FIRST, DAY_FIRST)
    best: tuple[int, DateParse] = (iso, DateParse(offsets="mixed" if offset else "none"))
    for count, parse in ((epoch_s, DateParse(epoch="s")), (epoch_ms, DateParse(epoch="ms"))):
        if count > best[0]:
            best = (count, parse)
    for group in (*preferred, OTHER):
        fmts = list(group)
        hits = con.execute(
            f"SELECT count(try_strptime(v, {lit_list(fmts)})) FROM _date_sample"
        ).fetchone()
        count = int(hits[0]) if hits else 0
        if count > best[0]:
            best = (count, DateParse(formats=tuple(fmts)))
    if best[0] == 0:
        raise InputError(
            f"no value parses as a date (e.g. {values[0]!r}); "
            "give its format in the mapping (format: '%d/%m/%Y %H:%M')"
        )
    return best[1]


def lit_list(values: list[str]) -> str:
    return "[" + ", ".join(lit(v) for v in values) + "]"


def _timestamp(raw: str, src_type: str, parse: DateParse, timezone: str) -> str:
    local = timezone not in ("UTC", "Etc/UTC")

    def to_utc(naive: str) -> str:
        return f"timezone('UTC', timezone({lit(timezone)}, {naive}))" if local else naive

    if "WITH TIME ZONE" in src_type or src_type.startswith("TIMESTAMPTZ"):  # TIMESTAMPTZ_NS from pandas
        return f"timezone('UTC', CAST({raw} AS TIMESTAMPTZ))"
    if src_type.startswith(("TIMESTAMP", "DATE")):
        return to_utc(f"CAST({raw} AS TIMESTAMP)")
    if parse.epoch == "s":
        return f"CAST(to_timestamp(TRY_CAST({raw} AS DOUBLE)) AS TIMESTAMP)"
    if parse.epoch == "ms":
        return f"CAST(epoch_ms(TRY_CAST({raw} AS BIGINT)) AS TIMESTAMP)"
    if parse.formats:
        return to_utc(f"try_strptime({raw}, {lit_list(list(parse.formats))})")
    with_offset = f"timezone('UTC', TRY_CAST({raw} AS TIMESTAMPTZ))"
    naive = to_utc(f"TRY_CAST({raw} AS TIMESTAMP)")
    if parse.offsets == "all":
        return with_offset
    if parse.offsets == "mixed":
        return f"CASE WHEN regexp_matches({raw}, {lit(_ISO_OFFSET)}) THEN {with_offset} ELSE {naive} END"
    return naive


def compile_field(
    field: Field,
    spec: ColumnSpec,
    source: Source,
    options: ReadOptions,
    timezone: str,
    date_parse: DateParse | None,
) -> Compiled:
    """The typed value of ``field`` and its validity checks."""
    raw, src_type = source_sql(spec, source)
    label = field.name
    if src_type in _TEXT_TYPES:
        raw = _text(raw, options.null_values)
        if spec.values:
            raw = _value_map(raw, spec.values)
    bad: list[tuple[str, str]] = []  # (condition, reason expression)
    value: str
    kind = field.type
    if kind == "string":
        value = raw if src_type in _TEXT_TYPES else f"CAST({raw} AS VARCHAR)"
        if field.name == "email":
            value = f"lower({value})"
        elif field.name == "domain":
            value = f"regexp_replace(lower({value}), '^(https?://)?(www[.])?|/.*$', '', 'g')"
        elif field.name == "currency":
            value = f"upper({value})"
        if field.allowed:
            value = f"lower(replace({value}, ' ', '_'))"
            allowed = ", ".join(lit(a) for a in field.allowed)
            bad.append(
                (
                    f"{value} NOT IN ({allowed})",
                    f"{lit(label + ': ')} || {lit('value ')} || {raw} || "
                    f"{lit(' is not one of ' + ', '.join(field.allowed))}",
                )
            )
    elif kind in ("integer", "double", "money"):
        sql_type = field.sql_type
        if kind == "integer":
            as_double = _numeric(raw, src_type, source.decimal, "DOUBLE")
            value = f"CASE WHEN {as_double} = round({as_double}) THEN CAST({as_double} AS BIGINT) END"
            word = "a whole number"
        else:
            value = _numeric(raw, src_type, source.decimal, sql_type)
            word = "a number"
        bad.append((f"{value} IS NULL", f"{lit(label + ': ')} || {raw_text(raw)} || {lit(' is not ' + word)}"))
        if field.minimum is not None:
            bad.append(
                (
                    f"{value} < {field.minimum}",
                    f"{lit(label + ': must be ≥ ' + _num(field.minimum) + ', got ')} || {raw_text(raw)}",
                )
            )
    elif kind == "boolean":
        if src_type == "BOOLEAN":
            value = raw
        else:
            low = f"lower({raw_text(raw)})"
            value = (
                f"CASE WHEN {low} IN ({', '.join(map(lit, TRUE_WORDS))}) THEN TRUE "
                f"WHEN {low} IN ({', '.join(map(lit, FALSE_WORDS))}) THEN FALSE END"
            )
            bad.append((f"{value} IS NULL", f"{lit(label + ': ')} || {raw} || {lit(' is not yes/no')}"))
    elif kind in ("timestamp", "date"):
        parse = date_parse or DateParse()
        if spec.format:
            epoch = {"epoch": "s", "epoch_ms": "ms"}.get(spec.format[0])
            parse = DateParse(epoch=epoch) if epoch else DateParse(formats=tuple(spec.format))
        value = _timestamp(raw, src_type, parse, timezone)
        if kind == "date":
            value = f"CAST({value} AS DATE)"
        bad.append((f"{value} IS NULL", f"{lit(label + ': ')} || {raw_text(raw)} || {lit(' is not a date')}"))
    elif kind == "json":
        if src_type in _TEXT_TYPES:
            value = f"CASE WHEN json_valid({raw}) THEN CAST({raw} AS JSON) END"
            bad.append((f"{value} IS NULL", f"{lit(label + ': not valid JSON: ')} || left({raw}, 80)"))
        else:
            value = f"to_json({raw})"
    else:  # pragma: no cover - the schema only declares the types above
        raise AssertionError(kind)

    conditions: list[tuple[str, str]] = []
    present = f"{raw} IS NOT NULL"
    for cond, reason in bad:
        conditions.append((f"({present} AND ({cond}))", reason))
    if field.required:
        conditions.insert(0, (f"({raw} IS NULL)", lit(f"{label}: missing required value")))
    if not conditions:
        return Compiled(field.name, value)
    error = " OR ".join(c for c, _ in conditions)
    reason = "CASE " + " ".join(f"WHEN {c} THEN {r}" for c, r in conditions) + " END"
    return Compiled(field.name, value, error, reason)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def raw_text(raw: str) -> str:
    return f"CAST({raw} AS VARCHAR)"


def source_sql(spec: ColumnSpec, source: Source) -> tuple[str, str]:
    """SQL for where the spec takes its value from, and that expression's type."""
    if spec.value is not None:
        return lit(str(spec.value)), "VARCHAR"
    if spec.sql is not None:
        return f"CAST(({resolve_columns(spec.sql, source)}) AS VARCHAR)", "VARCHAR"
    assert spec.column is not None
    name = source.resolve(spec.column)
    if name is None:
        return "CAST(NULL AS VARCHAR)", "VARCHAR"
    return source.column_sql(name)


#: ``{{name|other name}}`` in a ``sql`` spec or a ``where``: the first of these columns the file has (matched
#: like ``column:``, case and spaces aside), NULL when it has none. In JSON, the first path with a value.
_COLUMN_REF = re.compile(r"\{\{([^{}]+)\}\}")


def resolve_columns(sql: str, source: Source) -> str:
    """``sql`` with every ``{{a|b}}`` replaced by the first of those source columns present."""

    def replace(match: re.Match[str]) -> str:
        names = [n.strip() for n in match.group(1).split("|") if n.strip()]
        if not names:
            return match.group(0)
        if source.format in ("json", "ndjson"):
            return "COALESCE(" + ", ".join(source.column_sql(n)[0] for n in names) + ")"
        name = source.resolve(names)
        return "CAST(NULL AS VARCHAR)" if name is None else source.column_sql(name)[0]

    return _COLUMN_REF.sub(replace, sql)


def missing_columns(specs: dict[str, ColumnSpec], source: Source) -> list[str]:
    """Source columns that a non-optional spec needs but the file does not have."""
    missing = []
    for spec in specs.values():
        if spec.column is not None and not spec.optional and source.resolve(spec.column) is None:
            missing.append(" or ".join(spec.column))
    return missing
