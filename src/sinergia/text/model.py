"""Sentiment trained from the workspace's own rated feedback, chosen against the lexicon by held-out validation.

Labels come from the rating that goes with each comment: rating <= ``negative_max`` (default 2 on a 1-5
scale) is negative, rating >= ``positive_min`` (default 4) positive; ratings in between (3 stars) are *not*
used to fit the classifier (they mix praise and complaint), but, when present, they choose the neutral band.

Pipeline: PII redaction -> accent and case folding -> TF-IDF of word 1-2-grams and character 2-5-grams
(within word boundaries, sublinear tf, min_df 2) -> linear SVM (C=0.15) calibrated to probabilities (Platt
sigmoid, 3-fold). ``sentiment = 2 * P(positive) - 1`` in [-1, 1]; ``polarity`` is neutral when ``|sentiment| <
neutral_band``.

Validation: rated texts are split 80/20 by *distinct text* (seeded; :func:`split_key`: folded, punctuation and
spacing ignored), so a text repeated in the data ("ótimo", "Ótimo!!", "muito bom") never sits on both sides.
The model trained on the 80 % and the lexicon (LeIA / VADER with language detection) are scored on the same
20 %: accuracy and macro-F1 of the sign (1-2 vs 4-5 stars).
The method with the higher accuracy is recorded as the workspace's choice. The neutral band is the one in
0.00, 0.05, ..., 0.90 that maximises three-class macro-F1 on the held-out texts including their 3-star ones
(default 0.2 when there are none). The saved classifier is then refitted on all labelled texts.

The folder holds ``pipeline.joblib`` (scikit-learn objects; load only folders you trust — joblib is pickle)
and ``metadata.json`` (choice, figures, labels, band, versions). It is written atomically.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from sinergia._folders import replace_folder
from sinergia.errors import InputError, ModelError, UsageError
from sinergia.text.lang import detect_language
from sinergia.text.lexicon import LEXICON_NEUTRAL_BAND, lexicon_scores, polarity_of
from sinergia.text.normalize import fold
from sinergia.text.redact import redact_text

KIND = "sinergia.text_sentiment"
FORMAT_VERSION = 1
PIPELINE_FILE = "pipeline.joblib"
METADATA_FILE = "metadata.json"
DEFAULT_NEUTRAL_BAND = 0.2
MIN_PER_CLASS = 10
BANDS = tuple(round(0.05 * i, 2) for i in range(19))


def prepare(text: str) -> str:
    """What the classifier sees: PII redacted, then folded (lower case, no accents)."""
    return fold(redact_text(text))


def _pipeline(seed: int) -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.svm import LinearSVC

    words = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, lowercase=False)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True, lowercase=False)
    svm = LinearSVC(C=0.15, random_state=seed)
    return Pipeline([
        ("features", FeatureUnion([("words", words), ("chars", chars)])),
        ("classifier", CalibratedClassifierCV(svm, method="sigmoid", cv=3)),
    ])


@dataclass(frozen=True)
class Labels:
    """How ratings become labels: <= negative_max negative, >= positive_min positive, between neutral."""

    negative_max: float = 2.0
    positive_min: float = 4.0

    def __post_init__(self) -> None:
        if not self.negative_max < self.positive_min:
            raise UsageError(f"negative_max ({self.negative_max}) must be below positive_min ({self.positive_min})")

    def of(self, rating: float) -> str | None:
        if math.isnan(rating):
            return None
        if rating <= self.negative_max:
            return "negative"
        if rating >= self.positive_min:
            return "positive"
        return "neutral"


_NOT_ALNUM = re.compile(r"[^\w]+|_+")


def split_key(text: str) -> str:
    """The text's identity for the validation split: folded, punctuation and spacing ignored.

    ``split_key("Ótimo!!") == split_key("otimo") == "otimo"``: such near-duplicates are one text, so they are
    held out together and never sit on both sides of the split.
    """
    return " ".join(_NOT_ALNUM.sub(" ", fold(text)).split())


def _group_split(texts: Sequence[str], seed: int, test_share: float) -> np.ndarray:
    """Boolean mask of held-out rows: a seeded share of the distinct texts (by :func:`split_key`), all their rows."""
    keys = [split_key(t) for t in texts]
    distinct = sorted(set(keys))
    rng = np.random.default_rng(seed)
    chosen = set(rng.choice(len(distinct), size=max(1, round(len(distinct) * test_share)), replace=False).tolist())
    held = {distinct[i] for i in chosen}
    return np.array([k in held for k in keys], dtype=bool)


def binary_figures(truth: Sequence[str], scores: Sequence[float]) -> dict[str, float]:
    """Accuracy and macro-F1 of the sign of ``scores`` (>= 0 positive) against positive/negative ``truth``."""
    from sklearn.metrics import accuracy_score, f1_score

    predicted = ["positive" if s >= 0 else "negative" for s in scores]
    return {
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macro_f1": round(float(f1_score(truth, predicted, average="macro", labels=["negative", "positive"])), 4),
        "n": len(truth),
    }


def choose_band(truth: Sequence[str], scores: Sequence[float]) -> tuple[float, float | None]:
    """The neutral band maximising 3-class macro-F1 (ties: the narrower band) and that F1; default without 3s."""
    from sklearn.metrics import f1_score

    if "neutral" not in truth:
        return DEFAULT_NEUTRAL_BAND, None
    best, best_f1 = DEFAULT_NEUTRAL_BAND, -1.0
    for band in BANDS:
        predicted = [polarity_of(s, band) if band > 0 else ("positive" if s >= 0 else "negative") for s in scores]
        f1 = float(f1_score(truth, predicted, average="macro", labels=["negative", "neutral", "positive"]))
        if f1 > best_f1 + 1e-12:
            best, best_f1 = band, f1
    return best, round(best_f1, 4)


@dataclass
class SentimentModel:
    """A trained workspace sentiment model (or the record that the lexicon won) — see the module docstring."""

    pipeline: Any
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return str(self.metadata["method"])

    @property
    def neutral_band(self) -> float:
        return float(self.metadata["neutral_band"])

    # ---------------------------------------------------------------------------------------------- training
    @classmethod
    def train(
        cls,
        texts: Sequence[str | None],
        ratings: Sequence[float | None],
        *,
        labels: Labels | None = None,
        seed: int = 0,
        test_share: float = 0.2,
        default_language: str = "pt",
    ) -> SentimentModel:
        """Validate model vs lexicon on a held-out split, pick the method and band, refit on all labelled rows."""
        if len(texts) != len(ratings):
            raise UsageError(f"{len(texts)} texts but {len(ratings)} ratings")
        if not 0.05 <= test_share <= 0.5:
            raise UsageError(f"test share must be between 0.05 and 0.5, not {test_share}")
        labels = labels or Labels()
        rows: list[tuple[str, str]] = []
        skipped = {"empty_text": 0, "no_rating": 0}
        for text, rating in zip(texts, ratings, strict=True):
            if text is None or not str(text).strip():
                skipped["empty_text"] += 1
                continue
            value = float("nan") if rating is None else float(rating)
            label = labels.of(value)
            if label is None:
                skipped["no_rating"] += 1
                continue
            rows.append((str(text), label))
        counts = Counter(label for _, label in rows)
        for needed in ("negative", "positive"):
            if counts[needed] < MIN_PER_CLASS:
                raise ModelError(
                    f"only {counts[needed]} {needed} rated texts (need at least {MIN_PER_CLASS} of each polarity "
                    f"to train and validate); ratings <= {labels.negative_max} are negative, "
                    f">= {labels.positive_min} positive"
                )
        all_texts = [t for t, _ in rows]
        all_labels = [lab for _, lab in rows]
        held = _group_split(all_texts, seed, test_share)
        polar = np.array([lab != "neutral" for lab in all_labels])
        train_idx = np.flatnonzero(~held & polar)
        test_idx = np.flatnonzero(held)
        test_polar = [i for i in test_idx if polar[i]]
        train_counts = Counter(all_labels[i] for i in train_idx)
        if min(train_counts["negative"], train_counts["positive"]) < 3 or len(test_polar) < 2:
            raise ModelError("too few distinct rated texts to hold out a validation split; add more rated comments")

        prepared = [prepare(t) for t in all_texts]
        started = time.perf_counter()
        candidate = _pipeline(seed)
        candidate.fit([prepared[i] for i in train_idx], [all_labels[i] for i in train_idx])
        train_seconds = time.perf_counter() - started
        test_texts = [prepared[i] for i in test_idx]
        model_scores = _scores_from(candidate, test_texts)
        truth_polar = [all_labels[i] for i in test_polar]
        position = {int(i): k for k, i in enumerate(test_idx)}
        model_fig = binary_figures(truth_polar, [model_scores[position[int(i)]] for i in test_polar])
        raw_test = [redact_text(all_texts[i]) for i in test_idx]
        lex_scores, _ = lexicon_scores(raw_test, default_language=default_language)
        lexicon_fig = binary_figures(truth_polar, [lex_scores[position[int(i)]] for i in test_polar])
        method = "model" if model_fig["accuracy"] >= lexicon_fig["accuracy"] else "lexicon"
        truth_all = [all_labels[i] for i in test_idx]
        band, band_f1 = choose_band(truth_all, model_scores) if method == "model" else (LEXICON_NEUTRAL_BAND, None)

        final = _pipeline(seed)
        polar_idx = np.flatnonzero(polar)
        final.fit([prepared[i] for i in polar_idx], [all_labels[i] for i in polar_idx])
        languages = Counter(detect_language(t) for t in all_texts)
        import sklearn

        metadata: dict[str, Any] = {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "method": method,
            "choice_rule": "higher held-out accuracy (sign of the score, 1-2 vs 4-5 stars); ties go to the model",
            "neutral_band": band,
            "neutral_band_rule": _band_rule(method, band_f1),
            "neutral_band_macro_f1_3class": band_f1,
            "labels": {"negative_max": labels.negative_max, "positive_min": labels.positive_min,
                       "neutral": "between the two; not used to fit, used to choose the neutral band"},
            "validation": {
                "split": f"{round(test_share * 100)}% of distinct texts (folded, punctuation ignored) held out, "
                         f"seed {seed}",
                "train_rows": len(train_idx), "held_out_rows": len(test_idx), "held_out_polar_rows": len(test_polar),
                "model": model_fig, "lexicon": lexicon_fig,
                "train_seconds": round(train_seconds, 3),
            },
            "rows": {"labelled": len(rows), **{k: counts[k] for k in ("negative", "neutral", "positive")},
                     "skipped": skipped, "fitted_on": len(polar_idx)},
            "languages": dict(languages),
            "default_language": default_language,
            "pipeline": "redact -> fold -> tf-idf word 1-2 + char_wb 2-5 (min_df 2, sublinear) "
                        "-> LinearSVC(C=0.15) + sigmoid calibration (3-fold)",
            "versions": {"scikit-learn": sklearn.__version__},
            "seed": seed,
        }
        return cls(final, metadata)

    # ---------------------------------------------------------------------------------------------- predict
    def score(self, texts: Sequence[str | None], method: str | None = None) -> list[float]:
        """Sentiment in [-1, 1] per text with the chosen method (or ``method`` = model / lexicon)."""
        use = method or self.method
        if use not in ("model", "lexicon"):
            raise UsageError(f"method must be model or lexicon, not {use!r}")
        clean = ["" if t is None else str(t) for t in texts]
        if use == "lexicon":
            scores, _ = lexicon_scores([redact_text(t) for t in clean],
                                       default_language=str(self.metadata.get("default_language", "pt")))
            return scores
        scores = _scores_from(self.pipeline, [prepare(t) for t in clean]) if clean else []
        return [0.0 if not t.strip() else s for t, s in zip(clean, scores, strict=True)]

    def predict(self, texts: Sequence[str | None], method: str | None = None) -> tuple[list[float], list[str]]:
        """Sentiment and polarity (positive / neutral / negative) per text."""
        use = method or self.method
        band = self.neutral_band if use == self.method else (
            LEXICON_NEUTRAL_BAND if use == "lexicon" else DEFAULT_NEUTRAL_BAND)
        scores = self.score(texts, use)
        return scores, [polarity_of(s, band) for s in scores]

    # ---------------------------------------------------------------------------------------------- files
    def save(self, directory: Path | str) -> Path:
        """Write ``pipeline.joblib`` and ``metadata.json`` into ``directory``, replaced atomically as a whole."""
        import joblib

        def write(folder: Path) -> None:
            joblib.dump(self.pipeline, folder / PIPELINE_FILE)
            (folder / METADATA_FILE).write_text(json.dumps(self.metadata, indent=2, ensure_ascii=False) + "\n",
                                                encoding="utf-8")

        return replace_folder(directory, METADATA_FILE, write)

    @classmethod
    def load(cls, directory: Path | str) -> SentimentModel:
        """Read a folder written by :meth:`save` (only from a source you trust: joblib files are pickles)."""
        import joblib

        folder = Path(directory)
        if not (folder / METADATA_FILE).is_file() or not (folder / PIPELINE_FILE).is_file():
            raise InputError(f"{folder}: not a text sentiment model folder (needs {METADATA_FILE} and {PIPELINE_FILE})")
        try:
            metadata = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise InputError(f"{folder / METADATA_FILE}: unreadable ({error})") from None
        if metadata.get("kind") != KIND or metadata.get("format_version") != FORMAT_VERSION:
            raise InputError(f"{folder}: unsupported model format {metadata.get('kind')} "
                             f"v{metadata.get('format_version')}")
        return cls(joblib.load(folder / PIPELINE_FILE), metadata)


def _band_rule(method: str, band_f1: float | None) -> str:
    if method == "lexicon":
        return "VADER convention"
    if band_f1 is None:
        return "default (no neutral ratings to choose it)"
    return "maximises 3-class macro-F1 on held-out texts incl. neutral ratings"


def _scores_from(pipeline: Any, prepared: Sequence[str]) -> list[float]:
    if not prepared:
        return []
    classes = list(pipeline.classes_)
    probabilities = pipeline.predict_proba(list(prepared))[:, classes.index("positive")]
    return [round(float(2.0 * p - 1.0), 6) for p in probabilities]
