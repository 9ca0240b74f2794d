"""Churn-on-a-table benchmark: Telco and bank churn, calibrated LightGBM vs a plain one-hot logistic regression.

Run:  .venv/bin/python benchmarks/models.py [--folds 5] [--score-rows 1000000]

For each dataset: 5-fold stratified CV (seed 0) ROC AUC, PR AUC and Brier of our model and of the logistic
baseline in the same run (``sinergia.models.tabular.evaluate``), the lift in the top decile, the time of one
full ``fit`` (inner calibration folds included), and the time to score ``--score-rows`` rows made by tiling the
Telco table: probability only, and probability with the three drivers (TreeSHAP + the text labels).
Prints a markdown table.
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
    args = parser.parse_args()

    print(f"Machine: {len(os.sched_getaffinity(0))} cores, {_cpu()}; {dt.date.today().isoformat()}\n")
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


if __name__ == "__main__":
    main()
