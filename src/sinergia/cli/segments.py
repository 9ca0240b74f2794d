"""``sinergia segments``: RFM segments with loyalty tiers, and data-driven personas described in words.

Definitions (scores, the R×F segment map, tiers, clustering) live in ``sinergia.models.segments``; see
docs/segments.md. Nothing is persisted.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from sinergia.cli._output import Format, console, print_json, print_rows
from sinergia.cli.signals import parse_day
from sinergia.errors import UsageError

app = typer.Typer(help="Customer segments: RFM segments, loyalty tiers, personas (k-means) in words.",
                  no_args_is_help=True)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder. Default: $SINERGIA_WORKSPACE, then the current folder."),
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output: table for people, json/csv for scripts.")]
TransactionsOpt = Annotated[
    Path | None,
    typer.Option("--transactions", "-t", help="A transaction file (CSV or Parquet) instead of a workspace."),
]
CustomerOpt = Annotated[str | None, typer.Option("--customer-col", help="With --transactions: the customer id column.")]
DateOpt = Annotated[str | None, typer.Option("--date-col", help="With --transactions: the date column.")]
ValueOpt = Annotated[str | None, typer.Option("--value-col", help="With --transactions: the value column.")]
QuantityOpt = Annotated[
    str | None,
    typer.Option("--quantity-col", help="With --transactions: a quantity column; value = value-col × quantity."),
]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="As of the end of this day (YYYY-MM-DD). Required with --workspace; with "
                                 "--transactions the default is the last date in the file."),
]


def _rfm_table(workspace: Path | None, transactions: Path | None, customer_col: str | None, date_col: str | None,
               value_col: str | None, as_of: str | None, quantity_col: str | None = None) -> tuple[Any, str]:
    from sinergia.models.rfm import read_transactions
    from sinergia.models.segments import account_transactions, rfm_table

    if transactions is not None:
        if not (customer_col and date_col and value_col):
            raise UsageError("--transactions needs --customer-col, --date-col and --value-col")
        frame = read_transactions(transactions)
        day = parse_day(as_of) if as_of else None
        return rfm_table(frame, customer_col, date_col, value_col, as_of=day, quantity_col=quantity_col), "customer"
    if as_of is None:
        raise UsageError("--as-of is required with a workspace (YYYY-MM-DD)")
    from sinergia.workspace import open_workspace

    day = parse_day(as_of)
    tx = account_transactions(open_workspace(workspace), day)
    if tx.empty:
        raise UsageError(f"the workspace has no orders by the end of {day}: RFM needs orders or invoices")
    return rfm_table(tx, "account_id", "ordered_at", "amount", as_of=day), "account_id"


@app.command()
def rfm(
    workspace: WorkspaceOpt = None,
    as_of: AsOfOpt = None,
    transactions: TransactionsOpt = None,
    customer_col: CustomerOpt = None,
    date_col: DateOpt = None,
    value_col: ValueOpt = None,
    quantity_col: QuantityOpt = None,
    summary: Annotated[bool, typer.Option("--summary/--customers",
                                          help="One row per segment (default) or one row per customer.")] = True,
    out: Annotated[Path | None, typer.Option(help="Write every customer to this CSV (or .parquet) file.")] = None,
    lang: Annotated[str, typer.Option(help="Segment names: en or pt-BR.")] = "en",
    fmt: FormatOpt = Format.table,
) -> None:
    """RFM scores (1-5 by rank quintile), the named R×F segment and the loyalty tier of each customer.

    From the workspace's orders / invoices as of --as-of, or from a transaction file (CDNOW, Online Retail).
    Segment map and tier thresholds: docs/segments.md (tiers: the workspace's segments.loyalty section).

    Examples: sinergia segments rfm -t CDNOW_sample.txt --customer-col 2 --date-col 3 --value-col 5;
    sinergia segments rfm -t online_retail.csv.gz --customer-col CustomerID --date-col InvoiceDate
    --value-col UnitPrice --quantity-col Quantity
    """
    from sinergia.models.segments import LoyaltySettings, loyalty_tiers, rfm_segments, segment_counts

    if lang not in ("en", "pt-BR"):
        raise UsageError(f"--lang must be en or pt-BR, got '{lang}'")
    table, key = _rfm_table(workspace, transactions, customer_col, date_col, value_col, as_of, quantity_col)
    settings = LoyaltySettings()
    if transactions is None:
        from sinergia.workspace import open_workspace

        settings = open_workspace(workspace).config.segments.loyalty
    segmented = loyalty_tiers(rfm_segments(table), settings)
    pt = lang == "pt-BR"
    if out is not None:
        frame = segmented.reset_index().rename(columns={"customer": key})
        if out.suffix.lower() in (".parquet", ".pq"):
            frame.to_parquet(out, index=False)
        else:
            frame.to_csv(out, index=False)
    if summary:
        counts = segment_counts(segmented)
        rows = [{
            "segment": r["segment_pt"] if pt else r["segment"], "customers": int(r["customers"]),
            "share": round(float(r["share"]), 4), "recency_days": round(float(r["recency_days"]), 1),
            "frequency": round(float(r["frequency"]), 2), "monetary": round(float(r["monetary"]), 2),
        } for r in counts.to_dict("records")]
        tiers = segmented["tier_pt" if pt else "tier"].value_counts(dropna=False)
        if fmt is Format.json:
            print_json({"customers": len(segmented), "segments": rows,
                        "tiers": {str(k): int(v) for k, v in tiers.items()}, "out": str(out) if out else None})
            return
        print_rows(rows, fmt, title=f"RFM segments: {len(segmented):,} customers")
        if fmt is Format.table:
            console.print("Loyalty tiers: " + ", ".join(f"{k} {v:,}" for k, v in tiers.items()), highlight=False)
        return
    records = []
    for customer, r in segmented.iterrows():
        records.append({
            key: customer, "recency_days": int(r["recency_days"]), "frequency": int(r["frequency"]),
            "monetary": round(float(r["monetary"]), 2), "r": int(r["r"]), "f": int(r["f"]), "m": int(r["m"]),
            "segment": r["segment_pt"] if pt else r["segment"], "tier": r["tier_pt"] if pt else r["tier"],
        })
    print_rows(records, fmt)


@app.command()
def personas(
    workspace: WorkspaceOpt = None,
    as_of: AsOfOpt = None,
    transactions: TransactionsOpt = None,
    customer_col: CustomerOpt = None,
    date_col: DateOpt = None,
    value_col: ValueOpt = None,
    quantity_col: QuantityOpt = None,
    k_min: Annotated[int | None, typer.Option(min=2, help="Fewest personas tried (default: config, 2).")] = None,
    k_max: Annotated[int | None, typer.Option(min=2, help="Most personas tried (default: config, 8).")] = None,
    seed: Annotated[int | None, typer.Option(help="k-means seed (default: config, 0).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write each account's persona to this CSV file.")] = None,
    lang: Annotated[str, typer.Option(help="Descriptions: en or pt-BR.")] = "en",
    fmt: FormatOpt = Format.table,
) -> None:
    """Personas: k-means on standardised account features, k by silhouette, each described in words.

    Workspace features as of --as-of: usage per licence, adoption, tickets, last NPS, MRR, tenure (docs/segments.md).
    With --transactions: recency, frequency and monetary value per customer.

    Example: sinergia segments personas --workspace ./demo --as-of 2026-10-31 --lang pt-BR
    """
    import numpy as np

    from sinergia.models.segments import PersonaSettings, account_features
    from sinergia.models.segments import personas as cluster

    if lang not in ("en", "pt-BR"):
        raise UsageError(f"--lang must be en or pt-BR, got '{lang}'")
    settings = PersonaSettings()
    if transactions is not None:
        table, _ = _rfm_table(None, transactions, customer_col, date_col, value_col, as_of, quantity_col)
        features = table[["recency_days", "frequency", "monetary"]].astype(float)
        features["monetary"] = features["monetary"].clip(lower=0)
        columns, logs = ["recency_days", "frequency", "monetary"], ["recency_days", "frequency", "monetary"]
    else:
        if as_of is None:
            raise UsageError("--as-of is required with a workspace (YYYY-MM-DD)")
        from sinergia.workspace import open_workspace

        ws = open_workspace(workspace)
        settings = ws.config.segments.personas
        features = account_features(ws, parse_day(as_of), settings)
        columns, logs = None, None
    lo = k_min if k_min is not None else settings.k_min
    hi = k_max if k_max is not None else settings.k_max
    result = cluster(features, columns=columns, log_columns=logs, k_range=(lo, max(lo, hi)),
                     seed=settings.seed if seed is None else seed)
    if out is not None:
        result.labels.join(features).reset_index().to_csv(out, index=False)
    pt = lang == "pt-BR"
    rows = []
    for p in result.profiles.to_dict("records"):
        row: dict[str, Any] = {"persona": int(p["persona"]), "size": int(p["size"]),
                               "share": round(float(p["share"]), 4),
                               "description": p["description_pt"] if pt else p["description"]}
        for c in result.features:
            row[c] = round(float(p[c]), 2) if math.isfinite(p[c]) else None
        rows.append(row)
    if fmt is Format.json:
        data = result.as_dict()
        data["personas"] = [{k: (v if not isinstance(v, (np.floating, np.integer)) else v.item())
                             for k, v in p.items()} for p in data["personas"]]
        print_json(data)
        return
    print_rows(rows, fmt, title=f"{result.k} personas (silhouette {result.silhouettes[result.k]:.3f})")
    if fmt is Format.table:
        tried = ", ".join(f"k={k}: {v:.3f}" for k, v in result.silhouettes.items())
        console.print(f"Silhouette by k: {tried}", highlight=False)
