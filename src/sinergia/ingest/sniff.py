"""Look at a file's first bytes: its real format, compression, encoding and CSV delimiter.

The extension is a claim; the bytes decide. A ``.parquet`` that holds text, a ``.csv`` that is a
zip, a binary file or an empty one are refused here with a one-line reason.
"""

from __future__ import annotations

import csv
import io
import zlib
from dataclasses import dataclass
from pathlib import Path

from sinergia.errors import InputError

SAMPLE_BYTES = 1 << 20
DELIMITERS = (",", ";", "\t", "|")
_EXTENSION_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}


@dataclass(frozen=True)
class Sniffed:
    """What the bytes say a file is."""

    format: str  # csv | parquet | json | ndjson | whitespace
    compression: str | None  # gzip or None
    encoding: str = "utf-8"  # utf-8 | latin-1 | cp1252 (a UTF-8 BOM is skipped by the reader)
    delimiter: str = ","


def _claimed_format(path: Path) -> tuple[str | None, bool]:
    suffixes = [s.lower() for s in path.suffixes]
    gz = bool(suffixes) and suffixes[-1] == ".gz"
    if gz:
        suffixes = suffixes[:-1]
    claimed = _EXTENSION_FORMATS.get(suffixes[-1]) if suffixes else None
    return claimed, gz


def _read_sample(path: Path, gz: bool) -> bytes:
    with path.open("rb") as raw:
        head = raw.read(SAMPLE_BYTES)
    if not gz:
        return head
    try:
        # Decompress what the partial head allows; a truncated stream is fine for sniffing.
        return zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(head, SAMPLE_BYTES)
    except zlib.error as error:
        raise InputError(f"{path}: gzip data is corrupt ({error})") from None


def _decode(path: Path, sample: bytes, truncated: bool) -> tuple[str, str]:
    if sample.startswith(b"\xef\xbb\xbf"):
        sample = sample[3:]
    try:
        return "utf-8", sample.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut off by the sample's end is not an encoding error.
        start = error.start
        if truncated and start >= len(sample) - 3:
            return "utf-8", sample[:start].decode("utf-8")
        bad = sample[start : start + 1]
    # Latin-1 decodes any byte; accept it only when the bytes look like Latin-1 text, i.e. no C1
    # control characters (0x80-0x9F never occur in real Latin-1 text, but fill binary and UTF-16 files).
    if not any(0x80 <= b <= 0x9F for b in sample):
        return "latin-1", sample.decode("latin-1")
    # Windows-1252 (Excel's "CSV" on Windows) puts curly quotes, dashes and € in 0x80-0x9F; it leaves five
    # bytes undefined, so a file that decodes has a good chance of really being cp1252 text.
    try:
        return "cp1252", sample.decode("cp1252")
    except UnicodeDecodeError:
        pass
    line = sample[:start].count(b"\n") + 1
    raise InputError(
        f"{path}: undecodable bytes (0x{bad.hex()} at line {line}): neither UTF-8, Latin-1 nor Windows-1252; "
        "save the file as UTF-8"
    )


def _delimiter(text: str) -> str:
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if len(lines) > 1 and not text.endswith("\n"):
        lines = lines[:-1]  # the sample may cut the last line
    best, best_score = ",", (0, 0)
    for delim in DELIMITERS:
        try:
            widths = [len(row) for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=delim)]
        except csv.Error:
            continue
        if not widths or widths[0] < 2:
            continue
        consistent = sum(1 for w in widths if w == widths[0])
        score = (consistent, widths[0])
        if score > best_score:
            best, best_score = delim, score
    return best


def _looks_whitespace_separated(text: str) -> bool:
    lines = [ln for ln in text.splitlines()[:20] if ln.strip()]
    if not lines:
        return False
    if any("," in ln or ";" in ln for ln in lines):
        return False
    widths = [len(ln.split()) for ln in lines]
    if widths[0] < 2:
        return False
    if len(set(widths)) == 1:
        return True
    # A few rows with the wrong number of fields are quarantined, not a reason to read the file as one
    # column; with tabs, uneven widths mean empty fields, which only the tab-delimited reader keeps.
    agree = sum(1 for w in widths if w == widths[0])
    return not any("\t" in ln for ln in lines) and agree >= 2 and agree >= 0.8 * len(widths)


def sniff(path: Path, forced_format: str | None = None, forced_encoding: str | None = None) -> Sniffed:
    """Decide how to read ``path``; raise :class:`InputError` with the reason when it can't be read.

    ``forced_encoding`` (a mapping's ``encoding:``) skips encoding detection: the user has said what it is.
    """
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a file")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path}: the file is empty (0 bytes)")
    claimed, claimed_gz = _claimed_format(path)
    with path.open("rb") as raw:
        magic = raw.read(4)
    gz = magic[:2] == b"\x1f\x8b"
    if claimed_gz and not gz:
        raise InputError(f"{path}: named .gz but is not gzip-compressed")
    if magic == b"PAR1":
        if forced_format not in (None, "parquet") or claimed not in (None, "parquet"):
            raise InputError(f"{path}: is a Parquet file, not {forced_format or claimed}")
        return Sniffed("parquet", None)
    if magic[:2] == b"PK":
        raise InputError(f"{path}: is a ZIP archive (an .xlsx?); export it as CSV or unzip it first")
    if claimed == "parquet" or forced_format == "parquet":
        raise InputError(f"{path}: is not a Parquet file (it does not start with the 'PAR1' marker)")
    sample = _read_sample(path, gz)
    truncated = size > SAMPLE_BYTES or gz
    head = sample[:512]  # UTF-16: a byte-order mark, or (ASCII text) a NUL in every other byte
    every_other_nul = len(head) >= 8 and max(head[0::2].count(0), head[1::2].count(0)) >= 0.9 * (len(head) // 2)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or every_other_nul:
        raise InputError(f"{path}: is UTF-16 text; save it as UTF-8 (or Latin-1) and import it again")
    if b"\x00" in sample:
        raise InputError(f"{path}: is a binary file, not text (it contains NUL bytes)")
    if forced_encoding is not None:
        encoding = forced_encoding if forced_encoding in ("latin-1", "cp1252") else "utf-8"
        text = sample.removeprefix(b"\xef\xbb\xbf").decode(encoding, errors="replace")
    else:
        encoding, text = _decode(path, sample, truncated)
    stripped = text.lstrip()
    if not stripped:
        raise InputError(f"{path}: the file is empty (only blank lines)")
    compression = "gzip" if gz else None
    kind = forced_format or claimed
    if kind in ("json", "ndjson") or (kind is None and stripped[0] in "[{"):
        if stripped[0] not in "[{":
            raise InputError(f"{path}: is not JSON (it starts with {stripped[:20]!r})")
        if kind == "ndjson" or (kind is None and stripped[0] == "{" and "\n{" in stripped.rstrip()):
            return Sniffed("ndjson", compression, encoding)
        return Sniffed("json" if stripped[0] == "[" else "ndjson", compression, encoding)
    if stripped[0] in "[{" and kind == "csv":
        raise InputError(f"{path}: looks like JSON, not CSV; rename it to .json or .ndjson")
    if kind == "whitespace" or (kind is None and _looks_whitespace_separated(text)):
        return Sniffed("whitespace", compression, encoding, " ")
    return Sniffed("csv", compression, encoding, _delimiter(text))
