"""``sinergia clv``: fit BG/NBD and Gamma-Gamma on a transaction file, and predict per customer.

Models are refitted on every call (a fit on 23,570 CDNOW customers takes well under a second); nothing is
persisted. Formulas live in ``sinergia.models.clv``; see docs/clv.md.
"""

from __future__ import annotations

import datetime as dt
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from sinergia.cli._output import Format, console, print_json, print_rows
from sinergia.errors import InputError, UsageError

app = typer.Typer(
    help="Customer lifetime value: BG/NBD purchases, P(alive), Gamma-Gamma spend, CLV.", no_args_is_help=True
)


class Model(StrEnum):
    bgnbd = "bgnbd"
    ggamma = "ggamma"


class Unit(StrEnum):
    day = "day"
    week = "week"


TransactionsOpt = Annotated[
    Path,
    typer.Option(
        "--transactions", "-t",
        help="CSV (delimiter detected: , ; tab or whitespace; no header → columns named 1, 2, ...) or Parquet.",
    ),
]
CustomerOpt = Annotated[str, typer.Option("--customer-col", help="Column with the customer id.")]
DateOpt = Annotated[str, typer.Option("--date-col", help="Column with the date (ISO or YYYYMMDD).")]
ValueOpt = Annotated[str | None, typer.Option("--value-col", help="Column with the transaction value.")]
UntilOpt = Annotated[
    str | None,
    typer.Option(help="End of the calibration period (YYYY-MM-DD): later rows are ignored, T is measured to it."),
]
UnitOpt = Annotated[Unit, typer.Option("--time-unit", help="Model time unit (week = days / 7).")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output: table for people, json/csv for scripts.")]


def _summary(transactions: Path, customer_col: str, date_col: str, value_col: str | None, until: str | None,
             unit: Unit) -> tuple[Any, int]:
    from sinergia.models.rfm import read_transactions, rfm_summary

    until_date = None
    if until is not None:
        try:
            until_date = dt.date.fromisoformat(until)
        except ValueError:
            raise UsageError(f"--until must be a date like 1997-09-30, got '{until}'") from None
    frame = read_transactions(transactions)
    summary = rfm_summary(frame, customer_col, date_col, value_col, until=until_date, time_unit=unit.value)
    return summary, len(frame)


def _fit_models(summary: Any, model: Model, value_col: str | None) -> tuple[Any, Any]:
    from sinergia.models.clv import BetaGeoFitter, GammaGammaFitter

    bgnbd = None
    if model is Model.bgnbd or value_col is not None:
        bgnbd = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    gamma = None
    if value_col is not None:
        gamma = GammaGammaFitter().fit(summary["frequency"], summary["monetary_value"])
    return bgnbd, gamma


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


@app.command()
def fit(
    transactions: TransactionsOpt,
    customer_col: CustomerOpt,
    date_col: DateOpt,
    value_col: ValueOpt = None,
    model: Annotated[Model, typer.Option(help="bgnbd (purchases) or ggamma (spend; needs --value-col).")] = Model.bgnbd,
    until: UntilOpt = None,
    time_unit: UnitOpt = Unit.week,
    fmt: FormatOpt = Format.table,
) -> None:
    """Fit a model by maximum likelihood and print its parameters, standard errors and log-likelihood.

    JSON keys: r, alpha, a, b (bgnbd) or p, q, gamma (ggamma), log_likelihood, n_customers, standard_errors.

    Example: sinergia clv fit -t CDNOW_master.txt --customer-col customer_id --date-col date
    --value-col dollar_value --until 1997-09-30 --format json
    """
    from sinergia.models.clv import BetaGeoFitter, GammaGammaFitter, describe

    if model is Model.ggamma and value_col is None:
        raise UsageError("--model ggamma needs --value-col (the transaction value)")
    summary, n_rows = _summary(transactions, customer_col, date_col, value_col, until, time_unit)
    fitted: BetaGeoFitter | GammaGammaFitter
    if model is Model.bgnbd:
        fitted = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    else:
        fitted = GammaGammaFitter().fit(summary["frequency"], summary["monetary_value"])
    result: dict[str, Any] = {"model": model.value, **describe(fitted)}
    result.update(time_unit=time_unit.value, until=until, n_transactions=n_rows,
                  n_repeat_buyers=int((summary["frequency"] > 0).sum()))
    if fmt is Format.json:
        print_json(_clean(result))
        return
    table = fitted.summary().reset_index()
    rows = [{k: _round(v) for k, v in row.items()} for row in table.to_dict("records")]
    print_rows(rows, fmt, title=f"{model.value}: {result['n_customers']:,} customers")
    if fmt is Format.table:
        status = "" if fitted.converged_ else f" ({fitted.message_})"
        console.print(f"log-likelihood {fitted.log_likelihood_:,.2f}; time unit {time_unit.value}{status}",
                      highlight=False)


@app.command()
def predict(
    transactions: TransactionsOpt,
    customer_col: CustomerOpt,
    date_col: DateOpt,
    value_col: ValueOpt = None,
    horizon: Annotated[float, typer.Option(help="Prediction horizon in months of 30.4375 days.")] = 12,
    until: UntilOpt = None,
    time_unit: UnitOpt = Unit.week,
    discount_rate: Annotated[float, typer.Option(help="Monthly discount rate for CLV.")] = 0.01,
    margin: Annotated[float, typer.Option(help="Profit margin applied to spend in CLV.")] = 1.0,
    draws: Annotated[int, typer.Option(min=2, help="Parameter draws for the 95 % interval.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the parameter draws.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Write all customers to this CSV (or .parquet) file.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Rows shown in the table format.")] = 20,
    fmt: FormatOpt = Format.table,
) -> None:
    """Per customer: P(alive), expected purchases over the horizon (95 % interval), expected spend, CLV.

    Fits BG/NBD (and Gamma-Gamma when --value-col is given) on the data up to --until, then predicts from that
    date. The interval reflects parameter uncertainty only (docs/clv.md).

    Example: sinergia clv predict -t CDNOW_master.txt --customer-col customer_id --date-col date
    --value-col dollar_value --until 1997-09-30 --horizon 12 --out clv.csv
    """
    from sinergia.models.clv import predict_customers

    if not horizon > 0:
        raise UsageError(f"--horizon must be a positive number of months, got {horizon}")
    summary, _ = _summary(transactions, customer_col, date_col, value_col, until, time_unit)
    bgnbd, gamma = _fit_models(summary, Model.bgnbd, value_col)
    table = predict_customers(
        summary, bgnbd, gamma, horizon_months=horizon, time_unit=time_unit.value, discount_rate=discount_rate,
        margin=margin, draws=draws, seed=seed,
    ).reset_index()
    if out is not None:
        try:
            if out.suffix.lower() in (".parquet", ".pq"):
                table.to_parquet(out, index=False)
            else:
                table.to_csv(out, index=False)
        except OSError as error:
            raise InputError(f"{out}: cannot write ({error.strerror})") from None
        totals: dict[str, Any] = {
            "out": str(out), "n_customers": len(table), "horizon_months": horizon,
            "expected_purchases": float(table["expected_purchases"].sum()),
        }
        if "clv" in table.columns:
            totals["clv"] = float(table["clv"].sum())
        if fmt is Format.json:
            print_json(totals)
        else:
            print_rows([totals], fmt, title="Predictions written")
        return
    records = [{k: _round(v) for k, v in row.items()} for row in table.to_dict("records")]
    if fmt is Format.table:
        print_rows(records[:limit], fmt, title=f"Next {horizon:g} months: {len(records):,} customers")
        if len(records) > limit:
            console.print(f"{len(records) - limit:,} more rows: use --out FILE or --format csv", highlight=False)
        return
    print_rows(records, fmt)


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 6)
    return value


class WorkspaceModel(StrEnum):
    auto = "auto"
    sbg = "sbg"
    simple = "simple"
    bgnbd = "bgnbd"


@app.command()
def score(
    as_of: Annotated[str, typer.Option("--as-of", help="Value as of the end of this day (YYYY-MM-DD). Required.")],
    workspace: Annotated[
        Path | None,
        typer.Option("--workspace", "-w", help="Workspace folder. Default: $SINERGIA_WORKSPACE, then the current one."),
    ] = None,
    horizon_months: Annotated[int, typer.Option("--horizon-months", min=1, max=120,
                                                help="Months ahead; the score is clv_<N>m.")] = 12,
    model: Annotated[WorkspaceModel, typer.Option(
        help="auto: sbg for subscriptions (simple if nothing churned yet), else bgnbd on orders.",
    )] = WorkspaceModel.auto,
    discount_rate: Annotated[float, typer.Option(help="Monthly discount rate.")] = 0.01,
    margin: Annotated[float | None, typer.Option(help="Margin on revenue (default: metrics.gross_margin).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Compute and show, write nothing.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="Rows shown in the table format.")] = 20,
    fmt: FormatOpt = Format.table,
) -> None:
    """Fit a CLV model on the workspace as of --as-of and store clv_<horizon>m per account in the score history.

    Subscriptions: sBG on every paying life (or a constant churn rate), value = MRR × margin × expected
    discounted payments over the horizon. Orders: BG/NBD + Gamma-Gamma. Each row keeps its explanation
    (inputs, formula, parameters) and a CLV tier (high = top 20 %, medium = next 30 %, low). docs/clv.md.

    Example: sinergia clv score --workspace ./demo --as-of 2026-10-31 --horizon-months 12
    """
    from sinergia.models.clv import score_workspace
    from sinergia.workspace import open_workspace

    try:
        day = dt.date.fromisoformat(as_of)
    except ValueError:
        raise UsageError(f"--as-of must be a date like 2026-10-31, got '{as_of}'") from None
    ws = open_workspace(workspace)
    frame, info = score_workspace(ws, day, horizon_months=horizon_months, model=model.value,
                                  discount_rate=discount_rate, margin=margin)
    name = f"clv_{horizon_months}m"
    written = 0
    if not dry_run:
        from sinergia.scores.history import write_scores

        written = write_scores(ws, frame, score=name, model_version=info["model_version"])
    summary = {"score": name, "written": written, "dry_run": dry_run, **info,
               "total_value": float(frame["value"].sum()),
               "tiers": {str(k): int(v) for k, v in frame["band"].value_counts().items()}}
    if fmt is Format.json:
        print_json(_clean(summary))
        return
    rows = [{"account_id": r["account_id"], "value": round(float(r["value"]), 2), "tier": r["band"]}
            for r in frame.sort_values("value", ascending=False).to_dict("records")]
    if fmt is Format.csv:
        print_rows(rows, fmt)
        return
    print_rows(rows[:limit], fmt, title=f"{name} as of {day} ({info['model']}): {len(rows):,} accounts")
    params = ", ".join(f"{k} {v:.4g}" for k, v in info["params"].items() if isinstance(v, float))
    action = "not written (--dry-run)" if dry_run else f"{written:,} rows written to the score history"
    console.print(f"Total {summary['total_value']:,.2f}; {params}; {action}", highlight=False)
