"""``sinergia text`` as a user runs it (subprocess): files in, files out, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

SINERGIA = Path(sys.executable).with_name("sinergia")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SINERGIA), "text", *args], capture_output=True, text=True, timeout=300, check=False)


def _comments(tmp_path: Path) -> Path:
    frame = pd.DataFrame({
        "id": ["1", "2", "3", "4"],
        "comentario": [
            "Não estou feliz, o produto chegou quebrado. Meu CPF é 529.982.247-25",
            "Produto excelente, recomendo! Falar com ana@loja.com.br",
            "The delivery was great, thanks",
            "Usei o Zendesk antes; ligue (11) 91234-5678",
        ],
    })
    path = tmp_path / "comentarios.csv"
    frame.to_csv(path, sep=";", index=False, encoding="latin-1")  # the sniffer finds ';' and Latin-1
    return path


@pytest.mark.slow
def test_lexicon_sentiment_redact_mentions(tmp_path: Path) -> None:
    data = _comments(tmp_path)
    out = tmp_path / "scored.csv"
    done = _run("sentiment", "--data", str(data), "--text-col", "comentario", "--out", str(out), "--format", "json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["method"] == "lexicon" and summary["rows"] == 4 and summary["texts_redacted"] == 3
    scored = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(scored.columns) == ["id", "comentario", "language", "sentiment", "polarity"]
    assert scored["language"].tolist() == ["pt", "pt", "en", "pt"]
    assert scored["polarity"].tolist()[:3] == ["negative", "positive", "positive"]
    assert all(-1 <= float(s) <= 1 for s in scored["sentiment"])
    assert "[CPF]" in scored["comentario"][0] and "529.982" not in scored["comentario"][0]
    assert "[EMAIL]" in scored["comentario"][1] and "[PHONE]" in scored["comentario"][3]

    kept = tmp_path / "kept.csv"
    assert _run("sentiment", "-d", str(data), "-t", "comentario", "-o", str(kept), "--keep-pii").returncode == 0
    assert "529.982.247-25" in pd.read_csv(kept, dtype=str)["comentario"][0]

    redacted = tmp_path / "redacted.csv"
    done = _run("redact", "-d", str(data), "-t", "comentario", "-o", str(redacted), "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"column": "comentario", "rows_changed": 3, "cpf": 1, "cnpj": 0, "email": 1,
                                        "phone": 1}]
    assert pd.read_csv(redacted, dtype=str)["comentario"][3] == "Usei o Zendesk antes; ligue [PHONE]"

    names = tmp_path / "competitors.yaml"
    names.write_text("Zendesk: [zen desk]\nFreshdesk: [freshworks]\n", encoding="utf-8")
    done = _run("mentions", "-d", str(data), "-t", "comentario", "--names", str(names), "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"name": "Zendesk", "texts": 1, "share": 0.25},
                                       {"name": "Freshdesk", "texts": 0, "share": 0.0}]


@pytest.mark.slow
def test_errors_have_exit_codes(tmp_path: Path) -> None:
    data = _comments(tmp_path)
    done = _run("sentiment", "-d", str(data), "-t", "nope", "-o", str(tmp_path / "x.csv"))
    assert done.returncode == 4 and "no column 'nope'" in done.stderr
    done = _run("sentiment", "-d", str(tmp_path / "missing.csv"), "-t", "x", "-o", str(tmp_path / "x.csv"))
    assert done.returncode == 4 and "file not found" in done.stderr
    done = _run("train", "-d", str(data), "-t", "comentario", "-r", "comentario", "-o", str(tmp_path / "m"))
    assert done.returncode == 4 and "is not a number" in done.stderr
    done = _run("sentiment", "-d", str(data), "-t", "comentario", "-o", str(tmp_path / "x.csv"), "-m", str(tmp_path))
    assert done.returncode == 4 and "not a text sentiment model folder" in done.stderr


@pytest.mark.shared_data
@pytest.mark.slow
def test_train_then_score_and_topics_round_trip(shared_data: Path, tmp_path: Path) -> None:
    reviews = pd.read_csv(shared_data / "olist/reviews_file_head/olist_order_reviews_head6k.train.csv",
                          dtype=str, keep_default_na=False)
    reviews["texto"] = (reviews["review_comment_title"] + " " + reviews["review_comment_message"]).str.strip()
    reviews = reviews[reviews["texto"] != ""][["review_id", "texto", "review_score"]]
    data = tmp_path / "reviews.csv"
    reviews.to_csv(data, index=False)
    model = tmp_path / "model"
    done = _run("train", "-d", str(data), "-t", "texto", "-r", "review_score", "-o", str(model), "--format", "json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["method"] == "model" and info["validation"]["model"]["accuracy"] >= 0.88
    assert json.loads((model / "metadata.json").read_text(encoding="utf-8"))["method"] == "model"

    scored = tmp_path / "scored.csv"
    done = _run("sentiment", "-d", str(data), "-t", "texto", "-m", str(model), "-o", str(scored), "-f", "json")
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(scored, dtype={"review_score": int})
    assert len(frame) == len(reviews)
    # in-sample agreement of the polarity with the stars (the model saw these texts; a sanity check only)
    polar = frame[frame["review_score"] != 3]
    agree = ((polar["review_score"] >= 4) == (polar["sentiment"] >= 0)).mean()
    assert agree >= 0.9

    themes = tmp_path / "themes.yaml"
    themes.write_text("entrega: [entreg*, prazo, atras*, cheg*]\nqualidade: [qualidade, defeito, quebrad*]\n",
                      encoding="utf-8")
    topics = tmp_path / "topics.csv"
    done = _run("topics", "-d", str(data), "-t", "texto", "-k", "6", "--themes", str(themes), "-m", str(model),
                "-o", str(topics), "-f", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert len(result["topics"]) == 6
    assert sum(t["size"] for t in result["topics"]) <= len(reviews)
    assert any(t["theme"] == "entrega" for t in result["topics"])
    out = pd.read_csv(topics, dtype=str, keep_default_na=False)
    assert {"topic", "topic_label", "themes", "sentiment", "polarity"} <= set(out.columns)
