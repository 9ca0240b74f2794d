"""Text benchmark: polarity (1-2 vs 4-5 stars) on Olist and B2W reviews, workspace model vs lexicon; language detection.

Run: ``.venv/bin/python benchmarks/text.py [--seed 0] [--json OUT.json]``

Data (``../shared/data``, see each folder's SOURCE.md):

* Olist: title + message of the reviews in ``order_sample_8k`` and ``reviews_file_head`` (deduplicated by
  review_id) and ``classified_reviews_v1`` (deduplicated by title, message and score); non-empty texts only.
* B2W: ``first10k`` (title + ". " + text) and ``random10pct`` (lower-cased text), non-empty texts.

Protocol: the same code path as ``sinergia text train`` (:meth:`SentimentModel.train`): 20 % of the distinct
folded texts held out (seed 0), the model fitted on the other 80 % (1-2 and 4-5 stars only), the lexicon
(LeIA / VADER by detected language, default pt) scored on the same held-out rows. Accuracy and macro-F1 are
of the sign of the score on held-out 1-2 / 4-5 star texts. Throughput: texts per second of fitting (80 %
split, one fit) and of prediction (the refitted model scoring the held-out texts, PII redaction included), and
of the lexicon.

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

import pandas as pd

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def load_olist(data: Path = DATA) -> pd.DataFrame:
    """Olist review texts with their 1-5 score (columns text, rating)."""
    folder = data / "olist"
    reviews = pd.concat([
        _read(folder / "order_sample_8k" / "olist_order_reviews_dataset.train.csv"),
        _read(folder / "reviews_file_head" / "olist_order_reviews_head6k.train.csv"),
    ]).drop_duplicates("review_id")
    classified = _read(folder / "classified_reviews_v1" / "olist_classified_public_dataset.train.csv")
    classified = classified.drop_duplicates(["review_comment_title", "review_comment_message", "review_score"])
    both = pd.concat([reviews, classified])
    text = (both["review_comment_title"].str.strip() + " " + both["review_comment_message"].str.strip()).str.strip()
    out = pd.DataFrame({"text": text, "rating": both["review_score"].astype(int)})
    return out[out["text"] != ""].reset_index(drop=True)


def load_b2w(data: Path = DATA) -> pd.DataFrame:
    """B2W review texts with their 1-5 overall rating (columns text, rating)."""
    folder = data / "b2w_reviews"
    first = _read(folder / "b2w_reviews01_first10k.train.csv")
    first = first[first["review_text"].str.strip() != ""]
    title = first["review_title"].str.strip()
    text = (title.where(title == "", title + ". ") + first["review_text"].str.strip()).str.strip()
    sample = _read(folder / "b2w_random10pct_lowercased_text_rating.train.csv")
    sample = sample[sample["texto"].str.strip() != ""]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "seed": args.seed,
        "polarity": [bench_polarity("olist", load_olist(), args.seed), bench_polarity("b2w", load_b2w(), args.seed)],
        "language": bench_language(),
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
