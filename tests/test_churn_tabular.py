"""Churn on a user table (``sinergia.models.tabular`` and ``sinergia churn``).

Benchmarks (shared data): Telco 5-fold AUC of the calibrated LightGBM >= the logistic baseline and >= 0.83;
bank churn AUC >= 0.84 and above logistic; calibration does not worsen the Brier score. Then the exactness of
the SHAP drivers, persistence, the id never being a feature, and the CLI (files written, one-line errors).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import require_shared_data
from sinergia.errors import InputError, UsageError
from sinergia.models.tabular import TabularChurnModel, evaluate, read_table

SINERGIA = Path(sys.executable).with_name("sinergia")
TELCO = ("telco_churn/WA_Fn-UseC_-Telco-Customer-Churn.train.csv", "Churn", "customerID", ())
BANK = ("bank_churn/Churn_Modelling.train.csv", "Exited", "CustomerId", ("RowNumber", "Surname"))


def _load(spec: tuple[str, str, str, tuple[str, ...]]) -> pd.DataFrame:
    return read_table(require_shared_data() / spec[0])


@pytest.fixture(scope="module")
def telco() -> pd.DataFrame:
    return _load(TELCO)


@pytest.fixture(scope="module")
def telco_eval(telco: pd.DataFrame):  # type: ignore[no-untyped-def]
    return evaluate(telco, TELCO[1], TELCO[2], TELCO[3], folds=5, seed=0)


@pytest.fixture(scope="module")
def bank_eval():  # type: ignore[no-untyped-def]
    return evaluate(_load(BANK), BANK[1], BANK[2], BANK[3], folds=5, seed=0)


@pytest.fixture(scope="module")
def telco_model(telco: pd.DataFrame) -> TabularChurnModel:
    return TabularChurnModel("Churn", "customerID").fit(telco)


@pytest.mark.shared_data
def test_telco_auc_beats_logistic(telco_eval) -> None:  # type: ignore[no-untyped-def]
    ours, logistic = telco_eval.auc("lightgbm_calibrated"), telco_eval.auc("logistic")
    assert ours >= 0.83
    assert ours >= logistic
    assert 0.83 <= logistic <= 0.86  # SOURCE.md measured 0.844 with the same recipe
    assert telco_eval.lift_top_decile > 2.5
    assert len(telco_eval.calibration) == 10


@pytest.mark.shared_data
def test_bank_auc_beats_logistic(bank_eval) -> None:  # type: ignore[no-untyped-def]
    ours, logistic = bank_eval.auc("lightgbm_calibrated"), bank_eval.auc("logistic")
    assert ours >= 0.84
    assert ours > logistic
    assert abs(logistic - 0.760) < 0.01  # SOURCE.md measured 0.760


@pytest.mark.shared_data
def test_calibration_does_not_worsen_brier(telco_eval, bank_eval) -> None:  # type: ignore[no-untyped-def]
    for result in (telco_eval, bank_eval):
        assert result.models["lightgbm_calibrated"]["brier"] <= result.models["lightgbm_uncalibrated"]["brier"]
        for row in result.calibration:  # 10 equal-count bins: predicted close to observed
            assert abs(row["mean_predicted"] - row["observed"]) < 0.06


@pytest.mark.shared_data
def test_types_predictions_and_round_trip(telco: pd.DataFrame, telco_model: TabularChurnModel,
                                          tmp_path: Path) -> None:
    model = telco_model
    assert model.kinds_["TotalCharges"] == "numeric"  # text with 8 blanks in the train split
    assert model.kinds_["Contract"] == "categorical"
    assert "customerID" not in model.features_ and "Churn" not in model.features_
    assert model.target_labels_ == ["No", "Yes"]
    pred = model.predict(telco)
    assert list(pred.columns) == ["customerID", "churn_probability", "driver_1", "driver_2", "driver_3"]
    assert pred["churn_probability"].between(0, 1).all()
    assert pred["customerID"].tolist() == telco["customerID"].tolist()
    assert pred["driver_1"].str.fullmatch(r".+ = .+ \([+-]\d+\.\d\d\)").all()

    loaded = TabularChurnModel.load(model.save(tmp_path / "m"))
    again = loaded.predict(telco)
    assert np.array_equal(again["churn_probability"].to_numpy(), pred["churn_probability"].to_numpy())
    assert again[["driver_1", "driver_2", "driver_3"]].equals(pred[["driver_1", "driver_2", "driver_3"]])
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["target_labels"] == {"negative": "No", "positive": "Yes"}
    assert {"lightgbm", "scikit-learn"} <= set(manifest["versions"])

    # missing feature columns: named; extra columns: ignored; unseen categories: handled
    with pytest.raises(InputError, match="lacks feature columns the model was fitted with: tenure, Contract"):
        loaded.predict(telco.drop(columns=["Contract", "tenure"]))
    odd = telco.head(50).assign(extra="x", Contract="Three year", Churn=None)
    scored = loaded.predict(odd)
    assert scored["churn_probability"].between(0, 1).all()
    assert not scored["driver_1"].str.contains("extra").any()

    # a second save replaces the folder atomically (no temp folders left behind)
    model.save(tmp_path / "m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


@pytest.mark.shared_data
def test_drivers_are_exact_shap(telco: pd.DataFrame, telco_model: TabularChurnModel) -> None:
    rows = telco.head(200)
    contrib = telco_model.contributions(rows)
    raw = telco_model.raw_score(rows)
    assert contrib.shape == (200, len(telco_model.features_) + 1)  # features, then the bias
    np.testing.assert_allclose(contrib.sum(axis=1), raw, rtol=0, atol=1e-9)
    a, b = telco_model.calibration_
    p = telco_model.predict(rows)["churn_probability"].to_numpy()
    np.testing.assert_allclose(np.log(p / (1 - p)), a * raw + b, atol=1e-9)
    # driver_1 is the largest |a * SHAP| of the row, with its value and sign
    j = int(np.argmax(np.abs(contrib[0, :-1])))
    name = telco_model.features_[j]
    assert telco_model.predict(rows.head(1))["driver_1"].iloc[0].startswith(f"{name} = ")
    assert f"({a * contrib[0, j]:+.2f})" in telco_model.predict(rows.head(1))["driver_1"].iloc[0]


@pytest.mark.shared_data
def test_id_is_never_a_feature(telco: pd.DataFrame) -> None:
    sample = telco.sample(1500, random_state=3).reset_index(drop=True)
    order = np.argsort(sample["Churn"].to_numpy(), kind="stable")
    leaky = sample.copy()
    leaky.loc[order, "customerID"] = [str(i) for i in range(len(sample))]  # numeric ids sorted by the label
    shuffled = sample.copy()
    shuffled["customerID"] = [str(i) for i in np.random.default_rng(0).permutation(len(sample))]
    with_leak = TabularChurnModel("Churn", "customerID").fit(leaky)
    without = TabularChurnModel("Churn", "customerID").fit(shuffled)
    assert "customerID" not in with_leak.features_
    np.testing.assert_array_equal(with_leak.predict_proba(sample), without.predict_proba(sample))
    result = evaluate(leaky, "Churn", "customerID", folds=3)
    assert result.auc("lightgbm_calibrated") < 0.9  # a perfectly predictive id would give 1.0


def _small_frame(n: int = 80, seed: int = 1) -> pd.DataFrame:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        plan, active = rng.choice(["basic", "pro", "max"]), rng.choice(["Yes", "No"])
        churn = rng.random() < 0.1 + 0.5 * (plan == "basic") + 0.2 * (active == "No")
        rows.append({"id": f"C{i:04d}", "plan": plan, "spend": "" if i % 13 == 0 else str(rng.randint(10, 200)),
                     "active": active, "Churn": "Yes" if churn else "No"})
    return pd.DataFrame(rows)


def test_target_spellings_and_errors() -> None:
    frame = _small_frame()
    for pos, neg in (("True", "False"), ("1", "0"), ("Y", "N")):
        relabelled = frame.assign(Churn=frame["Churn"].map({"Yes": pos, "No": neg}))
        model = TabularChurnModel("Churn", "id", seed=0).fit(relabelled)
        assert model.target_labels_ == [neg, pos]
        assert model.kinds_ == {"plan": "categorical", "spend": "numeric", "active": "categorical"}
    with pytest.raises(InputError, match=r"not binary: found 3 values \('basic', 'max', 'pro'\)"):
        TabularChurnModel("plan", "id").fit(frame)
    with pytest.raises(InputError, match="one class only"):
        TabularChurnModel("Churn", "id").fit(frame.assign(Churn="No"))
    with pytest.raises(UsageError, match="id column 'nope'"):
        TabularChurnModel("Churn", "nope").fit(frame)
    with pytest.raises(UsageError, match="--drop names columns that are not in the data: zz"):
        TabularChurnModel("Churn", "id", drop=["zz"]).fit(frame)
    dropped = TabularChurnModel("Churn", "id", drop=["active"]).fit(frame)
    assert dropped.features_ == ["plan", "spend"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SINERGIA), *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
def test_cli_fit_predict_and_errors(tmp_path: Path) -> None:
    frame = _small_frame()
    data = tmp_path / "customers.csv"
    frame.to_csv(data, sep=";", index=False, encoding="latin-1")
    model_dir, pred = tmp_path / "model", tmp_path / "pred.csv"

    done = _run("churn", "fit", "--data", str(data), "--target", "Churn", "--id", "id", "--out", str(model_dir),
                "--format", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result["models"]) == {"lightgbm_calibrated", "lightgbm_uncalibrated", "logistic"}
    assert {"roc_auc", "pr_auc", "brier", "log_loss"} <= set(result["models"]["logistic"])
    assert result["features"] == ["plan", "spend", "active"]
    assert (model_dir / "manifest.json").is_file() and (model_dir / "lightgbm.txt").is_file()

    done = _run("churn", "predict", "--model", str(model_dir), "--data", str(data), "--out", str(pred))
    assert done.returncode == 0, done.stderr
    scores = pd.read_csv(pred, dtype={"id": str})
    assert list(scores.columns) == ["id", "churn_probability", "driver_1", "driver_2", "driver_3"]
    assert scores["id"].tolist() == frame["id"].tolist()
    assert scores["churn_probability"].between(0, 1).all()

    bad = tmp_path / "bad.csv"
    frame.assign(Churn="No").to_csv(bad, index=False)
    cases = [
        (["--data", str(bad), "--target", "Churn", "--id", "id"], "one class"),
        (["--data", str(data), "--target", "Churn", "--id", "customer"], "id column 'customer'"),
        (["--data", str(data), "--target", "Churn", "--id", "id", "--drop", "zz"], "--drop"),
        (["--data", str(data), "--target", "plan", "--id", "id"], "not binary"),
    ]
    for args, message in cases:
        done = _run("churn", "fit", *args, "--out", str(tmp_path / "never"))
        assert done.returncode != 0
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "never").exists()
    done = _run("churn", "predict", "--model", str(model_dir), "--data", str(bad.with_name("none.csv")),
                "--out", str(pred))
    assert done.returncode != 0 and "no such file" in done.stderr and "Traceback" not in done.stderr
