"""Load files into the canonical tables: every row read is loaded, updated, unchanged, merged or quarantined.

One file, one target entity, inside the writer's private copy of the engine (see
:mod:`sinergia.workspace.workspace`); the caller commits all files of a command at once.

Steps for each (file, target):

1. read the file as text (CSV/NDJSON) or typed (Parquet) — CSV lines that do not split into the header's
   columns are caught by DuckDB's reject table and quarantined with their line;
2. build a typed *stage* table in one pass: each canonical field's value, whether the row is valid, and
   for invalid rows the reason and the raw row as JSON (``stage._ord`` is the row's order in the file);
3. quarantine invalid rows; fold rows that repeat a key inside the file (identical → ``merged``; different →
   quarantined, or the last one wins when the mapping says ``duplicate_keys: last_wins``);
4. resolve identities (aliases, matching accounts by domain and contacts by e-mail) and references;
5. insert new keys (``loaded``), update keys whose mapped values differ (``updated``), count the rest
   (``unchanged``). Columns the mapping does not name keep their stored values, and ``attributes`` is
   merged key by key (keys the file does not carry keep theirs).
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
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
    resolve_columns,
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
    #: Physical line numbers (1-based) of the blank lines readers skip; None when the source has no lines
    #: (Parquet, JSON documents).
    blank_lines: Callable[[], list[int]] | None = None


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


#: UTF-8 copies of Windows-1252 files made during an import; ``release_scratch`` deletes them.
_SCRATCH: list[Path] = []


def _utf8_copy(path: Path, sniffed: Sniffed) -> tuple[Path, Sniffed]:
    """DuckDB reads UTF-8 and Latin-1 only: stream a Windows-1252 file into a UTF-8 scratch copy.

    Lines are kept as they are (``newline=""``), so row and line numbers refer to the original file.
    """
    import gzip
    import tempfile

    fd, name = tempfile.mkstemp(prefix="sinergia-cp1252-", suffix=".txt")
    scratch = Path(name)
    _SCRATCH.append(scratch)
    opener = gzip.open if sniffed.compression == "gzip" else open
    with opener(path, "rt", encoding="cp1252", newline="") as source, open(  # noqa: PTH123
        fd, "w", encoding="utf-8", newline=""
    ) as target:
        while chunk := source.read(1 << 20):
            target.write(chunk)
    return scratch, Sniffed(sniffed.format, None, "utf-8", sniffed.delimiter)


def release_scratch() -> None:
    """Delete the scratch copies made by this process's imports."""
    while _SCRATCH:
        _SCRATCH.pop().unlink(missing_ok=True)


def open_source(con: duckdb.DuckDBPyConnection, path: Path, options: Mapping) -> tuple[OpenedSource, Sniffed]:
    sniffed = sniff(path, options.format, options.encoding)
    read_path = path  # what DuckDB reads; messages keep naming the user's file
    if sniffed.encoding == "cp1252" and sniffed.format != "parquet":
        read_path, sniffed = _utf8_copy(path, sniffed)
    view = _name("src")
    fmt = sniffed.format
    decimal = options.decimal or ("," if (options.delimiter or sniffed.delimiter) == ";" else ".")
    rejects_table: str | None = None
    row_error: tuple[str, str] | None = None
    header_lines = 1 if options.header else 0
    if fmt == "csv":
        rejects_table, scan = _name("rej"), _name("rejscan")
        reader = _csv_reader(read_path, sniffed, options, rejects_table, scan)
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
        first = _first_text_line(read_path, sniffed)
        names = first.split() if options.header else [f"column{i}" for i in range(len(first.split()))]
        lines = _line_reader(read_path, sniffed, header_lines)
        parts = "regexp_split_to_array(trim(line, E' \\t\\r'), '\\s+')"
        cols = ", ".join(f"_f[{i + 1}] AS {ident(n)}" for i, n in enumerate(names))
        select = f"SELECT {cols}, len(_f) AS _width FROM (SELECT {parts} AS _f FROM {lines} WHERE trim(line) <> '')"

        def reader(_: bool) -> str:
            return f"({select})"

        con.execute(f"CREATE TEMP VIEW {view} AS {select}")
        described = [(n, "VARCHAR") for n in names]
        row_error = (f"_width <> {len(names)}", f"'row has ' || _width || ' fields, the header {len(names)}'")
    else:  # json / ndjson: one JSON object per row, columns are dotted paths
        documents = _json_documents(con, read_path, sniffed) if fmt == "ndjson" else None
        if documents is not None:  # pretty-printed object(s), not one object per line
            select, fmt = documents, "json"
        elif fmt == "ndjson":
            select = (
                "SELECT CASE WHEN json_valid(line) THEN CAST(line AS JSON) END AS json, line AS _line "
                f"FROM {_line_reader(read_path, sniffed, 0)} WHERE trim(line) <> ''"
            )
        else:
            select = (
                f"SELECT json, CAST(json AS VARCHAR) AS _line FROM read_json_objects({lit(str(read_path))}, "
                f"format = 'array', compression = {lit(sniffed.compression or 'none')})"
            )
        if options.records or options.unnest:
            select, one_row_per_line = _json_records(con, select, options.records, options.unnest)
            if not one_row_per_line:
                fmt = "json"  # rows are no longer the file's lines

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
    blank_lines = None
    if fmt in ("csv", "whitespace", "ndjson"):
        # CSV skips empty lines; the line readers above also drop whitespace-only ones.
        blank_lines = functools.partial(_blank_lines, read_path, sniffed.compression == "gzip", fmt != "csv")
    opened = OpenedSource(source, reader, header_lines, rejects_table, row_error, raw_json, blank_lines)
    return opened, sniffed


def _blank_lines(path: Path, gz: bool, whitespace_is_blank: bool) -> list[int]:
    """Physical numbers of the blank lines of a text file (bytes, so any encoding; quoted line breaks count)."""
    import gzip

    blank = []
    with (gzip.open if gz else open)(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            if not (line.strip() if whitespace_is_blank else line.rstrip(b"\r\n")):
                blank.append(number)
    return blank


def _json_documents(con: duckdb.DuckDBPyConnection, path: Path, sniffed: Sniffed) -> str | None:
    """SQL reading ``path`` as whole JSON documents when its first line is not a JSON value on its own
    (a pretty-printed API response); None when it is (NDJSON) or the file does not parse as documents."""
    import json

    try:
        json.loads(_first_text_line(path, sniffed))
        return None
    except ValueError:
        pass
    select = (
        f"SELECT json, CAST(json AS VARCHAR) AS _line FROM read_json_objects({lit(str(path))}, "
        f"format = 'unstructured', compression = {lit(sniffed.compression or 'none')})"
    )
    try:
        con.execute(f"SELECT count(*) FROM ({select})").fetchone()
    except duckdb.Error:
        return None  # read line by line: the lines that do not parse are quarantined one by one
    return select


def _json_records(
    con: duckdb.DuckDBPyConnection, select: str, records: list[str] | None, unnest: str | None
) -> tuple[str, bool]:
    """Wrap a JSON relation (json, _line): take the records out of wrapping documents, then expand an array.

    Returns the new relation and whether it still has one row per row of ``select``.
    """
    one_row_each = True
    arrays = ", ".join(f"json_extract(json, {lit('$.' + _json_key(k))})" for k in records or [])
    if arrays and _scalar(con, f"SELECT count(*) FROM ({select}) WHERE json_type(COALESCE({arrays})) = 'ARRAY'"):
        one_row_each = False
        select = f"""SELECT CASE WHEN _w THEN _e ELSE json END AS json,
                CASE WHEN _w THEN CAST(_e AS VARCHAR) ELSE _line END AS _line
            FROM (SELECT json, _line, _w, unnest(CASE WHEN _w THEN CAST(_a AS JSON[]) ELSE [NULL::JSON] END) AS _e
                  FROM (SELECT json, _line, _a, COALESCE(json_type(_a) = 'ARRAY', FALSE) AS _w
                        FROM (SELECT json, _line, COALESCE({arrays}) AS _a FROM ({select}))))"""
    if unnest:
        path = lit("$." + _json_key(unnest))
        if _scalar(con, f"SELECT count(*) FROM ({select}) WHERE json_array_length(json_extract(json, {path})) > 1"):
            one_row_each = False
        merged = f"json_merge_patch(json, json_object({lit(unnest)}, _e))"
        select = f"""SELECT CASE WHEN _e IS NULL THEN json ELSE {merged} END AS json,
                CASE WHEN _e IS NULL THEN _line ELSE CAST({merged} AS VARCHAR) END AS _line
            FROM (SELECT json, _line, unnest(CASE WHEN json_array_length(json_extract(json, {path})) > 0
                  THEN CAST(json_extract(json, {path}) AS JSON[]) ELSE [NULL::JSON] END) AS _e FROM ({select}))"""
    return select, one_row_each


def _json_key(name: str) -> str:
    """A JSON path step for a key (quoted, so keys with dots or spaces work)."""
    return '"' + name.replace('"', '\\"') + '"'


def _first_text_line(path: Path, sniffed: Sniffed) -> str:
    import gzip

    opener = gzip.open if sniffed.compression == "gzip" else open
    with opener(path, "rt", encoding=sniffed.encoding, errors="replace") as handle:
        for line in handle:
            if line.strip():
                return str(line).lstrip("\ufeff")  # a UTF-8 BOM is not part of the first name
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
    #: (column, SQL) of the ``sql`` specs, computed once under the stage; the fields read these columns.
    precomputed: list[tuple[str, str]] = field(default_factory=list)


def compile_target(
    con: duckdb.DuckDBPyConnection,
    opened: OpenedSource,
    target: Target,
    options: Mapping,
    ctx: ImportContext,
    path: Path,
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
    precomputed: list[tuple[str, str]] = []
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
                        where = f"column '{source.resolve(spec.column)}'" if spec.column else "the sql expression"
                        raise InputError(f"{path}: {where} (→ {ent.name}.{name}): {error}") from None
        reads = spec
        if spec.sql is not None:  # the value and every check read it: evaluate (and bind) it once
            column = f"_sql_{len(precomputed)}"
            precomputed.append((column, f"CAST(({resolve_columns(spec.sql, source)}) AS VARCHAR)"))
            reads = spec.model_copy(update={"sql": ident(column)})
        compiled.append(compile_field(fld, reads, source, options, timezone, parse))
    key_from_content = any(k not in target.columns for k in ent.key)
    if key_from_content:
        parts = ", ".join(f"COALESCE(CAST({c.value} AS VARCHAR), chr(0))" for c in compiled)
        compiled.insert(0, Compiled(ent.key[0], f"md5(concat_ws(chr(31), {parts}))"))
    external = None
    if target.external_id:
        ext_column = source.resolve([target.external_id])
        if ext_column is None:
            raise InputError(f"{path}: external_id column '{target.external_id}' not found")
        external = f"NULLIF(TRIM(CAST({source.column_sql(ext_column)[0]} AS VARCHAR)), '')"
    attributes = _attributes_sql(target, source)
    if attributes is not None and target.attributes_under is not None:
        attributes = f"json_object({lit(target.attributes_under)}, {attributes})"
    return CompiledTarget(ent, target, compiled, key_from_content, external, attributes, precomputed)


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
    unmatched = _unmatched_rows(con, path, opened, mapping, ctx)
    for index, target in enumerate(compiled):
        counts, aliases = _load_target(con, path, sha, opened, target, ctx, source_name)
        if index == 0 and unmatched:
            _quarantine_unmatched(con, path, sha, opened, target.entity.name, unmatched, ctx, counts)
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
    if not any(r.counts.read for r in results):  # every target has a `where` (else _load_target raised)
        raise InputError(f"{path}: no data rows (the file has a header but nothing under it)")
    return results


def _unmatched_rows(
    con: duckdb.DuckDBPyConnection, path: Path, opened: OpenedSource, mapping: Mapping, ctx: ImportContext
) -> list[tuple[int, str, str]]:
    """(ordinal, reason, raw) of the rows no target takes: every target has a ``where`` and the row fails all.

    Each target reads only the rows its ``where`` selects; without this check a row of a kind no target
    expects (a Segment ``alias`` call, a line that is not JSON) would be read by nobody and vanish.
    """
    wheres = [t.where for t in mapping.targets if t.where is not None]
    if not wheres or len(wheres) < len(mapping.targets):
        return []
    taken = " OR ".join(f"COALESCE(({resolve_columns(w, opened.source)}), FALSE)" for w in wheres)
    reason = lit("no target takes this row (it matches none of: " + " | ".join(wheres) + ")")
    if opened.row_error is not None:
        reason = f"CASE WHEN {opened.row_error[0]} THEN {opened.row_error[1]} ELSE {reason} END"
    try:
        rows = con.execute(
            f"SELECT _ord, {reason}, {opened.raw_json} FROM (SELECT row_number() OVER () AS _ord, * "
            f"FROM {opened.source.view}) WHERE NOT ({taken}) ORDER BY _ord"
        ).fetchall()
    except duckdb.Error as error:
        raise InputError(f"{path}: {_first_line(error)}") from None
    unmatched = [(int(r[0]), str(r[1]), str(r[2])) for r in rows]
    if ctx.strict and unmatched:
        ordinal, why, raw = unmatched[0]
        raise StrictModeError(f"{path}: row {ordinal}: {why}; row: {raw[:200]}")
    return unmatched


def _quarantine_unmatched(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    sha: str,
    opened: OpenedSource,
    entity_name: str,
    unmatched: list[tuple[int, str, str]],
    ctx: ImportContext,
    counts: Counts,
) -> None:
    """Quarantine the rows no target takes; they are read and quarantined in the first target's counts."""
    lines = _Lines(con, opened, [line - opened.header_lines for line, _, _ in _rejected(con, opened)])
    positions = [lines.position(ordinal) for ordinal, _, _ in unmatched]
    _insert_quarantine(
        con,
        [
            [
                ctx.import_id,
                str(path),
                sha,
                entity_name,
                lines.row(pos),
                pos + opened.header_lines,
                None,
                why,
                raw,
                ctx.started_at,
            ]
            for pos, (_, why, raw) in zip(positions, unmatched, strict=True)
        ],
    )
    counts.read += len(unmatched)
    counts.quarantined += len(unmatched)


def _rejected(con: duckdb.DuckDBPyConnection, opened: OpenedSource) -> list[tuple[int, str, str]]:
    """(line, reason, raw line) of CSV lines DuckDB could not split into the header's columns."""
    if opened.rejects_table is None:
        return []
    try:
        rows = con.execute(
            # One message per error type: DuckDB reports TOO MANY COLUMNS once per extra column.
            "SELECT line, string_agg(msg, '; ' ORDER BY msg), any_value(csv_line) FROM ("
            "SELECT line, arg_max(error_type || ': ' || coalesce(error_message, ''), coalesce(column_idx, 0)) AS msg, "
            f"any_value(csv_line) AS csv_line FROM {opened.rejects_table} GROUP BY line, error_type"
            ") GROUP BY line ORDER BY line"
        ).fetchall()
    except duckdb.CatalogException:
        return []
    # csv_line may start with the line breaks of skipped blank lines before it.
    return [(int(r[0]), str(r[1]), str(r[2]).lstrip("\r\n")) for r in rows]


class _Lines:
    """Where parsed rows sit in the file: their physical line and their data-row number.

    Readers number the rows they parse; rows DuckDB rejected and blank lines are absent from that
    numbering. Positions count physical lines after the header; rows count data records (blank lines
    excluded, rejected lines included). Blank lines are looked up only when a row has to be located.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, opened: OpenedSource, rejected: list[int]) -> None:
        self.con, self.opened, self.rejected = con, opened, rejected
        self._blank: list[int] | None = None
        self._skipped: list[int] = []

    def blank(self) -> list[int]:
        if self._blank is None:
            header = self.opened.header_lines
            found = self.opened.blank_lines() if self.opened.blank_lines is not None else []
            self._blank = [n - header for n in found if n > header]
            self._skipped = sorted({*self._blank, *self.rejected})
        return self._blank

    def position(self, ordinal: int) -> int:
        """Physical line minus header lines of the ``ordinal``-th parsed row (1-based)."""
        self.blank()
        return _record_numbers([ordinal], self._skipped)[0]

    def row(self, position: int) -> int:
        """Data-row number (1-based, blank lines not counted) of the line at ``position``."""
        return position - bisect.bisect_left(self.blank(), position)


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
        field_reasons = [str(r) for _, r, f in errors if f != "(row)"]
        reasons = f"concat_ws('; ', {', '.join(field_reasons)})" if field_reasons else "NULL"
        if opened.row_error is not None:  # a row that does not parse has that reason only
            reasons = f"CASE WHEN {opened.row_error[0]} THEN {opened.row_error[1]} ELSE {reasons} END"
        first_col = "CASE " + " ".join(f"WHEN {e} THEN {lit(None if f == '(row)' else f)}" for e, _, f in errors)
        first_col += " END"
        select.append(f"COALESCE({bad}, FALSE) AS _bad")
        select.append(f"CASE WHEN {bad} THEN {reasons} END AS _reason")
        select.append(f"CASE WHEN {bad} THEN {first_col} END AS _column")
        select.append(f"CASE WHEN {bad} THEN {opened.raw_json} END AS _raw")
    else:
        select.append("FALSE AS _bad, NULL::VARCHAR AS _reason, NULL::VARCHAR AS _column, NULL::VARCHAR AS _raw")
    relation = opened.reader(True) if opened.source.format == "csv" else opened.source.view
    # Number the rows in file order first, straight off the reader: later operators do not keep that order
    # (DuckDB may run an IN list as a join; a mapping's window function regroups rows), and folding repeated
    # keys (last_wins) and quarantine line numbers need it.
    select.append("_ord")
    relation = f"(SELECT row_number() OVER () AS _ord, * FROM {relation})"
    if ct.precomputed:
        relation = f"(SELECT *, {', '.join(f'{sql} AS {ident(c)}' for c, sql in ct.precomputed)} FROM {relation})"
    if ct.target.where:
        where = resolve_columns(ct.target.where, opened.source)
        relation = f"{relation} WHERE {where}"
    try:
        con.execute(f"CREATE TEMP TABLE {stage} AS SELECT {', '.join(select)} FROM {relation}")
    except duckdb.Error as error:
        raise InputError(f"{path}: {_first_line(error)}") from None
    ordinal = "_ord"
    rejected = _rejected(con, opened)
    parsed = int(_scalar(con, f"SELECT count(*) FROM {stage}"))
    counts = Counts(read=parsed + len(rejected))
    if counts.read == 0 and ct.target.where is None:  # with a `where`, load_file checks the whole file
        raise InputError(f"{path}: no data rows (the file has a header but nothing under it)")

    # Row numbers: the parsed row ordinal → record number counting rejected rows → physical line.
    rejected_records = [line - opened.header_lines for line, _, _ in rejected]
    lines = _Lines(con, opened, rejected_records)
    problems: list[tuple[int, str | None, str, str]] = []  # (position, column, reason, raw)
    bad_rows = con.execute(
        f"SELECT {ordinal}, _column, _reason, _raw FROM {stage} WHERE _bad ORDER BY 1"
    ).fetchall()
    problems.extend((lines.position(int(r[0])), r[1], r[2], r[3]) for r in bad_rows)
    problems.extend(
        (pos, None, f"malformed CSV line: {why}", raw)
        for pos, (_, why, raw) in zip(rejected_records, rejected, strict=True)
    )

    valid = _name("valid")
    key = ", ".join(ident(k) for k in ent.key)
    # A view when nothing below rewrites the rows (no repeated key, no identity or reference rewrite):
    # copying every valid row costs ~10% of a 10M-row import and doubles its memory.
    has_dups = _has_duplicate_keys(con, f"(SELECT {key} FROM {stage} WHERE NOT _bad)", key)
    rewrites = (ent.identity_field is not None and ct.target.identity == "match") or _rewrites_references(con, ct)
    kind = "TABLE" if has_dups or rewrites else "VIEW"
    con.execute(f"CREATE TEMP {kind} {valid} AS SELECT *, {ordinal} AS _rid FROM {stage} WHERE NOT _bad")
    external = None
    if ct.external_id is not None:  # rows folded below still name their record: keep their external ids
        external = _name("external")
        con.execute(f"CREATE TEMP TABLE {external} AS SELECT _rid, {key}, _ext FROM {valid} WHERE _ext IS NOT NULL")
    merged_rids, dup_problems = (
        _fold_duplicates(con, valid, ct, key, lambda k: lines.row(lines.position(k))) if has_dups else (0, [])
    )
    if external is not None and dup_problems:  # but not the quarantined ones
        con.execute(f"DELETE FROM {external} WHERE list_contains(?, _rid)", [[p[0] for p in dup_problems]])
    problems.extend((lines.position(p[0]), p[1], p[2], p[3]) for p in dup_problems)
    counts.merged = merged_rids
    if ctx.strict and problems:
        pos, column, reason, raw = min(problems, key=lambda p: p[0])
        line = pos + opened.header_lines
        raise StrictModeError(
            f"{path}: line {line} (row {lines.row(pos)}), column {column or '-'}: {reason}; row: {str(raw)[:200]}"
        )
    counts.quarantined = len(problems)
    if problems:
        _insert_quarantine(
            con,
            [
                [ctx.import_id, str(path), sha, ent.name, lines.row(pos), pos + opened.header_lines, col, reason,
                 raw, ctx.started_at]
                for pos, col, reason, raw in problems
            ],
        )
    aliases = 0
    if ent.identity_field is not None and ct.target.identity == "match":
        aliases, folded = _resolve_identity(con, valid, ct, ctx, source_name, key, external)
        counts.merged += folded
    _resolve_references(con, valid, ent, ct)
    loaded, updated, unchanged = _upsert(con, valid, ct, ctx, source_name, key)
    counts.loaded, counts.updated, counts.unchanged = loaded, updated, unchanged
    con.execute(f"DROP {kind} {valid}")
    for table in (stage, external):
        if table is not None:
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


def _has_duplicate_keys(con: duckdb.DuckDBPyConnection, rows: str, key: str) -> bool:
    """Whether a key repeats in ``rows``; distinct hashes (the common case) prove it without grouping keys."""
    if not _scalar(con, f"SELECT count(*) - count(DISTINCT hash({key})) FROM {rows}"):
        return False
    return bool(_scalar(con, f"SELECT count(*) FROM (SELECT 1 FROM {rows} GROUP BY {key} HAVING count(*) > 1)"))


def _rewrites_references(con: duckdb.DuckDBPyConnection, ct: CompiledTarget) -> bool:
    """Whether :func:`_resolve_references` will update rows (a mapped reference has known aliases)."""
    ent, mapped = ct.entity, {c.field for c in ct.fields}
    known = {str(r[0]) for r in con.execute("SELECT DISTINCT entity FROM identity_map").fetchall()}
    return any(f.references in known and f.name in mapped and f.name not in ent.key for f in ent.fields)


def _insert_quarantine(con: duckdb.DuckDBPyConnection, rows: list[list[Any]]) -> None:
    """Append quarantine rows (on a repeated key the first wins) in one statement, a list per column.

    ``executemany`` against the table's primary key costs ~10 ms a row (5,000 bad rows: over a minute); this
    takes ~0.1 s for 10,000. (No ``register``: DuckDB refuses it while a fetched result is still open.)
    """
    if not rows:
        return
    names = ["import_id", "file", "file_sha256", "entity", "row_number", "line", "column_name", "reason", "raw",
             "quarantined_at"]
    types = ["VARCHAR"] * 4 + ["BIGINT"] * 2 + ["VARCHAR"] * 3 + ["TIMESTAMP"]
    columns = [
        [v if v is None or t != "VARCHAR" else str(v) for v in values]
        for values, t in zip(zip(*rows, strict=True), types, strict=True)
    ]
    unnest = ", ".join(f"unnest(?::{t}[]) AS {n}" for n, t in zip(names, types, strict=True))
    listed = ", ".join(names)
    con.execute(
        f"INSERT INTO quarantine ({listed}) SELECT {listed} FROM (SELECT {unnest}) ON CONFLICT DO NOTHING", columns
    )


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
    con: duckdb.DuckDBPyConnection,
    valid: str,
    ct: CompiledTarget,
    ctx: ImportContext,
    source_name: str,
    key: str,
    external: str | None = None,
) -> tuple[int, int]:
    """Register aliases for accounts/contacts and rewrite keys to canonical ids; return (aliases, folded).

    ``external`` holds (_rid, key, _ext) of every row with an external id, including rows that were folded
    into another row of the same key (``valid`` keeps one row per key).
    """
    ent = ct.entity
    k = ident(ent.key[0])
    idf = ct.entity.identity_field
    assert idf is not None
    table = ident(ent.name)
    # 1. Ids already known as aliases go to their canonical record.
    for rows in (valid, external) if external is not None else (valid,):
        con.execute(
            f"UPDATE {rows} SET {k} = m.canonical_id FROM identity_map m "
            f"WHERE m.entity = {lit(ent.name)} AND m.alias_id = {rows}.{k}"
        )
    new = _name("aliases")
    con.execute(f"CREATE TEMP TABLE {new} (alias_id VARCHAR, canonical_id VARCHAR, reason VARCHAR)")
    # 2. An external id given by the mapping is another name of the same record.
    if ct.external_id is not None:
        con.execute(
            f"""INSERT INTO {new} SELECT DISTINCT ON (_ext) _ext, {k}, {lit('external id from ' + source_name)}
            FROM {external or valid} WHERE _ext IS NOT NULL AND _ext <> {k}
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
    if aliases:
        con.execute(
            f"""INSERT INTO identity_map SELECT {lit(ent.name)}, alias_id, canonical_id, reason, {lit(source_name)},
            {lit(ctx.import_id)}, {lit(ctx.started_at.isoformat(sep=' '))}::TIMESTAMP FROM {new}
            ON CONFLICT DO NOTHING"""
        )
        con.execute(
            f"UPDATE {valid} SET {k} = a.canonical_id FROM {new} a WHERE a.alias_id = {valid}.{k}"
        )
        ctx.new_aliases[ent.name] = ctx.new_aliases.get(ent.name, 0) + aliases
    # Rows now sharing a canonical id fold into the last one (a merge; logged in identity_map) — also when
    # the alias was known before (step 1), as on a re-import: else two rows would update one record.
    before = int(_scalar(con, f"SELECT count(*) FROM {valid}"))
    con.execute(f"DELETE FROM {valid} WHERE _rid NOT IN (SELECT max(_rid) FROM {valid} GROUP BY {key})")
    folded = before - int(_scalar(con, f"SELECT count(*) FROM {valid}"))
    con.execute(f"DROP TABLE {new}")
    return aliases, folded


def _resolve_references(con: duckdb.DuckDBPyConnection, valid: str, ent: Entity, ct: CompiledTarget) -> None:
    """Columns that hold an account or contact id point at the canonical id when an alias is known."""
    mapped = {c.field for c in ct.fields}
    known = {
        str(r[0]) for r in con.execute("SELECT DISTINCT entity FROM identity_map").fetchall()
    }
    for fld in ent.fields:
        if fld.references in known and fld.name in mapped and fld.name not in ent.key:
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
    differs = " OR ".join(
        _attributes_differ("t", "v") if c == "attributes" else f"t.{ident(c)} IS DISTINCT FROM v.{ident(c)}"
        for c in cols
        if c not in ent.key
    ) or "FALSE"
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
            [f"{ident(c)} = {_merged_attributes('t', 'v') if c == 'attributes' else f'v.{ident(c)}'}"
             for c in cols if c not in ent.key]
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


def _both_objects(stored: str, new: str) -> str:
    return f"json_type({stored}.attributes) = 'OBJECT' AND json_type({new}.attributes) = 'OBJECT'"


def _attributes_map(row: str) -> str:
    return f"CAST({row}.attributes AS MAP(VARCHAR, JSON))"


def _merged_attributes(stored: str, new: str) -> str:
    """Stored attributes updated key by key: keys the file does not carry keep their stored values.

    Several files may describe the same records (a CRM and a billing export of the same accounts); each
    keeps its columns, and re-importing one of them does not erase what the others brought.
    """
    merged = f"to_json(map_concat({_attributes_map(stored)}, {_attributes_map(new)}))"
    return (
        f"CASE WHEN {_both_objects(stored, new)} THEN {merged} "
        f"ELSE COALESCE({new}.attributes, {stored}.attributes) END"
    )


def _attributes_differ(stored: str, new: str) -> str:
    """Whether merging the new attributes changes the stored ones (compared as parsed key/value maps)."""
    merged = f"to_json(map_concat({_attributes_map(stored)}, {_attributes_map(new)}))"
    return (
        f"(CASE WHEN {new}.attributes IS NULL OR {new}.attributes = {stored}.attributes THEN FALSE "  # the usual case
        f"WHEN {_both_objects(stored, new)} THEN {merged} <> to_json({_attributes_map(stored)}) "
        f"ELSE {stored}.attributes IS DISTINCT FROM {new}.attributes END)"
    )


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
