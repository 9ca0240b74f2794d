"""``sinergia text``: sentiment, topics, mentions and PII redaction of free text in a file.

The work lives in ``sinergia.text`` (docs/text.md); these commands parse options, call it and render.
Every text column written out is PII-redacted (CPF, CNPJ, e-mail, phone) unless ``--keep-pii`` is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sinergia.cli._output import Format, console, print_json, print_rows

app = typer.Typer(
    help="Text analytics (pt-BR and English): sentiment, topics, mentions, PII redaction.",
    no_args_is_help=True,
)

DataOpt = Annotated[
    Path, typer.Option("--data", "-d", help="Input table: CSV (any delimiter, UTF-8 or Latin-1), Parquet, JSON lines.")
]
TextOpt = Annotated[str, typer.Option("--text-col", "-t", help="Column holding the text.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output: table for people, json/csv for scripts.")]
KeepPiiOpt = Annotated[
    bool, typer.Option("--keep-pii", help="Write the text column as it is (default: CPF/CNPJ/e-mail/phone redacted).")
]
LanguageOpt = Annotated[
    str, typer.Option("--language", help="Lexicon for texts whose language is not detected: pt or en.")
]


def _texts(frame: Any, column: str) -> list[str]:
    return [str(v) for v in frame[column].tolist()]


def _redact_column(frame: Any, column: str, keep_pii: bool) -> int:
    """Redact ``frame[column]`` in place unless ``keep_pii``; return how many rows changed."""
    if keep_pii:
        return 0
    from sinergia.text.redact import redact_text

    original = _texts(frame, column)
    redacted = [redact_text(t) for t in original]
    frame[column] = redacted
    return sum(a != b for a, b in zip(original, redacted, strict=True))


@app.command()
def train(
    data: DataOpt,
    text_col: TextOpt,
    rating_col: Annotated[str, typer.Option("--rating-col", "-r", help="Column with the rating that labels the text.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to write (replaced if it is one).")],
    negative_max: Annotated[float, typer.Option(help="Ratings up to this are negative (1-5 stars: 2; NPS: 6).")] = 2,
    positive_min: Annotated[float, typer.Option(help="Ratings from this up are positive (1-5 stars: 4; NPS: 9).")] = 4,
    seed: Annotated[int, typer.Option(help="Seed of the held-out split and of the classifier.")] = 0,
    language: LanguageOpt = "pt",
    fmt: FormatOpt = Format.table,
) -> None:
    """Train a sentiment model from rated texts, validate it against the lexicon and save the model folder.

    Ratings label the texts: <= --negative-max negative, >= --positive-min positive; ratings in between
    (3 stars) are not used to fit but choose the neutral band. 20 % of the distinct texts are held out; the
    method (model or lexicon) with the higher held-out accuracy is recorded as this workspace's choice in
    metadata.json, with the figures. PII is redacted before training, so the model never stores it.

    Example: sinergia text train --data reviews.csv --text-col comment --rating-col score --out ./sentiment-model
    """
    from sinergia.text.io import parse_ratings, read_table
    from sinergia.text.model import Labels, SentimentModel

    frame = read_table(data, required=(text_col, rating_col))
    ratings = parse_ratings(frame[rating_col].tolist(), rating_col)
    model = SentimentModel.train(_texts(frame, text_col), ratings, labels=Labels(negative_max, positive_min),
                                 seed=seed, default_language=language)
    saved = model.save(out)
    meta = model.metadata
    if fmt is Format.json:
        print_json({"model": str(saved), **meta})
        return
    validation = meta["validation"]
    rows = [{"method": name, **validation[name], "chosen": "yes" if name == meta["method"] else ""}
            for name in ("model", "lexicon")]
    print_rows(rows, fmt, title=f"Held-out validation: {validation['split']} "
                                f"({validation['held_out_polar_rows']:,} positive/negative texts)")
    if fmt is Format.table:
        counts = meta["rows"]
        console.print(
            f"{counts['labelled']:,} rated texts ({counts['negative']:,} negative, {counts['neutral']:,} neutral, "
            f"{counts['positive']:,} positive); neutral band ±{meta['neutral_band']:.2f}; "
            f"method: [bold]{meta['method']}[/bold]; saved to {saved}", highlight=False)


@app.command()
def sentiment(
    data: DataOpt,
    text_col: TextOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV to write: the input + language, sentiment, polarity.")],
    model: Annotated[
        Path | None, typer.Option("--model", "-m", help="Model folder from 'sinergia text train' (default: lexicon).")
    ] = None,
    language: LanguageOpt = "pt",
    keep_pii: KeepPiiOpt = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Score each row's text: sentiment in [-1, 1] and polarity positive / neutral / negative.

    With --model, the method recorded in the model folder is used (the trained model, or the lexicon when it
    validated better) with the folder's neutral band. Without it, the lexicon (LeIA for Portuguese with the
    negation fix, VADER for English) by each row's detected language, neutral within ±0.05.

    Example: sinergia text sentiment --data comments.csv --text-col comment --out scored.csv
    """
    from sinergia.text.io import read_table, write_csv
    from sinergia.text.lang import detect_language
    from sinergia.text.lexicon import LEXICON_NEUTRAL_BAND, lexicon_scores, polarity_of
    from sinergia.text.model import SentimentModel

    frame = read_table(data, required=(text_col,))
    texts = _texts(frame, text_col)
    languages = [detect_language(t) for t in texts]
    if model is not None:
        loaded = SentimentModel.load(model)
        scores, polarities = loaded.predict(texts)
        method, band = loaded.method, loaded.neutral_band
    else:
        scores, _ = lexicon_scores(texts, languages, default_language=language)
        polarities = [polarity_of(s, LEXICON_NEUTRAL_BAND) for s in scores]
        method, band = "lexicon", LEXICON_NEUTRAL_BAND
    redacted = _redact_column(frame, text_col, keep_pii)
    frame["language"] = languages
    frame["sentiment"] = [round(s, 4) for s in scores]
    frame["polarity"] = polarities
    write_csv(frame, out)
    summary = {
        "rows": len(frame), "method": method, "neutral_band": band, "out": str(out), "texts_redacted": redacted,
        **{p: polarities.count(p) for p in ("positive", "neutral", "negative")},
        "mean_sentiment": round(sum(scores) / len(scores), 4) if scores else None,
    }
    if fmt is Format.json:
        print_json(summary)
        return
    print_rows([summary], fmt, title="Sentiment")


@app.command()
def topics(
    data: DataOpt,
    text_col: TextOpt,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="CSV: input + topic, topic_label, themes.")] = None,
    n_topics: Annotated[int, typer.Option("--topics", "-k", min=1, max=100, help="How many topics.")] = 8,
    themes: Annotated[
        Path | None, typer.Option("--themes", help="YAML/JSON {theme: [keywords]} (keyword* = prefix).")
    ] = None,
    model: Annotated[Path | None, typer.Option("--model", "-m", help="Sentiment model (default: lexicon).")] = None,
    language: LanguageOpt = "pt",
    seed: Annotated[int, typer.Option(help="Seed of the topic model.")] = 0,
    keep_pii: KeepPiiOpt = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Group texts into topics with readable labels, and report sentiment per topic (and per theme).

    Example: sinergia text topics --data reviews.csv --text-col comment --themes themes.yaml --out topics.csv
    """
    from sinergia.text.io import read_dictionary, read_table, write_csv
    from sinergia.text.lexicon import LEXICON_NEUTRAL_BAND, lexicon_scores, polarity_of
    from sinergia.text.model import SentimentModel
    from sinergia.text.topics import find_topics

    frame = read_table(data, required=(text_col,))
    texts = _texts(frame, text_col)
    if model is not None:
        scores, polarities = SentimentModel.load(model).predict(texts)
    else:
        scores, _ = lexicon_scores(texts, default_language=language)
        polarities = [polarity_of(s, LEXICON_NEUTRAL_BAND) for s in scores]
    dictionary = read_dictionary(themes) if themes is not None else None
    result = find_topics(texts, n_topics=n_topics, sentiments=scores, polarities=polarities, themes=dictionary,
                         seed=seed)
    if out is not None:
        _redact_column(frame, text_col, keep_pii)
        frame["topic"] = result.assignments
        frame["topic_label"] = [result.label_of(a) for a in result.assignments]
        if dictionary:
            frame["themes"] = ["; ".join(found) for found in result.text_themes]
        frame["sentiment"] = [round(s, 4) for s in scores]
        frame["polarity"] = polarities
        write_csv(frame, out)
    rows = [t.as_dict() for t in result.topics]
    if fmt is Format.json:
        print_json({"topics": rows, "themes": result.theme_summary, "out": str(out) if out else None})
        return
    print_rows(rows, fmt, title=f"{len(rows)} topics in {len(texts):,} texts")
    if result.theme_summary and fmt is Format.table:
        print_rows(result.theme_summary, fmt, title="Themes")


@app.command()
def mentions(
    data: DataOpt,
    text_col: TextOpt,
    names: Annotated[Path, typer.Option("--names", help="YAML/JSON {name: [aliases]} of competitors / products.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="CSV: the input plus a 'mentions' column.")] = None,
    keep_pii: KeepPiiOpt = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Count the texts mentioning each configured competitor or product (case/accent-insensitive, whole words).

    Example: sinergia text mentions --data tickets.csv --text-col description --names competitors.yaml
    """
    from sinergia.text.io import read_dictionary, read_table, write_csv
    from sinergia.text.mentions import MentionMatcher

    frame = read_table(data, required=(text_col,))
    matcher = MentionMatcher(read_dictionary(names))
    texts = _texts(frame, text_col)
    found = [matcher.names_in(t) for t in texts]
    if out is not None:
        _redact_column(frame, text_col, keep_pii)
        frame["mentions"] = ["; ".join(f) for f in found]
        write_csv(frame, out)
    rows = [{"name": n, "texts": sum(n in f for f in found),
             "share": round(sum(n in f for f in found) / len(texts), 4) if texts else 0.0} for n in matcher.names]
    print_rows(rows, fmt, title=f"Mentions in {len(texts):,} texts")


@app.command()
def redact(
    data: DataOpt,
    text_col: Annotated[list[str], typer.Option("--text-col", "-t", help="Column to redact (repeat for several).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV to write with the columns redacted.")],
    fmt: FormatOpt = Format.table,
) -> None:
    """Replace CPF, CNPJ, e-mail addresses and phone numbers in text columns with [CPF], [CNPJ], [EMAIL], [PHONE].

    Example: sinergia text redact --data tickets.csv --text-col description --out tickets-redacted.csv
    """
    from sinergia.text.io import read_table, write_csv
    from sinergia.text.redact import redact as redact_one

    frame = read_table(data, required=tuple(text_col))
    totals: dict[str, dict[str, int]] = {}
    for column in text_col:
        counts = {"rows_changed": 0, "cpf": 0, "cnpj": 0, "email": 0, "phone": 0}
        cleaned = []
        for value in _texts(frame, column):
            result = redact_one(value)
            cleaned.append(result.text)
            counts["rows_changed"] += bool(result.spans)
            for kind, n in result.counts().items():
                counts[kind] += n
        frame[column] = cleaned
        totals[column] = counts
    write_csv(frame, out)
    print_rows([{"column": c, **v} for c, v in totals.items()], fmt, title=f"Redacted {len(frame):,} rows -> {out}")


@app.command()
def score(
    workspace: Annotated[
        Path | None,
        typer.Option("--workspace", "-w", show_default=False,
                     help="Workspace folder. Default: $SINERGIA_WORKSPACE, then the current folder."),
    ] = None,
    model: Annotated[
        Path | None, typer.Option("--model", "-m", help="Model folder from 'sinergia text train' (default: lexicon).")
    ] = None,
    n_topics: Annotated[int, typer.Option("--topics", "-k", min=0, max=100, help="How many topics (0: none).")] = 8,
    themes: Annotated[
        Path | None,
        typer.Option("--themes", help="YAML/JSON {theme: [keywords]} naming the topics (keyword* = prefix)."),
    ] = None,
    language: LanguageOpt = "pt",
    seed: Annotated[int, typer.Option(help="Seed of the topic model.")] = 0,
    fmt: FormatOpt = Format.table,
) -> None:
    """Score every text of the workspace and store it in the engine table text_sentiment (re-run replaces it).

    Texts: feedback (title + text), survey comments, ticket subject + description. Each row gets its language,
    sentiment in [-1, 1], polarity, topic, a PII-redacted excerpt (at most 280 characters), the text's own
    timestamp (so as-of reads ignore later texts) and the scorer's version. Health measures (text_sentiment,
    negative_text_share), the churn features and the 'sentiment' playbook trigger read this table.

    Example: sinergia text score --workspace ./acme --model ./acme/sentiment-model
    """
    from sinergia.text.io import read_dictionary
    from sinergia.text.workspace import score_workspace
    from sinergia.workspace import open_workspace

    ws = open_workspace(workspace)
    report = score_workspace(ws, model_dir=model, default_language=language, n_topics=n_topics,
                             themes=read_dictionary(themes) if themes is not None else None, seed=seed)
    data = report.as_dict()
    if fmt is Format.json:
        print_json(data)
        return
    summary = {k: v for k, v in data.items() if k not in ("topics", "by_source", "polarity")}
    print_rows([{**summary, **data["by_source"], **data["polarity"]}], fmt,
               title=f"{report.rows:,} texts scored into text_sentiment")
    if fmt is Format.table and report.topics:
        print_rows([{k: t[k] for k in ("topic", "label", "size", "mean_sentiment", "negative_share")}
                    for t in report.topics], fmt, title="Topics")
