"""Churn-on-a-table benchmark: Telco and bank churn, calibrated LightGBM vs a plain one-hot logistic regression.

Run:  .venv/bin/python benchmarks/models.py [--folds 5] [--score-rows 1000000] [--part all|tabular|risk]
      [--risk-accounts 100000] [--risk-dir DIR] [--usage-scale 0.1]

For each dataset: 5-fold stratified CV (seed 0) ROC AUC, PR AUC and Brier of our model and of the logistic
baseline in the same run (``sinergia.models.tabular.evaluate``), the lift in the top decile, the time of one
full ``fit`` (inner calibration folds included), and the time to score ``--score-rows`` rows made by tiling the
Telco table: probability only, and probability with the three drivers (TreeSHAP + the text labels).
Prints a markdown table.

Churn-risk part (``--part risk``): a demo workspace of ``--risk-accounts`` accounts (``sinergia.demo.generate``,
seed 11, usage events thinned by ``--usage-scale``; generated into ``--risk-dir`` unless a workspace is already
there), then the time-based backtest of ``sinergia.models.risk`` for churn and expansion within 90 days (train on
month ends at least 90 days before the last three month ends whose labels are complete, test on those): ROC AUC,
PR AUC, Brier, lift in the top decile for the calibrated LightGBM, the logistic baseline and the health score,
with the time of each step and the peak memory. The features of all month ends are computed once and shared by
the two targets.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
from pathlib import Path

import pandas as pd

from sinergia.models.tabular import TabularChurnModel, evaluate, read_table

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DATASETS = {
    "Telco (5,282 rows)": ("telco_churn/WA_Fn-UseC_-Telco-Customer-Churn.train.csv", "Churn", "customerID", ()),
    "Bank (7,500 rows)": ("bank_churn/Churn_Modelling.train.csv", "Exited", "CustomerId", ("RowNumber", "Surname")),
}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--score-rows", type=int, default=1_000_000)
    parser.add_argument("--part", choices=("all", "tabular", "risk"), default="all")
    parser.add_argument("--risk-accounts", type=int, default=100_000)
    parser.add_argument("--risk-dir", type=Path, default=None, help="Demo workspace folder (made if missing).")
    parser.add_argument("--usage-scale", type=float, default=0.1)
    parser.add_argument("--no-health", action="store_true", help="Leave out the health-score column (slow).")
    args = parser.parse_args()

    print(f"Machine: {len(os.sched_getaffinity(0))} cores, {_cpu()}; {dt.date.today().isoformat()}\n")
    if args.part in ("all", "tabular"):
        _tabular(args)
    if args.part in ("all", "risk"):
        _risk(args)


def _tabular(args: argparse.Namespace) -> None:
    print("| data | model | ROC AUC (± sd) | PR AUC | Brier | log loss | lift top 10 % | fit (s) |")
    print("|---|---|---|---|---|---|---|---|")
    telco_model = None
    telco = None
    for label, (path, target, id_col, drop) in DATASETS.items():
        frame = read_table(SHARED / path)
        result = evaluate(frame, target, id_col, drop, folds=args.folds, seed=0)
        started = time.perf_counter()
        model = TabularChurnModel(target, id_col, drop).fit(frame)
        fit_s = time.perf_counter() - started
        for name, shown in (("lightgbm_calibrated", "LightGBM + Platt (ours)"),
                            ("lightgbm_uncalibrated", "LightGBM, uncalibrated"),
                            ("logistic", "one-hot logistic")):
            m = result.models[name]
            lift = f"{result.lift_top_decile:.2f}" if name == "lightgbm_calibrated" else ""
            fit = f"{fit_s:.2f}" if name == "lightgbm_calibrated" else ""
            print(f"| {label} | {shown} | {m['roc_auc']:.4f} ± {m['roc_auc_sd']:.4f} | {m['pr_auc']:.4f} | "
                  f"{m['brier']:.4f} | {m['log_loss']:.4f} | {lift} | {fit} |")
        if telco_model is None:
            telco_model, telco = model, frame

    assert telco_model is not None and telco is not None
    reps = -(-args.score_rows // len(telco))
    big = pd.concat([telco] * reps, ignore_index=True).head(args.score_rows)
    started = time.perf_counter()
    telco_model.predict(big, drivers=0)
    proba_s = time.perf_counter() - started
    started = time.perf_counter()
    telco_model.predict(big)
    drivers_s = time.perf_counter() - started
    print(f"\nScoring {len(big):,} Telco rows (text columns parsed, as read from CSV): "
          f"probability {proba_s:.1f} s; probability + 3 drivers {drivers_s:.1f} s")


def _risk(args: argparse.Namespace) -> None:
    import resource
    import tempfile

    from sinergia.models.features import account_features
    from sinergia.models.risk import backtest, backtest_dates, build_dataset, health_predictor
    from sinergia.workspace import init_workspace, open_workspace

    root = args.risk_dir or Path(tempfile.mkdtemp(prefix="sinergia-risk-bench-"))
    if (root / "ws" / "sinergia.yaml").exists():
        ws = open_workspace(root / "ws")
        print(f"\nChurn risk backtest on the existing demo workspace {root / 'ws'}")
    else:
        from sinergia.demo import generate
        from sinergia.ingest import ingest_files

        ws = init_workspace(root / "ws")
        started = time.perf_counter()
        files = generate(root / "data", accounts=args.risk_accounts, seed=11, usage_scale=args.usage_scale)
        generated = time.perf_counter()
        ingest_files(ws, list(files.values()), preset="sinergia")
        print(f"\nDemo workspace: {args.risk_accounts:,} accounts (usage scale {args.usage_scale}) generated in "
              f"{generated - started:.0f} s, ingested in {time.perf_counter() - generated:.0f} s")
    con = ws.duckdb_reader()
    try:
        counts = {t: con.execute(f"select count(*) from {t}").fetchone()[0]
                  for t in ("accounts", "usage_events", "tickets", "subscription_changes")}
    finally:
        con.close()
    print("Rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()) + "\n", flush=True)
    trains, tests = backtest_dates(ws, 90, test_dates=3)
    started = time.perf_counter()
    features = account_features(ws, trains + tests)
    features_s = time.perf_counter() - started
    print(f"Features of {len(features):,} (account, month end) rows, {len(trains) + len(tests)} month ends "
          f"({trains[0]} … {tests[-1]}): {features_s:.1f} s", flush=True)
    rows = []
    for target in ("churn", "expansion"):
        started = time.perf_counter()
        dataset = build_dataset(ws, target, trains + tests, 90, features=features)
        labels_s = time.perf_counter() - started
        result = backtest(ws, target, 90, dataset=dataset, health=False).as_dict()
        sec = result["seconds"]
        print(f"{target}: labels {labels_s:.1f} s; train {result['n_train']:,} rows ({len(result['train_as_of'])} "
              f"month ends, rate {result['train_positive_rate']:.3f}), test {result['n_test']:,} rows "
              f"({', '.join(result['test_as_of'])}, rate {result['test_positive_rate']:.3f}); fit {sec['fit']:.1f} s "
              f"(5 calibration folds + final model + logistic), evaluate {sec['evaluate']:.1f} s", flush=True)
        if not args.no_health:
            started = time.perf_counter()
            test_rows = dataset[dataset["as_of"].isin(tests)].reset_index(drop=True)
            result["models"]["health_score"] = health_predictor(ws, test_rows, target)
            print(f"{target}: health score on the {len(tests)} test month ends {time.perf_counter() - started:.1f} s",
                  flush=True)
        rows.append((target, result))
    print("\n| target (90 d) | model | ROC AUC | PR AUC | Brier | lift top 10 % |")
    print("|---|---|---|---|---|---|")
    for target, result in rows:
        for name, shown in (("lightgbm_calibrated", "LightGBM + Platt (ours)"), ("logistic", "one-hot logistic"),
                            ("health_score", "health score (as a ranking)")):
            m = result["models"][name]
            if m.get("status") == "missing":
                print(f"| {target} | {shown} | missing: {m['reason']} | | | |")
                continue
            brier = f"{m['brier']:.4f}" if "brier" in m else "n/a"
            print(f"| {target} | {shown} | {m['roc_auc']:.4f} | {m['pr_auc']:.4f} | {brier} | "
                  f"{m['lift_top_decile']:.2f} |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nPeak RSS of the process: {peak:,.0f} MB; CPU time {time.process_time():.0f} s")


if __name__ == "__main__":
    main()
