"""``sinergia route``: Support-vs-CS routing of inbound requests (rules, then a text classifier).

Model code lives in ``sinergia.playbooks.routing``; see docs/playbooks.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sinergia.cli._output import Format, print_json, print_rows
from sinergia.errors import InputError, UsageError

app = typer.Typer(help="Route requests to Support (reactive) or CS (strategic), with the reason.",
                  no_args_is_help=True)

DataOpt = Annotated[Path, typer.Option("--data", "-d", help="CSV with one request per row (UTF-8).")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output: table for people, json/csv for scripts.")]


def _read(path: Path, columns: list[str]) -> object:
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise InputError(f"{path}: cannot read as CSV ({error})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; has {', '.join(map(str, frame.columns))}")
    return frame


@app.command()
def train(
    data: DataOpt,
    text_col: Annotated[str, typer.Option("--text-col", help="Column with the request text.")],
    label_col: Annotated[str, typer.Option("--label-col", help="Column with the queue: support or cs.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to write.")],
    seed: Annotated[int, typer.Option(help="Seed of the hold-out split and the fit.")] = 42,
    fmt: FormatOpt = Format.table,
) -> None:
    """Evaluate on a stratified 25 % hold-out (accuracy, macro-F1), then fit on all rows and save.

    Example: sinergia route train --data history.csv --text-col text --label-col queue --out ./routing-model
    """
    import pandas as pd

    from sinergia.playbooks.routing import train_and_evaluate

    frame = _read(data, [text_col, label_col])
    assert isinstance(frame, pd.DataFrame)
    model, evaluation = train_and_evaluate(frame[text_col].tolist(), frame[label_col].tolist(), seed=seed)
    model.save(out)
    result = {"model": str(out), **{k: v for k, v in evaluation.as_dict().items() if k != "confusion"}}
    if fmt is Format.json:
        print_json({**result, "confusion": evaluation.confusion})
        return
    print_rows([result], fmt, title="Routing classifier (hold-out)")


@app.command()
def predict(
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV to write: input columns + queue, method, reason.")],
    model: Annotated[Path | None, typer.Option("--model", "-m", help="Model folder from 'route train'.")] = None,
    text_col: Annotated[str, typer.Option("--text-col", help="Column with the request text.")] = "text",
    subject_col: Annotated[str | None, typer.Option("--subject-col", help="Optional subject column.")] = None,
    tags_col: Annotated[str | None, typer.Option("--tags-col", help="Optional tags column (comma-separated).")] = None,
    role_col: Annotated[str | None, typer.Option("--role-col", help="Optional requester-role column.")] = None,
    channel_col: Annotated[str | None, typer.Option("--channel-col", help="Optional channel column.")] = None,
    no_rules: Annotated[bool, typer.Option("--no-rules", help="Classifier only (skip the built-in rules).")] = False,
    workspace: Annotated[Path | None, typer.Option("--workspace", "-w", help="Also store the decisions in this "
                                                   "workspace's serving store (needs --id-col).")] = None,
    id_col: Annotated[str | None, typer.Option("--id-col", help="Request id column (ticket or message id).")] = None,
    account_col: Annotated[str | None, typer.Option("--account-col", help="Optional account id column.")] = None,
) -> None:
    """Route every row: rules first, then the classifier (if --model), else the default queue (support).

    Example: sinergia route predict --model ./routing-model --data inbox.csv --out routed.csv
    """
    import pandas as pd

    from sinergia.playbooks.routing import DEFAULT_RULES, Request, Router, TextClassifier

    if workspace is not None and id_col is None:
        raise UsageError("--workspace stores the decisions and needs --id-col to name each request")
    wanted = [c for c in (text_col, subject_col, tags_col, role_col, channel_col, id_col, account_col) if c]
    frame = _read(data, wanted)
    assert isinstance(frame, pd.DataFrame)
    router = Router(rules=() if no_rules else DEFAULT_RULES,
                    classifier=TextClassifier.load(model) if model is not None else None)
    decisions = []
    for row in frame.to_dict(orient="records"):
        tags = tuple(t.strip() for t in str(row[tags_col]).split(",") if t.strip()) if tags_col else ()
        request = Request(text=str(row[text_col]), subject=str(row[subject_col]) if subject_col else "",
                          channel=str(row[channel_col]) or None if channel_col else None,
                          requester_role=str(row[role_col]) or None if role_col else None, tags=tags)
        decisions.append(router.route(request))
    frame["queue"] = [d.queue for d in decisions]
    frame["method"] = [d.method for d in decisions]
    frame["reason"] = [d.reason for d in decisions]
    frame["probability"] = [d.probability for d in decisions]
    frame.to_csv(out, index=False)
    if workspace is not None and id_col is not None:
        from sinergia.playbooks.routing import record_decisions
        from sinergia.workspace import open_workspace

        refs = frame[id_col].astype(str).tolist()
        accounts = frame[account_col].astype(str).tolist() if account_col else [None] * len(frame)
        record_decisions(open_workspace(workspace).store_url, list(zip(refs, accounts, decisions, strict=True)))
    counts = frame.groupby(["queue", "method"]).size().reset_index(name="rows").to_dict(orient="records")
    print_rows(counts, Format.table, title=f"Routed {len(frame)} requests into {out}")
