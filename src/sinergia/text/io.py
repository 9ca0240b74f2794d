"""Reading text tables and dictionaries, writing results: what the ``sinergia text`` commands share.

Tables are read with the ingestion sniffer (:func:`sinergia.ingest.sniff.sniff`): the bytes decide the format
(CSV, gzip CSV, Parquet, JSON lines), the encoding (UTF-8, Latin-1, Windows-1252) and the delimiter
(``,`` ``;`` tab ``|``). Every column is read as text, blanks stay blank strings.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sinergia.errors import ConfigError, InputError


def read_table(path: Path | str, required: Sequence[str] = ()) -> pd.DataFrame:
    """The file as a frame of strings; :class:`InputError` when unreadable or a required column is missing."""
    from sinergia.ingest.sniff import sniff

    file = Path(path)
    sniffed = sniff(file)
    try:
        if sniffed.format == "parquet":
            frame = pd.read_parquet(file).astype("string").fillna("").astype(object)
        elif sniffed.format in ("json", "ndjson"):
            frame = pd.read_json(file, lines=sniffed.format == "ndjson", dtype=False,
                                 compression=sniffed.compression, encoding=sniffed.encoding)
            frame = frame.astype("string").fillna("").astype(object)
        else:
            frame = pd.read_csv(
                file, sep=sniffed.delimiter if sniffed.format == "csv" else r"\s+", dtype=str,
                keep_default_na=False, encoding="utf-8-sig" if sniffed.encoding == "utf-8" else sniffed.encoding,
                compression=sniffed.compression,
            )
    except (ValueError, OSError) as error:  # pandas' ParserError is a ValueError
        raise InputError(f"{file}: cannot read as a table ({type(error).__name__}: {error})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(f"{file}: no column {', '.join(repr(c) for c in missing)}; "
                         f"columns are {', '.join(frame.columns[:30])}")
    return frame


def parse_ratings(values: Sequence[Any], column: str) -> list[float | None]:
    """Numbers from a rating column (``4``, ``4.0``, ``4,5``); blanks are missing; anything else is an error."""
    out: list[float | None] = []
    for line, value in enumerate(values, start=2):
        text = "" if value is None else str(value).strip()
        if text == "" or text.lower() in ("na", "nan", "null", "none"):
            out.append(None)
            continue
        try:
            out.append(float(text.replace(",", ".")))
        except ValueError:
            raise InputError(f"column {column!r}, row {line}: {text!r} is not a number") from None
    return out


def read_dictionary(path: Path | str) -> dict[str, list[str]]:
    """A YAML or JSON file mapping each name to a list of aliases (``{"Zendesk": ["zendesk", "zen desk"]}``)."""
    import yaml

    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{file}: cannot read the dictionary ({error})") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{file}: expected a mapping of names to lists of aliases")
    out: dict[str, list[str]] = {}
    for name, given in data.items():
        aliases = [] if given is None else [given] if isinstance(given, str) else given
        if not isinstance(aliases, list) or not all(isinstance(a, str | int | float) for a in aliases):
            raise ConfigError(f"{file}: aliases of {name!r} must be a list of strings")
        out[str(name)] = [str(a) for a in aliases]
    return out


def write_csv(frame: pd.DataFrame, path: Path | str) -> Path:
    """Write ``frame`` as UTF-8 CSV, atomically (a temporary file in the same folder, then a rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            frame.to_csv(out, index=False)
        Path(name).replace(target)
    except OSError as error:
        Path(name).unlink(missing_ok=True)
        raise InputError(f"{target}: cannot write ({error.strerror})") from None
    return target
