"""The ``train`` / ``backtest`` / ``score`` commands shared by ``sinergia churn`` and ``sinergia expansion``.

:func:`add_workspace_commands` adds the three commands for one target of :mod:`sinergia.models.risk` to a
Typer app. Parsing and rendering only: the models, metrics and storage live in the core.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from sinergia.cli._output import Format, console, print_json, print_rows
from sinergia.errors import InputError, UsageError

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder. Default: $SINERGIA_WORKSPACE, then the current folder.",
                 show_default=False),
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output: table for people, json/csv for scripts.")]
HorizonOpt = Annotated[int, typer.Option("--horizon", help="Days after the as-of date: 30, 90 or 180.")]


def _day(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} must be a date like 2026-10-31, got '{value}'") from None


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 4)
    return value


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile", "mean_predicted")


def _print_backtest(result: dict[str, Any], fmt: Format, noun: str) -> None:
    rows = []
    for name, figures in result["models"].items():
        if figures.get("status") == "missing":
            rows.append({"model": name, **dict.fromkeys(_METRICS), "note": f"missing: {figures['reason']}"})
            continue
        rows.append({"model": name, **{m: _round(figures.get(m)) for m in _METRICS}, "note": figures.get("note", "")})
    title = (f"Backtest, {noun} within {result['horizon_days']} days: trained on {len(result['train_as_of'])} as-of "
             f"dates ({result['train_as_of'][0]} … {result['train_as_of'][-1]}, {result['n_train']:,} rows), tested on "
             f"{', '.join(result['test_as_of'])} ({result['n_test']:,} rows, rate {result['test_positive_rate']:.1%})")
    print_rows(rows, fmt, title=title)
    if fmt is Format.table:
        print_rows([{k: _round(v) for k, v in r.items()} for r in result["calibration"]], fmt,
                   title="Calibration of the calibrated LightGBM on the test rows (equal-count bins)")


def add_workspace_commands(app: typer.Typer, target: str, noun: str) -> None:
    """Add ``train``, ``backtest`` and ``score`` for ``target`` (``churn`` or ``expansion``) to ``app``."""

    def train(
        as_of: Annotated[str, typer.Option("--as-of", help="Data are complete up to this day (YYYY-MM-DD). Required.")],
        workspace: WorkspaceOpt = None,
        horizon: HorizonOpt = 90,
        seed: Annotated[int, typer.Option(help="Seed of LightGBM and of the calibration folds.")] = 0,
        evaluate: Annotated[bool, typer.Option("--backtest/--no-backtest",
                                               help="Also backtest the recipe and keep the figures.")] = True,
        fmt: FormatOpt = Format.table,
    ) -> None:
        from sinergia.models.risk import train as train_model
        from sinergia.workspace import open_workspace

        ws = open_workspace(workspace)
        stored = train_model(ws, target, horizon, as_of=_day(as_of, "--as-of"), seed=seed, evaluate=evaluate)
        meta = stored.metadata
        summary = {"version": stored.version, "path": str(stored.path), "horizon_days": horizon,
                   "training_as_of_first": meta["training_as_of"][0], "training_as_of_last": meta["training_as_of"][-1],
                   "n_rows": meta["n_rows"], "positive_rate": meta["positive_rate"], "fit_seconds": meta["fit_seconds"]}
        if fmt is Format.json:
            print_json(_clean({**summary, "metrics": meta["metrics"]}))
            return
        print_rows([{k: _round(v) for k, v in summary.items()}], fmt, title=f"{noun.capitalize()} model trained")
        metrics = meta.get("metrics")
        if isinstance(metrics, dict) and "models" in metrics:
            _print_backtest(metrics, fmt, noun)
        elif isinstance(metrics, dict) and fmt is Format.table:
            console.print(f"Backtest skipped: {metrics.get('reason')}", highlight=False)

    def backtest(
        workspace: WorkspaceOpt = None,
        horizon: HorizonOpt = 90,
        until: Annotated[str | None, typer.Option(
            "--until", help="Last day the data are complete (default: the latest dated row).")] = None,
        test_dates: Annotated[int, typer.Option("--test-dates", min=1, max=24,
                                                help="How many of the last monthly as-of dates are the test set.")] = 3,
        seed: Annotated[int, typer.Option(help="Seed of LightGBM and of the calibration folds.")] = 0,
        fmt: FormatOpt = Format.table,
    ) -> None:
        from sinergia.models.risk import backtest as run_backtest
        from sinergia.workspace import open_workspace

        ws = open_workspace(workspace)
        result = run_backtest(ws, target, horizon, until=_day(until, "--until") if until else None,
                              test_dates=test_dates, seed=seed).as_dict()
        if fmt is Format.json:
            print_json(_clean(result))
            return
        _print_backtest(result, fmt, noun)

    def score(
        as_of: Annotated[str, typer.Option("--as-of", help="Score the accounts paying on this day. Required.")],
        workspace: WorkspaceOpt = None,
        horizon: HorizonOpt = 90,
        version: Annotated[str | None, typer.Option(help="Model version (default: the latest).")] = None,
        store: Annotated[bool, typer.Option("--store/--no-store",
                                            help="Write the scores to the score history.")] = True,
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write a CSV of the scores.")] = None,
        top: Annotated[int, typer.Option(min=0, help="Rows to show (highest first).")] = 20,
        fmt: FormatOpt = Format.table,
    ) -> None:
        from sinergia.models.risk import score as score_accounts
        from sinergia.models.risk import score_and_store
        from sinergia.workspace import open_workspace

        ws = open_workspace(workspace)
        day = _day(as_of, "--as-of")
        if store:
            frame, stored, written = score_and_store(ws, target, horizon, as_of=day, version=version)
        else:
            (frame, stored), written = score_accounts(ws, target, horizon, as_of=day, version=version), 0
        rows = [
            {"account_id": r.account_id, "value": float(r.value), "band": r.band,
             **{f"driver_{i + 1}": f"{d['label_en']} = {d['value']} ({d['contribution']:+.2f})"
                for i, d in enumerate(r.explanation["drivers"])}}
            for r in frame.itertuples(index=False)
        ]  # fmt: skip
        if out is not None:
            import pandas as pd

            try:
                out.parent.mkdir(parents=True, exist_ok=True)
                pd.DataFrame(rows).to_csv(out, index=False)
            except OSError as error:
                raise InputError(f"{out}: cannot write ({error.strerror})") from None
        bands = {b: int((frame["band"] == b).sum()) for b in ("high", "medium", "low")} if len(frame) else {}
        summary = {"as_of": day.isoformat(), "model_version": stored.version, "accounts": len(frame),
                   "stored_rows": written, "score": stored.metadata["score"], "bands": bands}
        if fmt is Format.json:
            print_json(_clean({**summary, "scores": [{**r, "value": _round(r["value"])} for r in rows[:top]]}))
            return
        print_rows([{**r, "value": _round(r["value"])} for r in rows[:top]], fmt,
                   title=f"{stored.metadata['score']} as of {day} (model {stored.version}), highest first")
        if fmt is Format.table:
            console.print(f"{len(frame):,} accounts scored; bands {summary['bands']}; "
                          f"{written:,} rows written to the score history", highlight=False)

    train.__doc__ = f"""Train the {noun} model on the workspace and store a new version.

    Rows are (paying account, month end) pairs whose {noun} window ends by --as-of; features are point-in-time
    (nothing after each month end). Writes WORKSPACE/models/{target}_<horizon>d/<version>/ and points 'latest'
    at it. With --backtest (default) the figures of a time-based backtest are kept in metadata.json.

    Example: sinergia {target} train --workspace ./acme --as-of 2026-10-31 --horizon 90
    """
    backtest.__doc__ = f"""Time-based backtest of the {noun} model: train on earlier month ends, test on the last ones.

    Training as-of dates end at least --horizon days before the first test date, so no training label overlaps
    the test period. Prints ROC AUC, PR AUC, Brier score, log loss and the lift in the top decile of the
    calibrated LightGBM, the uncalibrated one, the logistic baseline and the health score, plus a calibration
    table.

    Example: sinergia {target} backtest --workspace ./acme --horizon 90 --format json
    """
    score.__doc__ = f"""Score the accounts paying on --as-of with the latest (or --version) {noun} model.

    Each account gets a calibrated probability, a band (high: at least twice the training rate; medium: at least
    the training rate; low) and its three strongest drivers (SHAP contributions in log-odds; positive raises the
    probability). Stored in the score history unless --no-store.

    Example: sinergia {target} score --workspace ./acme --as-of 2026-10-31
    """
    app.command("train")(train)
    app.command("backtest")(backtest)
    app.command("score")(score)
