"""Text benchmark: polarity (1-2 vs 4-5 stars) on Olist and B2W reviews, workspace model vs lexicon; language detection.

Run: ``.venv/bin/python benchmarks/text.py [--seeds 0,1,2] [--json OUT.json]``

Data (``../shared/data``, see each folder's SOURCE.md):

* Olist: title + message (both are the customer's text) of the reviews in ``order_sample_8k`` and
  ``reviews_file_head`` (deduplicated by review_id) and ``classified_reviews_v1`` (deduplicated by title, message
  and score, and without the reviews also in the 2019 files); non-empty texts only.
* B2W: ``first10k`` (title + ". " + text) and ``random10pct`` (lower-cased text only), non-empty texts; a
  ``random10pct`` row whose text is a ``first10k`` review's text (same :func:`split_key`: the same review without
  its title, 798 rows) is dropped, so one review cannot sit on both sides of the split.

Protocol, the same for both datasets and the same code path as ``sinergia text train``
(:meth:`SentimentModel.train`): 20 % of the distinct texts (``split_key``: folded, punctuation and spacing
ignored) held out, for each seed of ``--seeds`` (default 0, 1, 2); the model fitted on the other 80 % (1-2 and
4-5 stars only); the lexicon (LeIA / VADER by detected language, default pt) scored on the same held-out rows.
Accuracy and macro-F1 are of the sign of the score on held-out 1-2 / 4-5 star texts; the summary gives their
mean, min and max over the seeds. Throughput: texts per second of fitting (80 % split, one fit) and of
prediction (the refitted model scoring the held-out texts, PII redaction included), and of the lexicon.

Olist annotation check (how far the text can predict the stars at all): on the held-out reviews of the first
seed's split that the 2018 release had read by three annotators, the annotators' majority class (satisfied vs
a problem) against the stars, next to the model.

Language detection: our frequent-word detector against langdetect (seeded) on Portuguese reviews (Olist,
B2W) and English texts (inbound customer tweets of twcs, synthetic ticket descriptions).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def load_olist(data: Path = DATA) -> pd.DataFrame:
    """Olist review texts with their 1-5 score (columns text, rating, annotated_class).

    ``annotated_class`` is the 2018 release's human label (majority of 3 annotators reading the text:
    ``satisfeito_com_pedido``, ``problemas_de_entrega``, ``problemas_de_qualidade``) for reviews from
    ``classified_reviews_v1``, empty otherwise.
    """
    folder = data / "olist"
    reviews = pd.concat([
        _read(folder / "order_sample_8k" / "olist_order_reviews_dataset.train.csv"),
        _read(folder / "reviews_file_head" / "olist_order_reviews_head6k.train.csv"),
    ]).drop_duplicates("review_id")
    reviews["most_voted_class"] = ""
    fields = ["review_comment_title", "review_comment_message", "review_score"]
    classified = _read(folder / "classified_reviews_v1" / "olist_classified_public_dataset.train.csv")
    classified = classified.drop_duplicates(fields)
    # A review of the 2018 release that is also in the 2019 files (same title, message and score) counts once.
    seen = set(zip(*(reviews[f] for f in fields), strict=True))
    classified = classified[[row not in seen for row in zip(*(classified[f] for f in fields), strict=True)]]
    both = pd.concat([reviews, classified])
    text = (both["review_comment_title"].str.strip() + " " + both["review_comment_message"].str.strip()).str.strip()
    out = pd.DataFrame({"text": text, "rating": both["review_score"].astype(int),
                        "annotated_class": both["most_voted_class"]})
    return out[out["text"] != ""].reset_index(drop=True)


def load_b2w(data: Path = DATA) -> pd.DataFrame:
    """B2W review texts with their 1-5 overall rating (columns text, rating)."""
    from sinergia.text.model import split_key

    folder = data / "b2w_reviews"
    first = _read(folder / "b2w_reviews01_first10k.train.csv")
    first = first[first["review_text"].str.strip() != ""]
    title = first["review_title"].str.strip()
    text = (title.where(title == "", title + ". ") + first["review_text"].str.strip()).str.strip()
    sample = _read(folder / "b2w_random10pct_lowercased_text_rating.train.csv")
    sample = sample[sample["texto"].str.strip() != ""]
    # The same review can be in both files: first10k as title + text, random10pct as lower-cased text only.
    # Those are one review (different strings), so drop the random10pct copy before any split.
    bodies = {split_key(t) for t in first["review_text"]}
    sample = sample[[split_key(t) not in bodies for t in sample["texto"]]]
    return pd.concat([
        pd.DataFrame({"text": text, "rating": first["overall_rating"].astype(int)}),
        pd.DataFrame({"text": sample["texto"], "rating": sample["rotulo"].astype(int)}),
    ]).reset_index(drop=True)


def load_language_sets(data: Path = DATA) -> dict[str, tuple[list[str], str]]:
    """Labelled language sets: name -> (texts, expected language)."""
    olist = _read(data / "olist" / "reviews_file_head" / "olist_order_reviews_head6k.train.csv")
    olist_text = (olist["review_comment_title"] + " " + olist["review_comment_message"]).str.strip()
    b2w = _read(data / "b2w_reviews" / "b2w_reviews01_first10k.train.csv")
    tweets = _read(data / "support_tickets" / "twitter_customer_support_twcs_head5k" / "twcs_head.csv")
    synthetic = data / "support_tickets" / "kaggle_customer_support_tickets_SYNTHETIC"
    tickets = _read(synthetic / "customer_support_tickets.csv")
    return {
        "olist reviews (pt)": ([t for t in olist_text if t], "pt"),
        "b2w reviews, first 2,000 (pt)": ([t for t in b2w["review_text"] if t.strip()][:2000], "pt"),
        "twcs inbound tweets (en*)": ([t for t, i in zip(tweets["text"], tweets["inbound"], strict=True)
                                       if i == "True" and t.strip()], "en"),
        "synthetic ticket descriptions, first 1,000 (en)": (list(tickets["Ticket Description"][:1000]), "en"),
    }


def bench_polarity(name: str, frame: pd.DataFrame, seed: int) -> dict[str, Any]:
    from sinergia.text.lexicon import lexicon_scores
    from sinergia.text.model import SentimentModel, _group_split

    texts = frame["text"].tolist()
    ratings = frame["rating"].astype(float).tolist()
    started = time.perf_counter()
    model = SentimentModel.train(texts, ratings, seed=seed)
    total_train = time.perf_counter() - started
    validation = model.metadata["validation"]
    held = _group_split(texts, seed, 0.2)
    held_texts = [t for t, h in zip(texts, held, strict=True) if h]
    started = time.perf_counter()
    model.score(held_texts, "model")
    predict_seconds = time.perf_counter() - started
    started = time.perf_counter()
    lexicon_scores(held_texts)
    lexicon_seconds = time.perf_counter() - started
    counts = frame["rating"].value_counts().sort_index().to_dict()
    return {
        "dataset": name,
        "seed": seed,
        "rows": len(frame),
        "ratings": {int(k): int(v) for k, v in counts.items()},
        "train_rows": validation["train_rows"],
        "held_out_polar_rows": validation["held_out_polar_rows"],
        "model": validation["model"],
        "lexicon": validation["lexicon"],
        "chosen": model.method,
        "neutral_band": model.neutral_band,
        "neutral_band_macro_f1_3class": model.metadata["neutral_band_macro_f1_3class"],
        "train_texts_per_second": round(validation["train_rows"] / validation["train_seconds"], 1),
        "train_command_seconds": round(total_train, 2),
        "predict_texts_per_second": round(len(held_texts) / predict_seconds, 1),
        "lexicon_texts_per_second": round(len(held_texts) / lexicon_seconds, 1),
        "goal_accuracy_0_94_met": validation["model"]["accuracy"] >= 0.94,
    }


def bench_language(data: Path = DATA) -> list[dict[str, Any]]:
    from langdetect import DetectorFactory, LangDetectException, detect

    from sinergia.text.lang import detect_language

    DetectorFactory.seed = 0

    def langdetect_label(text: str) -> str:
        try:
            found = detect(text)
        except LangDetectException:
            return "unknown"
        return found if found in ("pt", "en") else "other"

    rows = []
    for name, (texts, expected) in load_language_sets(data).items():
        for detector, function in (("sinergia", detect_language), ("langdetect", langdetect_label)):
            started = time.perf_counter()
            found = [function(t) for t in texts]
            seconds = time.perf_counter() - started
            n = len(texts)
            long = [f for t, f in zip(texts, found, strict=True) if len(t.split()) >= 5]
            rows.append({
                "set": name, "detector": detector, "n": n,
                "correct": round(sum(f == expected for f in found) / n, 3),
                "unknown": round(sum(f == "unknown" for f in found) / n, 3),
                "wrong": round(sum(f not in (expected, "unknown") for f in found) / n, 3),
                "correct_5_words_plus": round(sum(f == expected for f in long) / max(1, len(long)), 3),
                "n_5_words_plus": len(long),
                "texts_per_second": round(n / seconds),
            })
    return rows


def olist_annotation_check(frame: pd.DataFrame, seed: int) -> dict[str, Any]:
    """How well the text can predict the stars at all: human readers of the text against the stars.

    The 2018 Olist release has each review read by three annotators, who chose ``satisfeito_com_pedido``
    (satisfied) or a problem class. Read as polarity (satisfied = positive, a problem = negative), the majority
    label is compared with the stars (1-2 vs 4-5) on the held-out annotated reviews of the benchmark's split,
    next to the model fitted on that split's training rows (the same pipeline and rows as the validation).
    """
    from sinergia.text.model import _group_split, _pipeline, _scores_from, prepare

    texts = frame["text"].tolist()
    held = _group_split(texts, seed, 0.2)
    polar = (frame["rating"] != 3).to_numpy()
    positive = (frame["rating"] >= 4).to_numpy()
    annotated = (frame["annotated_class"] != "").to_numpy()
    train = np.flatnonzero(~held & polar)
    test = np.flatnonzero(held & polar & annotated)
    pipeline = _pipeline(seed)
    pipeline.fit([prepare(texts[i]) for i in train], ["positive" if positive[i] else "negative" for i in train])
    model_positive = np.array(_scores_from(pipeline, [prepare(texts[i]) for i in test])) >= 0
    human_positive = (frame["annotated_class"].to_numpy()[test] == "satisfeito_com_pedido")
    stars = positive[test]
    everywhere = np.flatnonzero(polar & annotated)
    return {
        "held_out_annotated_polar_reviews": len(test),
        "human_class_vs_stars_accuracy": round(float((human_positive == stars).mean()), 4),
        "model_vs_stars_accuracy": round(float((model_positive == stars).mean()), 4),
        "model_vs_human_class_accuracy": round(float((model_positive == human_positive).mean()), 4),
        "stars_4_5_but_human_reads_a_problem": int((stars & ~human_positive).sum()),
        "stars_1_2_but_human_reads_satisfied": int((~stars & human_positive).sum()),
        "all_annotated_polar_reviews": len(everywhere),
        "human_class_vs_stars_accuracy_all": round(float(
            ((frame["annotated_class"].to_numpy()[everywhere] == "satisfeito_com_pedido") == positive[everywhere])
            .mean()), 4),
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, min and max held-out accuracy of the model and the lexicon over the seeded splits."""
    out: dict[str, Any] = {"seeds": [r["seed"] for r in runs]}
    for method in ("model", "lexicon"):
        values = [r[method]["accuracy"] for r in runs]
        out[method] = {"accuracy_mean": round(float(np.mean(values)), 4), "accuracy_min": min(values),
                       "accuracy_max": max(values),
                       "macro_f1_mean": round(float(np.mean([r[method]["macro_f1"] for r in runs])), 4)}
    out["goal_accuracy_0_94_met_on_mean"] = out["model"]["accuracy_mean"] >= 0.94
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated split seeds (default 0,1,2)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    result: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "seeds": seeds,
    }
    olist, b2w = load_olist(), load_b2w()
    runs = {name: [bench_polarity(name, frame, seed) for seed in seeds]
            for name, frame in (("olist", olist), ("b2w", b2w))}
    result["polarity"] = [run for name in runs for run in runs[name]]
    result["polarity_summary"] = {name: summary(runs[name]) for name in runs}
    result["olist_annotation_check"] = olist_annotation_check(olist, seeds[0])
    result["language"] = bench_language()
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
