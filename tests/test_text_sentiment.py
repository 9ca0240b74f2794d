"""Sentiment: the lexicon on hand examples (with LeIA's negation fix) and the workspace model on real reviews.

VADER's compound is x / sqrt(x^2 + 15) with x the sum of word valences; a negated word's valence is multiplied by
-0.74. LeIA valences used below: feliz +3.1, ruim -2.6, nao -1.2 (in LeIA's own lexicon, removed by our fix).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from sinergia.errors import InputError, ModelError, UsageError
from sinergia.text.lexicon import lexicon_score, lexicon_scores, polarity_of
from sinergia.text.model import Labels, SentimentModel, _group_split, choose_band, split_key


def compound(x: float) -> float:
    return x / math.sqrt(x * x + 15)


def test_negation_fix() -> None:
    assert lexicon_score("estou feliz") == pytest.approx(compound(3.1), abs=1e-4)  # 0.6249
    assert lexicon_score("não estou feliz") == pytest.approx(compound(3.1 * -0.74), abs=1e-4)  # -0.5096
    assert lexicon_score("não estou feliz") < 0
    assert lexicon_score("é ruim") == pytest.approx(compound(-2.6), abs=1e-4)  # -0.5574
    assert lexicon_score("não é ruim") == pytest.approx(compound(-2.6 * -0.74), abs=1e-4)  # +0.4449
    assert lexicon_score("não é ruim") > lexicon_score("é ruim")


def test_the_bug_is_real_in_leia_itself_and_left_untouched_there() -> None:
    from LeIA import SentimentIntensityAnalyzer

    plain = SentimentIntensityAnalyzer()
    # unfixed: "nao" -1.2 plus un-negated "feliz" +3.1 -> x = 1.9 -> +0.4404
    assert plain.polarity_scores("não estou feliz")["compound"] == pytest.approx(compound(1.9), abs=1e-4)
    assert "nao" in plain.lexicon  # our fix changes our analyser's copy only


@pytest.mark.parametrize(
    ("text", "language", "sign"),
    [
        ("Produto excelente, recomendo", "pt", 1),
        ("Péssimo produto, horrível", "pt", -1),
        ("não gostei do produto", "pt", -1),
        ("produto bom", "pt", 1),
        ("I am not happy with this", "en", -1),
        ("great product, fast delivery", "en", 1),
        ("terrible service", "en", -1),
    ],
)
def test_lexicon_hand_examples(text: str, language: str, sign: int) -> None:
    assert math.copysign(1, lexicon_score(text, language)) == sign


def test_lexicon_language_per_text() -> None:
    scores, used = lexicon_scores(["The product is great", "O produto é ruim", "Ok"], default_language="pt")
    assert used == ["en", "pt", "pt"]  # "Ok" is unknown -> the default language
    assert scores[0] > 0 > scores[1]
    assert lexicon_score("") == 0.0
    with pytest.raises(UsageError, match="default language"):
        lexicon_scores(["x"], default_language="fr")


def test_polarity_band() -> None:
    assert [polarity_of(s, 0.05) for s in (0.05, 0.049, 0.0, -0.049, -0.05)] == [
        "positive", "neutral", "neutral", "neutral", "negative"]
    assert polarity_of(0.3, 0.5) == "neutral"


def test_labels() -> None:
    stars = Labels()
    assert [stars.of(r) for r in (1, 2, 3, 4, 5)] == ["negative", "negative", "neutral", "positive", "positive"]
    nps = Labels(negative_max=6, positive_min=9)
    assert [nps.of(r) for r in (0, 6, 7, 8, 9, 10)] == ["negative", "negative", "neutral", "neutral", "positive",
                                                       "positive"]
    assert stars.of(float("nan")) is None
    with pytest.raises(UsageError):
        Labels(4, 4)


def test_choose_band_by_hand() -> None:
    # scores -0.9 -0.1 0.1 0.9 with truths neg neu neu pos: any band in (0.1, 0.9] classifies all four right.
    # Band 0.00 -> macro-F1 of (neg, neu, pos) = (2/3, 0, 2/3) / 3 = 0.4444; band 0.15 is the first perfect one.
    band, f1 = choose_band(["negative", "neutral", "neutral", "positive"], [-0.9, -0.1, 0.1, 0.9])
    assert band == 0.15
    assert f1 == 1.0
    assert choose_band(["negative", "positive"], [-0.5, 0.5]) == (0.2, None)  # no neutral ratings: default


def test_split_key_and_near_duplicates_held_out_together() -> None:
    assert split_key("Ótimo!!") == split_key("otimo") == split_key("  ÓTIMO . ") == "otimo"
    assert split_key("Não recebi... 10/10") == "nao recebi 10 10"
    assert split_key("!!!") == ""
    texts = ["Ótimo!", "otimo", "OTIMO", "ruim.", "Ruim", "bom", "muito bom", "péssimo", "legal", "chegou"]
    for seed in range(5):
        held = _group_split(texts, seed, 0.2)
        # 7 distinct keys (otimo, ruim, bom, muito bom, pessimo, legal, chegou): round(7 * 0.2) = 1 held out
        assert len({split_key(t) for t, h in zip(texts, held, strict=True) if h}) == 1
        assert held[0] == held[1] == held[2] and held[3] == held[4]


def test_too_few_labels_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="only 2 negative rated texts"):
        SentimentModel.train(["ruim", "péssimo"] + [f"bom {i}" for i in range(20)], [1, 2] + [5] * 20)
    with pytest.raises(UsageError, match="3 texts but 2 ratings"):
        SentimentModel.train(["a", "b", "c"], [1, 5])


def _olist_sample(shared_data: Path) -> tuple[list[str], list[float | None]]:
    frame = pd.read_csv(shared_data / "olist/reviews_file_head/olist_order_reviews_head6k.train.csv",
                        dtype=str, keep_default_na=False)
    text = (frame["review_comment_title"] + " " + frame["review_comment_message"]).str.strip()
    keep = text != ""
    return text[keep].tolist(), [float(r) for r in frame["review_score"][keep]]


@pytest.mark.shared_data
@pytest.mark.slow
def test_model_on_real_olist_reviews(shared_data: Path, tmp_path: Path) -> None:
    """2,160 rated Olist review texts (the reviews_file_head train file): the model beats the lexicon.

    Measured when written (seed 0): model accuracy 0.9025 and macro-F1 0.876 on 400 held-out 1-2 / 4-5 star
    texts, lexicon 0.805 / 0.706; neutral band 0.5. The test asks for >= 0.88 and a 5-point margin.
    """
    texts, ratings = _olist_sample(shared_data)
    model = SentimentModel.train(texts, ratings, seed=0)
    validation = model.metadata["validation"]
    assert model.method == "model"
    assert validation["model"]["accuracy"] >= 0.88
    assert validation["model"]["accuracy"] >= validation["lexicon"]["accuracy"] + 0.05
    assert validation["held_out_polar_rows"] >= 350
    assert model.metadata["rows"]["labelled"] == len(texts)
    assert 0.0 <= model.neutral_band <= 0.9

    scores, polarities = model.predict(["Produto excelente, chegou antes do prazo", "Não recebi o produto",
                                        "", "contato: fulano@gmail.com"])
    assert all(-1.0 <= s <= 1.0 for s in scores)
    assert scores[0] > model.neutral_band and polarities[0] == "positive"
    assert scores[1] < -model.neutral_band and polarities[1] == "negative"
    assert (scores[2], polarities[2]) == (0.0, "neutral")

    # the saved vocabulary holds no personal data: texts are redacted before fitting
    vocabulary = model.pipeline.named_steps["features"].transformer_list[0][1].vocabulary_
    assert not any("@" in term for term in vocabulary)

    folder = model.save(tmp_path / "model")
    meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    assert meta["method"] == "model" and meta["validation"] == validation
    loaded = SentimentModel.load(folder)
    assert loaded.predict(["Não recebi o produto"]) == ([scores[1]], [polarities[1]])
    model.save(folder)  # replacing a model folder works
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary folders left behind

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(UsageError, match="not a Sinergia model folder"):
        model.save(tmp_path / "other")
    with pytest.raises(InputError, match="not a text sentiment model folder"):
        SentimentModel.load(tmp_path / "other")
