"""``sinergia churn``: churn models on the workspace and on a table the user already has.

On a table (one row per customer, a 0/1 target): ``fit`` cross-validates the calibrated LightGBM against a
logistic baseline, prints the figures and saves the model folder; ``predict`` scores a file with it
(``sinergia.models.tabular``). On the workspace: ``train`` / ``backtest`` / ``score`` with point-in-time
features and churn within a horizon (``sinergia.models.risk``, commands in ``cli/_risk.py``). See docs/churn.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sinergia.cli._output import Format, console, print_json, print_rows
from sinergia.cli._risk import _clean, _round, add_workspace_commands
from sinergia.errors import InputError

app = typer.Typer(
    help="Churn risk: on the workspace (train / backtest / score, point-in-time features) or on your own table "
    "(fit / predict). Calibrated LightGBM with per-row drivers, logistic baseline.",
    no_args_is_help=True,
)

DataOpt = Annotated[Path, typer.Option("--data", "-d", help="CSV, one row per customer (, or ; ; UTF-8 or latin-1).")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output: table for people, json/csv for scripts.")]


@app.command()
def fit(
    data: DataOpt,
    target: Annotated[str, typer.Option("--target", help="Binary column: Yes/No, True/False, Y/N, T/F or 1/0.")],
    id_col: Annotated[str, typer.Option("--id", help="Customer id column (never a feature).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to write (replaced if it is one).")],
    drop: Annotated[
        list[str] | None,
        typer.Option("--drop", help="Column that must not be a feature (leaky: churn score, churn reason). Repeat."),
    ] = None,
    folds: Annotated[int, typer.Option(min=2, max=20, help="Cross-validation folds for the reported metrics.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the splits and of LightGBM.")] = 0,
    fmt: FormatOpt = Format.table,
) -> None:
    """Cross-validate, then fit on all rows and save the model folder.

    Prints ROC AUC, PR AUC, Brier score and log loss of the calibrated LightGBM and of a one-hot logistic
    regression (stratified K-fold), a calibration table and the lift in the top decile.

    Example: sinergia churn fit --data telco.csv --target Churn --id customerID --out ./churn-model
    """
    from sinergia.models.tabular import TabularChurnModel, evaluate, read_table

    frame = read_table(data)
    dropped = tuple(drop or ())
    model = TabularChurnModel(target, id_col, dropped, seed)
    model._prepare(frame)  # input errors (columns, target) fail fast, before the cross-validation
    evaluation = evaluate(frame, target, id_col, dropped, folds=folds, seed=seed)
    model.fit(frame)
    model.evaluation_ = evaluation.as_dict()
    saved = model.save(out)
    result: dict[str, Any] = {
        "model": str(saved), "n_rows": evaluation.n_rows, "churn_rate": evaluation.churn_rate,
        "features": model.features_, "dropped": list(dropped), **evaluation.as_dict(),
        "fit_seconds": round(model.fit_seconds_, 3),
    }
    if fmt is Format.json:
        print_json(_clean(result))
        return
    rows = [
        {"model": name, **{m: _round(v) for m, v in metrics.items() if not m.endswith("_sd")},
         "roc_auc_sd": _round(metrics["roc_auc_sd"])}
        for name, metrics in evaluation.models.items()
    ]
    title = f"{folds}-fold CV on {evaluation.n_rows:,} rows (churn rate {evaluation.churn_rate:.1%})"
    print_rows(rows, fmt, title=title)
    if fmt is Format.table:
        print_rows([{k: _round(v) for k, v in r.items()} for r in evaluation.calibration], fmt,
                   title="Calibration (equal-count bins, out-of-fold)")
        console.print(f"Lift in the top decile: {evaluation.lift_top_decile:.2f}; "
                      f"{len(model.features_)} features; model saved to {saved}", highlight=False)


@app.command()
def predict(
    model: Annotated[Path, typer.Option("--model", "-m", help="Model folder written by 'sinergia churn fit'.")],
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV to write: id, churn_probability, driver_1..3.")],
    fmt: FormatOpt = Format.table,
) -> None:
    """Score a file: churn probability (calibrated) and the three strongest drivers per customer.

    Drivers read "feature = value (+0.21)": SHAP contributions in log-odds of churn (positive raises the risk).
    Columns the model was not fitted on are ignored; category values it never saw count as missing.

    Example: sinergia churn predict --model ./churn-model --data customers.csv --out scores.csv
    """
    from sinergia.models.tabular import TabularChurnModel, read_table

    fitted = TabularChurnModel.load(model)
    frame = read_table(data)
    table = fitted.predict(frame)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)
    except OSError as error:
        raise InputError(f"{out}: cannot write ({error.strerror})") from None
    probability = table["churn_probability"]
    summary = {"out": str(out), "n_rows": len(table), "mean_churn_probability": float(probability.mean()),
               "above_50pct": int((probability >= 0.5).sum())}
    if fmt is Format.json:
        print_json(summary)
    else:
        print_rows([{k: _round(v) for k, v in summary.items()}], fmt, title="Predictions written")


add_workspace_commands(app, "churn", "churn")
