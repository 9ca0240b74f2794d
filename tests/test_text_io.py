"""Reading text tables through the ingestion sniffer, ratings, dictionaries, atomic CSV writes."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from sinergia.errors import ConfigError, InputError
from sinergia.text.io import parse_ratings, read_dictionary, read_table, write_csv

FRAME = pd.DataFrame({"id": ["007", "2"], "texto": ["Ótimo, não tenho do que reclamar", "Péssimo; veio errado"],
                      "nota": ["5", "1"]})


@pytest.mark.parametrize("kind", ["csv-semicolon-latin1", "csv-tab", "csv-gzip", "parquet", "ndjson"])
def test_formats(tmp_path: Path, kind: str) -> None:
    if kind == "csv-semicolon-latin1":
        path = tmp_path / "t.csv"
        FRAME.to_csv(path, sep=";", index=False, encoding="latin-1")
    elif kind == "csv-tab":
        path = tmp_path / "t.tsv"
        FRAME.to_csv(path, sep="\t", index=False)
    elif kind == "csv-gzip":
        path = tmp_path / "t.csv.gz"
        path.write_bytes(gzip.compress(FRAME.to_csv(index=False).encode("utf-8")))
    elif kind == "parquet":
        path = tmp_path / "t.parquet"
        FRAME.to_parquet(path)
    else:
        path = tmp_path / "t.jsonl"
        FRAME.to_json(path, orient="records", lines=True, force_ascii=False)
    frame = read_table(path, required=("texto", "nota"))
    assert frame["texto"].tolist() == FRAME["texto"].tolist()
    assert frame["id"].tolist() == ["007", "2"]  # text stays text: leading zeros kept


def test_errors(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    FRAME.to_csv(path, index=False)
    with pytest.raises(InputError, match="no column 'comment'"):
        read_table(path, required=("comment",))
    with pytest.raises(InputError, match="file not found"):
        read_table(tmp_path / "missing.csv")


def test_ratings() -> None:
    assert parse_ratings(["5", " 4,5 ", "", "NA", None, "3.0"], "nota") == [5.0, 4.5, None, None, None, 3.0]
    with pytest.raises(InputError, match="column 'nota', row 3: 'bom' is not a number"):
        parse_ratings(["5", "bom"], "nota")


def test_dictionary(tmp_path: Path) -> None:
    good = tmp_path / "d.yaml"
    good.write_text("Zendesk: [zen desk]\nMovidesk:\nFresh: freshworks\n", encoding="utf-8")
    assert read_dictionary(good) == {"Zendesk": ["zen desk"], "Movidesk": [], "Fresh": ["freshworks"]}
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a mapping"):
        read_dictionary(bad)
    nested = tmp_path / "nested.yaml"
    nested.write_text("x: {a: 1}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must be a list"):
        read_dictionary(nested)


def test_write_csv_replaces_atomically(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "out.csv"
    write_csv(FRAME, out)
    write_csv(FRAME.head(1), out)
    assert pd.read_csv(out, dtype=str)["id"].tolist() == ["007"]
    assert [p.name for p in out.parent.iterdir()] == ["out.csv"]
