"""Load files into the canonical tables: every row read is loaded, updated, unchanged, merged or quarantined.

One file, one target entity, inside the writer's private copy of the engine (see
:mod:`sinergia.workspace.workspace`); the caller commits all files of a command at once.

Steps for each (file, target):

1. read the file as text (CSV/NDJSON) or typed (Parquet) — CSV lines that do not split into the header's
   columns are caught by DuckDB's reject table and quarantined with their line;
2. build a typed *stage* table in one pass: each canonical field's value, whether the row is valid, and
   for invalid rows the reason and the raw row as JSON (``stage.rowid`` is the row's order in the file);
3. quarantine invalid rows; fold rows that repeat a key inside the file (identical → ``merged``; different →
   quarantined, or the last one wins when the mapping says ``duplicate_keys: last_wins``);
4. resolve identities (aliases, matching accounts by domain and contacts by e-mail) and references;
5. insert new keys (``loaded``), update keys whose mapped values differ (``updated``), count the rest
   (``unchanged``). Columns the mapping does not name keep their stored values.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from sinergia.errors import InputError, StrictModeError
from sinergia.ingest.expressions import (
    Compiled,
    DateParse,
    Source,
    compile_field,
    detect_dates,
    ident,
    lit,
    missing_columns,
    source_sql,
)
from sinergia.ingest.mapping import Mapping, Target
from sinergia.ingest.sniff import Sniffed, sniff
from sinergia.schema import ENTITIES, Entity
from sinergia.schema.entities import SYSTEM_FIELDS

COUNT_KEYS = ("read", "loaded", "updated", "unchanged", "merged", "quarantined")


@dataclass
class Counts:
    """What happened to the rows of one file for one entity. ``read`` equals the sum of the others."""

    read: int = 0
    loaded: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0
    quarantined: int = 0

    def add(self, other: Counts) -> None:
        for key in COUNT_KEYS:
            setattr(self, key, getattr(self, key) + getattr(other, key))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def balanced(self) -> bool:
        return self.read == self.loaded + self.updated + self.unchanged + self.merged + self.quarantined


@dataclass
class FileResult:
    file: str
    entity: str
    counts: Counts
    aliases: int = 0


@dataclass
class ImportContext:
    """Shared by every file of one ``sinergia ingest`` command."""

    import_id: str
    started_at: dt.datetime
    timezone: str
    day_first: bool
    strict: bool = False
    results: list[FileResult] = field(default_factory=list)
    new_aliases: dict[str, int] = field(default_factory=dict)

    @classmethod
    def new(cls, timezone: str, day_first: bool, strict: bool = False) -> ImportContext:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return cls(f"imp_{now:%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}", now, timezone, day_first, strict)


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


_counter = iter(range(1, 1 << 62))


def _name(prefix: str) -> str:
    return f"_{prefix}_{next(_counter)}"


# -- reading ---------------------------------------------------------------------------------------


@dataclass
class OpenedSource:
    source: Source
    reader: Callable[[bool], str]  # store_rejects -> SQL of the relation
    header_lines: int
    rejects_table: str | None
    row_error: tuple[str, str] | None  # (condition, reason) that makes a whole row invalid
    raw_json: str  # SQL giving the raw row as JSON text, for quarantine


def _csv_reader(path: Path, sniffed: Sniffed, options: Mapping, rejects: str, scan: str) -> Callable[[bool], str]:
    args = [
        "all_varchar = true",
        f"header = {lit(options.header)}",
        f"delim = {lit(options.delimiter or sniffed.delimiter)}",
        "quote = '\"'",
        "escape = '\"'",
        f"encoding = {lit('latin-1' if (options.encoding or sniffed.encoding) == 'latin-1' else 'utf-8')}",
        f"compression = {lit(sniffed.compression or 'none')}",
        "null_padding = false",
        "ignore_errors = true",
        "auto_detect = true",
    ]

    def sql(store_rejects: bool) -> str:
        extra = (
            [f"store_rejects = true, rejects_table = {lit(rejects)}, rejects_scan = {lit(scan)}"]
            if store_rejects
            else []
        )
        return f"read_csv({lit(str(path))}, {', '.join(args + extra)})"

    return sql


def _line_reader(path: Path, sniffed: Sniffed, skip: int) -> str:
    return (
        f"read_csv({lit(str(path))}, columns = {{'line': 'VARCHAR'}}, header = false, delim = '\\x01', "
        f"quote = '', escape = '', skip = {skip}, compression = {lit(sniffed.compression or 'none')}, "
        f"encoding = {lit('latin-1' if sniffed.encoding == 'latin-1' else 'utf-8')})"
    )


def open_source(con: duckdb.DuckDBPyConnection, path: Path, options: Mapping) -> tuple[OpenedSource, Sniffed]:
    sniffed = sniff(path, options.format)
    view = _name("src")
    fmt = sniffed.format
    decimal = options.decimal or ("," if (options.delimiter or sniffed.delimiter) == ";" else ".")
    rejects_table: str | None = None
    row_error: tuple[str, str] | None = None
    header_lines = 1 if options.header else 0
    if fmt == "csv":
        rejects_table, scan = _name("rej"), _name("rejscan")
        reader = _csv_reader(path, sniffed, options, rejects_table, scan)
        try:
            con.execute(f"CREATE TEMP VIEW {view} AS SELECT * FROM {reader(False)}")
            described = con.execute(f"DESCRIBE {view}").fetchall()
        except duckdb.Error as error:
            raise InputError(f"{path}: cannot be read as CSV: {_first_line(error)}") from None
    elif fmt == "parquet":
        reader_sql = f"read_parquet({lit(str(path))})"

        def reader(_: bool) -> str:
            return reader_sql

        try:
            con.execute(f"CREATE TEMP VIEW {view} AS SELECT * FROM {reader_sql}")
            described = con.execute(f"DESCRIBE {view}").fetchall()
        except duckdb.Error as error:
            raise InputError(f"{path}: cannot be read as Parquet: {_first_line(error)}") from None
        header_lines = 0
    elif fmt == "whitespace":
        first = _first_text_line(path, sniffed)
        names = first.split() if options.header else [f"column{i}" for i in range(len(first.split()))]
        lines = _line_reader(path, sniffed, header_lines)
        parts = "regexp_split_to_array(trim(line, E' \\t\\r'), '\\s+')"
        cols = ", ".join(f"_f[{i + 1}] AS {ident(n)}" for i, n in enumerate(names))
        select = f"SELECT {cols}, len(_f) AS _width FROM (SELECT {parts} AS _f FROM {lines} WHERE trim(line) <> '')"

        def reader(_: bool) -> str:
            return f"({select})"

        con.execute(f"CREATE TEMP VIEW {view} AS {select}")
        described = [(n, "VARCHAR") for n in names]
        row_error = (f"_width <> {len(names)}", f"'row has ' || _width || ' fields, the header {len(names)}'")
    else:  # json / ndjson: one JSON object per row, columns are dotted paths
        if fmt == "ndjson":
            select = (
                "SELECT CASE WHEN json_valid(line) THEN CAST(line AS JSON) END AS json, line AS _line "
                f"FROM {_line_reader(path, sniffed, 0)} WHERE trim(line) <> ''"
            )
        else:
            select = (
                f"SELECT json, CAST(json AS VARCHAR) AS _line FROM read_json_objects({lit(str(path))}, "
                f"format = 'array', compression = {lit(sniffed.compression or 'none')})"
            )

        def reader(_: bool) -> str:
            return f"({select})"

        try:
            con.execute(f"CREATE TEMP VIEW {view} AS {select}")
            con.execute(f"SELECT count(*) FROM {view}").fetchone()
        except duckdb.Error as error:
            raise InputError(f"{path}: is not valid JSON: {_first_line(error)}") from None
        described = [("json", "JSON")]
        row_error = ("json IS NULL", "'row is not valid JSON: ' || left(_line, 80)")
        header_lines = 0
    columns = {str(name): str(sql_type) for name, sql_type, *_ in described}
    if fmt in ("json", "ndjson"):
        raw_json = "_line"
    else:
        visible = [c for c in columns if c != "_width"]
        raw_json = "json_object(" + ", ".join(f"{lit(c)}, {ident(c)}" for c in visible) + ")"
    source = Source(view, columns, fmt, decimal)
    return OpenedSource(source, reader, header_lines, rejects_table, row_error, raw_json), sniffed


def _first_text_line(path: Path, sniffed: Sniffed) -> str:
    import gzip

    opener = gzip.open if sniffed.compression == "gzip" else open
    with opener(path, "rt", encoding=sniffed.encoding, errors="replace") as handle:  # type: ignore[operator]
        for line in handle:
            if line.strip():
                return str(line)
    raise InputError(f"{path}: the file is empty")


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


# -- compiling a target ------------------------------------------------------------------------------


@dataclass
class CompiledTarget:
    entity: Entity
    target: Target
    fields: list[Compiled]
    key_from_content: bool
    external_id: str | None
    attributes: str | None


def compile_target(
    con: duckdb.DuckDBPyConnection, opened: OpenedSource, target: Target, options: Mapping, ctx: ImportContext, path: Path
) -> CompiledTarget:
    ent = ENTITIES[target.entity]
    source = opened.source
    missing = missing_columns(target.columns, source)
    if missing:
        found = ", ".join(c for c in source.columns if c != "_width")
        raise InputError(
            f"{path}: missing required column(s) for {ent.name}: {', '.join(missing)}; columns found: {found}"
        )
    timezone = options.timezone or ctx.timezone
    day_first = ctx.day_first if options.day_first is None else options.day_first
    compiled: list[Compiled] = []
    for name, spec in target.columns.items():
        fld = ent.field(name)
        parse: DateParse | None = None
        if fld.type in ("timestamp", "date") and not spec.format:
            if options.date_format:
                parse = DateParse(formats=tuple(options.date_format))
            else:
                raw, src_type = source_sql(spec, source)
                if src_type in ("VARCHAR", "JSON"):
                    try:
                        parse = detect_dates(con, source, f"NULLIF(TRIM({raw}), '')", day_first)
                    except InputError as error:
                        raise InputError(f"{path}: {ent.name}.{name} from {error}") from None
        compiled.append(compile_field(fld, spec, source, options, timezone, parse))
    key_from_content = any(k not in target.columns for k in ent.key)
    if key_from_content:
        parts = ", ".join(f"COALESCE(CAST({c.value} AS VARCHAR), chr(0))" for c in compiled)
        compiled.insert(0, Compiled(ent.key[0], f"md5(concat_ws(chr(31), {parts}))"))
    external = None
    if target.external_id:
        name = source.resolve([target.external_id])
        if name is None:
            raise InputError(f"{path}: external_id column '{target.external_id}' not found")
        external = f"NULLIF(TRIM(CAST({source.column_sql(name)[0]} AS VARCHAR)), '')"
    attributes = _attributes_sql(target, source)
    return CompiledTarget(ent, target, compiled, key_from_content, external, attributes)


def _attributes_sql(target: Target, source: Source) -> str | None:
    if target.attributes == "none":
        return None
    if source.format in ("json", "ndjson"):
        return "json" if target.attributes == "rest" else (
            "json_object(" + ", ".join(f"{lit(c)}, {source.column_sql(c)[0]}" for c in target.attributes) + ")"
        )
    if target.attributes == "rest":
        used = {source.resolve(s.column) for s in target.columns.values() if s.column}
        if target.external_id:
            used.add(source.resolve([target.external_id]))
        names = [c for c in source.columns if c not in used and c != "_width"]
    else:
        names = [n for n in (source.resolve([c]) for c in target.attributes) if n is not None]
    if not names:
        return None
    return "json_object(" + ", ".join(f"{lit(c)}, {ident(c)}" for c in names) + ")"


# -- loading ------------------------------------------------------------------------------------------


def load_file(
    con: duckdb.DuckDBPyConnection, path: Path, mapping: Mapping, ctx: ImportContext, source_name: str
) -> list[FileResult]:
    """Load one file into every target of its mapping (inside the caller's write transaction)."""
    con.execute("SET TimeZone = 'UTC'")
    opened, _ = open_source(con, path, mapping)
    sha = file_sha256(path)
    results = []
    compiled = [compile_target(con, opened, t, mapping, ctx, path) for t in mapping.targets]
    for target in compiled:
        counts, aliases = _load_target(con, path, sha, opened, target, ctx, source_name)
        result = FileResult(str(path), target.entity.name, counts, aliases)
        results.append(result)
        ctx.results.append(result)
        con.execute(
            "INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                ctx.import_id,
                ctx.started_at,
                dt.datetime.now(dt.UTC).replace(tzinfo=None),
                source_name,
                str(path),
                sha,
                target.entity.name,
                *[getattr(counts, k) for k in COUNT_KEYS],
            ],
        )
    return results


def _rejected(con: duckdb.DuckDBPyConnection, opened: OpenedSource) -> list[tuple[int, str, str]]:
    """(line, reason, raw line) of CSV lines DuckDB could not split into the header's columns."""
    if opened.rejects_table is None:
        return []
    try:
        rows = con.execute(
            f"SELECT line, string_agg(DISTINCT error_type || ': ' || coalesce(error_message, ''), '; '), "
            f"any_value(csv_line) FROM {opened.rejects_table} GROUP BY line ORDER BY line"
        ).fetchall()
    except duckdb.CatalogException:
        return []
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def _record_numbers(ordinals: list[int], rejected_records: list[int]) -> list[int]:
    """Map parsed-row ordinals (1-based, rejected rows absent) to record numbers counting rejected rows."""
    out = []
    for k in ordinals:
        r = k
        # r is the k-th record number not in rejected_records.
        while True:
            shift = bisect.bisect_right(rejected_records, r)
            if k + shift == r:
                break
            r = k + shift
        out.append(r)
    return out


def _load_target(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    sha: str,
    opened: OpenedSource,
    ct: CompiledTarget,
    ctx: ImportContext,
    source_name: str,
) -> tuple[Counts, int]:
    ent = ct.entity
    stage = _name("stage")
    select = [f"{c.value} AS {ident(c.field)}" for c in ct.fields]
    if ct.attributes is not None:
        select.append(f"{ct.attributes} AS attributes")
    if ct.external_id is not None:
        select.append(f"{ct.external_id} AS _ext")
    errors = [(c.error, c.reason, c.field) for c in ct.fields if c.error is not None]
    if opened.row_error is not None:
        errors.insert(0, (opened.row_error[0], opened.row_error[1], "(row)"))
    if errors:
        bad = " OR ".join(f"({e})" for e, _, _ in errors)
        reasons = ", ".join(str(r) for _, r, _ in errors)
        first_col = "CASE " + " ".join(f"WHEN {e} THEN {lit(f)}" for e, _, f in errors) + " END"
        select.append(f"COALESCE({bad}, FALSE) AS _bad")
        select.append(f"CASE WHEN {bad} THEN concat_ws('; ', {reasons}) END AS _reason")
        select.append(f"CASE WHEN {bad} THEN {first_col} END AS _column")
        select.append(f"CASE WHEN {bad} THEN {opened.raw_json} END AS _raw")
    else:
        select.append("FALSE AS _bad, NULL::VARCHAR AS _reason, NULL::VARCHAR AS _column, NULL::VARCHAR AS _raw")
    relation = opened.reader(True) if opened.source.format == "csv" else opened.source.view
    if ct.target.where:
        select.append("_ord")
        relation = f"(SELECT row_number() OVER () AS _ord, * FROM {relation}) WHERE {ct.target.where}"
    try:
        con.execute(f"CREATE TEMP TABLE {stage} AS SELECT {', '.join(select)} FROM {relation}")
    except duckdb.Error as error:
        raise InputError(f"{path}: {_first_line(error)}") from None
    ordinal = "_ord" if ct.target.where else "(rowid + 1)"
    rejected = _rejected(con, opened)
    parsed = int(_scalar(con, f"SELECT count(*) FROM {stage}"))
    counts = Counts(read=parsed + len(rejected))
    if counts.read == 0:
        raise InputError(f"{path}: no data rows (the file has a header but nothing under it)")

    # Row numbers: the parsed row ordinal → record number counting rejected rows → physical line.
    rejected_records = [line - opened.header_lines for line, _, _ in rejected]
    problems: list[tuple[int, str | None, str, str]] = []  # (record, column, reason, raw)
    bad_rows = con.execute(
        f"SELECT {ordinal}, _column, _reason, _raw FROM {stage} WHERE _bad ORDER BY 1"
    ).fetchall()
    records = _record_numbers([int(r[0]) for r in bad_rows], rejected_records)
    problems.extend((rec, r[1], r[2], r[3]) for rec, r in zip(records, bad_rows, strict=True))
    problems.extend((line - opened.header_lines, None, f"malformed CSV line: {why}", raw) for line, why, raw in rejected)

    valid = _name("valid")
    key = ", ".join(ident(k) for k in ent.key)
    con.execute(f"CREATE TEMP TABLE {valid} AS SELECT *, {ordinal} AS _rid FROM {stage} WHERE NOT _bad")
    merged_rids, dup_problems = _fold_duplicates(
        con, valid, ct, key, lambda k: _record_numbers([k], rejected_records)[0]
    )
    dup_records = _record_numbers([p[0] for p in dup_problems], rejected_records)
    problems.extend((rec, p[1], p[2], p[3]) for rec, p in zip(dup_records, dup_problems, strict=True))
    counts.merged = merged_rids
    if ctx.strict and problems:
        rec, column, reason, raw = min(problems, key=lambda p: p[0])
        line = rec + opened.header_lines
        raise StrictModeError(
            f"{path}: line {line} (row {rec}), column {column or '-'}: {reason}; row: {str(raw)[:200]}"
        )
    counts.quarantined = len(problems)
    if problems:
        con.executemany(
            "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                [ctx.import_id, str(path), sha, ent.name, rec, rec + opened.header_lines, col, reason, raw,
                 ctx.started_at]
                for rec, col, reason, raw in problems
            ],
        )
    aliases = 0
    if ent.identity_field is not None and ct.target.identity == "match":
        aliases, folded = _resolve_identity(con, valid, ct, ctx, source_name, key)
        counts.merged += folded
    _resolve_references(con, valid, ent, ct)
    loaded, updated, unchanged = _upsert(con, valid, ct, ctx, source_name, key)
    counts.loaded, counts.updated, counts.unchanged = loaded, updated, unchanged
    for table in (stage, valid):
        con.execute(f"DROP TABLE {table}")
    if not counts.balanced:  # pragma: no cover - an internal invariant; a bug if it fires
        raise AssertionError(f"row accounting broken for {path} → {ent.name}: {counts}")
    return counts, aliases


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    row = con.execute(sql, params or []).fetchone()
    return row[0] if row else None


def _content_hash(ct: CompiledTarget, exclude_key: bool = True) -> str:
    cols = [c.field for c in ct.fields if not (exclude_key and c.field in ct.entity.key)]
    if ct.attributes is not None:
        cols.append("attributes")
    if not cols:
        return "0"
    return "hash(" + ", ".join(f"CAST({ident(c)} AS VARCHAR)" for c in cols) + ")"


def _fold_duplicates(
    con: duckdb.DuckDBPyConnection, valid: str, ct: CompiledTarget, key: str, to_record: Callable[[int], int]
) -> tuple[int, list[tuple[int, str | None, str, str]]]:
    """Remove in-file repeats of a key from ``valid``; return (merged count, quarantine problems)."""
    dupkeys = _name("dupkeys")
    con.execute(f"CREATE TEMP TABLE {dupkeys} AS SELECT {key} FROM {valid} GROUP BY ALL HAVING count(*) > 1")
    if _scalar(con, f"SELECT count(*) FROM {dupkeys}") == 0:
        con.execute(f"DROP TABLE {dupkeys}")
        return 0, []
    ranked = _name("ranked")
    con.execute(
        f"""CREATE TEMP TABLE {ranked} AS
        SELECT _rid, {key}, {_content_hash(ct)} AS _h,
               first_value(_rid) OVER w AS _first, first_value({_content_hash(ct)}) OVER w AS _first_h,
               row_number() OVER w AS _rn, count(*) OVER (PARTITION BY {key}) AS _n,
               json_object({', '.join(f"{lit(k)}, {ident(k)}" for k in ct.entity.key)}) AS _key_json,
               json_object({', '.join(f"{lit(c.field)}, {ident(c.field)}" for c in ct.fields)}) AS _row_json
        FROM {valid} SEMI JOIN {dupkeys} USING ({key})
        WINDOW w AS (PARTITION BY {key} ORDER BY _rid)"""
    )
    problems: list[tuple[int, str | None, str, str]] = []
    if ct.target.duplicate_keys == "last_wins":
        drop_merged = "_rn < _n"
        drop_quarantine = "FALSE"
    elif ct.key_from_content:
        drop_merged = "FALSE"
        drop_quarantine = "_rn > 1"
    else:
        drop_merged = "_rn > 1 AND _h = _first_h"
        drop_quarantine = "_rn > 1 AND _h <> _first_h"
    for rid, first, key_json, row_json in con.execute(
        f"SELECT _rid, _first, _key_json, _row_json FROM {ranked} WHERE {drop_quarantine} ORDER BY _rid"
    ).fetchall():
        why = (
            f"same content as row {to_record(int(first))} (no {ct.entity.key[0]} to tell the rows apart)"
            if ct.key_from_content
            else f"duplicate key {key_json} with different values (first at row {to_record(int(first))})"
        )
        problems.append((int(rid), ",".join(ct.entity.key), why, str(row_json)))
    merged = int(_scalar(con, f"SELECT count(*) FROM {ranked} WHERE {drop_merged}"))
    con.execute(
        f"DELETE FROM {valid} WHERE _rid IN (SELECT _rid FROM {ranked} WHERE ({drop_merged}) OR ({drop_quarantine}))"
    )
    for table in (dupkeys, ranked):
        con.execute(f"DROP TABLE {table}")
    return merged, problems


def _resolve_identity(
    con: duckdb.DuckDBPyConnection, valid: str, ct: CompiledTarget, ctx: ImportContext, source_name: str, key: str
) -> tuple[int, int]:
    """Register aliases for accounts/contacts and rewrite keys to canonical ids; return (aliases, folded)."""
    ent = ct.entity
    k = ident(ent.key[0])
    idf = ct.entity.identity_field
    assert idf is not None
    table = ident(ent.name)
    # 1. Ids already known as aliases go to their canonical record.
    con.execute(
        f"UPDATE {valid} SET {k} = m.canonical_id FROM identity_map m "
        f"WHERE m.entity = {lit(ent.name)} AND m.alias_id = {valid}.{k}"
    )
    new = _name("aliases")
    con.execute(f"CREATE TEMP TABLE {new} (alias_id VARCHAR, canonical_id VARCHAR, reason VARCHAR)")
    # 2. An external id given by the mapping is another name of the same record.
    if ct.external_id is not None:
        con.execute(
            f"""INSERT INTO {new} SELECT DISTINCT ON (_ext) _ext, {k}, {lit('external id from ' + source_name)}
            FROM {valid} WHERE _ext IS NOT NULL AND _ext <> {k}
              AND _ext NOT IN (SELECT alias_id FROM identity_map WHERE entity = {lit(ent.name)})
            ORDER BY _ext, _rid DESC"""
        )
    has_identity = idf in {c.field for c in ct.fields}
    if has_identity:
        i = ident(idf)
        # 3. A new id whose domain / e-mail belongs to a stored record is that record.
        con.execute(
            f"""INSERT INTO {new}
            SELECT DISTINCT ON (v.{k}) v.{k}, t.{k}, 'same {idf} ' || v.{i}
            FROM {valid} v JOIN {table} t ON t.{i} = v.{i}
            WHERE v.{i} IS NOT NULL AND t.{k} <> v.{k}
              AND NOT EXISTS (SELECT 1 FROM {table} s WHERE s.{k} = v.{k})
            ORDER BY v.{k}, t.{k}"""
        )
        # 4. Inside the file, the first id seen with a domain / e-mail is canonical for the others.
        con.execute(
            f"""INSERT INTO {new}
            WITH firsts AS (
              SELECT {i}, arg_min({k}, _rid) AS canonical FROM {valid}
              WHERE {i} IS NOT NULL AND {k} NOT IN (SELECT alias_id FROM {new})
              GROUP BY {i} HAVING count(DISTINCT {k}) > 1)
            SELECT DISTINCT v.{k}, f.canonical, 'same {idf} ' || v.{i}
            FROM {valid} v JOIN firsts f USING ({i})
            WHERE v.{k} <> f.canonical AND NOT EXISTS (SELECT 1 FROM {table} s WHERE s.{k} = v.{k})"""
        )
    aliases = int(_scalar(con, f"SELECT count(*) FROM {new}"))
    folded = 0
    if aliases:
        con.execute(
            f"""INSERT INTO identity_map SELECT {lit(ent.name)}, alias_id, canonical_id, reason, {lit(source_name)},
            {lit(ctx.import_id)}, {lit(ctx.started_at.isoformat(sep=' '))}::TIMESTAMP FROM {new}
            ON CONFLICT DO NOTHING"""
        )
        con.execute(
            f"UPDATE {valid} SET {k} = a.canonical_id FROM {new} a WHERE a.alias_id = {valid}.{k}"
        )
        # Rows now sharing a canonical id fold into the last one (a merge; logged in identity_map).
        before = int(_scalar(con, f"SELECT count(*) FROM {valid}"))
        con.execute(
            f"DELETE FROM {valid} WHERE _rid NOT IN (SELECT max(_rid) FROM {valid} GROUP BY {key})"
        )
        folded = before - int(_scalar(con, f"SELECT count(*) FROM {valid}"))
        ctx.new_aliases[ent.name] = ctx.new_aliases.get(ent.name, 0) + aliases
    con.execute(f"DROP TABLE {new}")
    return aliases, folded


def _resolve_references(con: duckdb.DuckDBPyConnection, valid: str, ent: Entity, ct: CompiledTarget) -> None:
    """Columns that hold an account or contact id point at the canonical id when an alias is known."""
    mapped = {c.field for c in ct.fields}
    for fld in ent.fields:
        if fld.references in ("accounts", "contacts") and fld.name in mapped and fld.name not in ent.key:
            if _scalar(con, "SELECT count(*) FROM identity_map WHERE entity = ?", [fld.references]):
                col = ident(fld.name)
                con.execute(
                    f"UPDATE {valid} SET {col} = m.canonical_id FROM identity_map m "
                    f"WHERE m.entity = {lit(fld.references)} AND m.alias_id = {valid}.{col}"
                )


def _upsert(
    con: duckdb.DuckDBPyConnection, valid: str, ct: CompiledTarget, ctx: ImportContext, source_name: str, key: str
) -> tuple[int, int, int]:
    ent = ct.entity
    table = ident(ent.name)
    cols = [c.field for c in ct.fields]
    if ct.attributes is not None:
        cols.append("attributes")
    system = [f.name for f in SYSTEM_FIELDS]
    system_values = [lit(source_name), lit(ctx.import_id), f"{lit(ctx.started_at.isoformat(sep=' '))}::TIMESTAMP"]
    insert_cols = ", ".join(ident(c) for c in cols + system)
    insert_values = ", ".join([f"v.{ident(c)}" for c in cols] + system_values)
    total = int(_scalar(con, f"SELECT count(*) FROM {valid}"))
    if _scalar(con, f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1)") == 0:
        con.execute(f"INSERT INTO {table} ({insert_cols}) SELECT {insert_values} FROM {valid} v")
        return total, 0, 0
    join = " AND ".join(f"t.{ident(k)} = v.{ident(k)}" for k in ent.key)
    differs = " OR ".join(f"t.{ident(c)} IS DISTINCT FROM v.{ident(c)}" for c in cols if c not in ent.key) or "FALSE"
    status = _name("status")
    con.execute(
        f"""CREATE TEMP TABLE {status} AS
        SELECT v._rid, CASE WHEN t.{ident(ent.key[0])} IS NULL THEN 'new' WHEN {differs} THEN 'changed'
                            ELSE 'same' END AS _state
        FROM {valid} v LEFT JOIN {table} t ON {join}"""
    )
    counts = dict(con.execute(f"SELECT _state, count(*) FROM {status} GROUP BY ALL").fetchall())
    if counts.get("changed"):
        assignments = ", ".join(
            [f"{ident(c)} = v.{ident(c)}" for c in cols if c not in ent.key]
            + [f"{ident(s)} = {val}" for s, val in zip(system, system_values, strict=True)]
        )
        con.execute(
            f"""UPDATE {table} AS t SET {assignments}
            FROM (SELECT * FROM {valid} WHERE _rid IN (SELECT _rid FROM {status} WHERE _state = 'changed')) v
            WHERE {join}"""
        )
    if counts.get("new"):
        con.execute(
            f"""INSERT INTO {table} ({insert_cols}) SELECT {insert_values} FROM {valid} v
            WHERE v._rid IN (SELECT _rid FROM {status} WHERE _state = 'new')"""
        )
    con.execute(f"DROP TABLE {status}")
    return int(counts.get("new", 0)), int(counts.get("changed", 0)), int(counts.get("same", 0))


def propagate_aliases(con: duckdb.DuckDBPyConnection, ctx: ImportContext) -> None:
    """Rows loaded earlier under an id that this import made an alias now point at the canonical id."""
    for entity_name in ctx.new_aliases:
        for ent in ENTITIES.values():
            for fld in ent.fields:
                if fld.references == entity_name and fld.name not in ent.key:
                    col = ident(fld.name)
                    con.execute(
                        f"UPDATE {ident(ent.name)} SET {col} = m.canonical_id FROM identity_map m "
                        f"WHERE m.entity = {lit(entity_name)} AND m.import_id = {lit(ctx.import_id)} "
                        f"AND m.alias_id = {ident(ent.name)}.{col}"
                    )
