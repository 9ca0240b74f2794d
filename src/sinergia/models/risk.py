"""Churn risk and expansion propensity on the workspace: train, backtest, version and score.

A *target* is one of :data:`TARGETS` (``churn``: the account's MRR goes to zero; ``expansion``: its MRR goes up)
within a horizon of 30, 90 or 180 days after an as-of date. The rows are (paying account, as-of date) pairs with
the point-in-time features of :mod:`sinergia.models.features`; the model is the calibrated LightGBM of
:class:`sinergia.models.tabular.TabularChurnModel` (Platt scaling on out-of-fold scores, a one-hot logistic
baseline fitted beside it, exact TreeSHAP drivers).

* **As-of schedule** (:func:`as_of_schedule`): month ends from 90 days after the first dated row (the longest
  feature window) to the last month end whose label window ``[as_of, as_of + horizon]`` the data cover.
* **Backtest** (:func:`backtest`): the last ``test_dates`` as-of dates are the test set; the model is trained
  only on as-of dates at least ``horizon`` days before the first test date, so no training label looks past
  the first test date. Figures on the pooled test rows: ROC AUC, PR AUC (average precision), Brier score,
  log loss, a ten-bin calibration table and the lift in the top decile — for the calibrated LightGBM, the
  uncalibrated one, the logistic baseline and, side by side, the health score (``100 − score`` ranks churn,
  ``score`` ranks expansion) when :mod:`sinergia.scores.health` is available.
* **Versions** (:func:`train`, :func:`load_version`): ``<workspace>/models/<target>_<horizon>d/<version>/``
  holds ``model/`` (LightGBM text model + manifest, no pickle) and ``metadata.json`` (features, horizon,
  training as-of dates, metrics, created_at); ``latest`` names the newest version and is replaced atomically.
* **Scoring** (:func:`score`): probability, band and an explanation with the top drivers (readable names in
  en and pt-BR, value, contribution in calibrated log-odds) per account, ready for
  :func:`sinergia.scores.history.write_scores`.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from sinergia.errors import InputError, ModelError, UsageError
from sinergia.models.features import (
    FEATURE_NAMES,
    FEATURES,
    account_features,
    churn_labels,
    data_end,
    data_start,
    expansion_labels,
    feature_label,
)
from sinergia.models.tabular import TabularChurnModel, calibration_table
from sinergia.models.tabular import _metrics as probability_metrics

__all__ = [
    "HORIZONS",
    "TARGETS",
    "Backtest",
    "ModelVersion",
    "Target",
    "as_of_schedule",
    "backtest",
    "backtest_dates",
    "build_dataset",
    "health_predictor",
    "list_versions",
    "load_version",
    "score",
    "train",
]

HORIZONS = (30, 90, 180)
#: Days of history the longest feature window needs before the first as-of date.
WARM_UP_DAYS = 90
METADATA = "metadata.json"
MODEL_DIR = "model"
LATEST = "latest"
_ID = "row_id"
_LABEL = "label"


@dataclass(frozen=True)
class Target:
    """What a model predicts: ``name`` (folder and score prefix), its label function and column."""

    name: str
    label_column: str
    score_prefix: str
    description: str

    def labels(self, source: Any, dates: list[dt.date], horizon: int) -> pd.DataFrame:
        fn = churn_labels if self.name == "churn" else expansion_labels
        return fn(source, dates, horizon)

    def folder(self, horizon: int) -> str:
        return f"{self.name}_{horizon}d"

    def score_name(self, horizon: int) -> str:
        return f"{self.score_prefix}_{horizon}d"


TARGETS: dict[str, Target] = {
    "churn": Target("churn", "churned", "churn_risk", "the account's MRR goes to 0 within the horizon"),
    "expansion": Target("expansion", "expanded", "expansion_propensity",
                        "the account's MRR goes up (seats, upgrade, cross-sell) within the horizon"),
}


def _target(name: str) -> Target:
    if name not in TARGETS:
        raise UsageError(f"unknown target '{name}'; use one of {', '.join(TARGETS)}")
    return TARGETS[name]


def _check_horizon(horizon: int) -> int:
    if horizon not in HORIZONS:
        raise UsageError(f"horizon must be one of {', '.join(map(str, HORIZONS))} days, got {horizon}")
    return horizon


# --------------------------------------------------------------------------------------------------------------
# dates and the data set
# --------------------------------------------------------------------------------------------------------------
def _month_end(day: dt.date) -> dt.date:
    first_next = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return first_next - dt.timedelta(days=1)


def as_of_schedule(first: dt.date, last: dt.date) -> list[dt.date]:
    """Month ends from the first on or after ``first`` to the last on or before ``last`` (inclusive)."""
    dates: list[dt.date] = []
    day = _month_end(first)
    while day <= last:
        dates.append(day)
        day = _month_end(day + dt.timedelta(days=1))
    return dates


def _training_dates(source: Any, horizon: int, until: dt.date) -> list[dt.date]:
    """As-of dates whose label window ends by ``until`` (the last day the data are complete)."""
    start = data_start(source) + dt.timedelta(days=WARM_UP_DAYS)
    dates = as_of_schedule(start, until - dt.timedelta(days=horizon))
    if not dates:
        raise ModelError(
            f"not enough history: the first as-of date needs {WARM_UP_DAYS} days of data after {data_start(source)} "
            f"and its label window of {horizon} days must end by {until}"
        )
    return dates


def build_dataset(source: Any, target: str, dates: list[dt.date], horizon: int,
                  features: pd.DataFrame | None = None) -> pd.DataFrame:
    """Features and label (``label``) per (paying account, as-of date), plus ``row_id`` = ``account@as_of``.

    ``features`` reuses :func:`~sinergia.models.features.account_features` of (at least) these dates.
    """
    spec = _target(target)
    features = account_features(source, dates) if features is None else features[features["as_of"].isin(dates)]
    labels = spec.labels(source, dates, horizon)
    frame = features.merge(labels, on=["account_id", "as_of"], how="inner")
    frame = frame.rename(columns={spec.label_column: _LABEL})
    frame[_ID] = frame["account_id"].astype(str) + "@" + frame["as_of"].astype(str)
    return frame


def _model(seed: int) -> TabularChurnModel:
    return TabularChurnModel(_LABEL, _ID, seed=seed)


def _fit(frame: pd.DataFrame, seed: int) -> TabularChurnModel:
    positives = int(frame[_LABEL].sum())
    if positives < 5 or len(frame) - positives < 5:
        raise ModelError(
            f"cannot train: {positives} positive and {len(frame) - positives} negative rows in the training "
            "as-of dates; more history or a longer horizon is needed"
        )
    return _model(seed).fit(frame[[_ID, _LABEL, *FEATURE_NAMES]])


# --------------------------------------------------------------------------------------------------------------
# backtest
# --------------------------------------------------------------------------------------------------------------
@dataclass
class Backtest:
    """A time-based backtest: models' figures on the test as-of dates (see the module docstring)."""

    target: str
    horizon: int
    train_dates: list[dt.date]
    test_dates: list[dt.date]
    n_train: int
    n_test: int
    train_rate: float
    test_rate: float
    models: dict[str, dict[str, Any]]
    calibration: list[dict[str, float]]
    seconds: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target, "horizon_days": self.horizon,
            "train_as_of": [d.isoformat() for d in self.train_dates],
            "test_as_of": [d.isoformat() for d in self.test_dates],
            "n_train": self.n_train, "n_test": self.n_test,
            "train_positive_rate": self.train_rate, "test_positive_rate": self.test_rate,
            "models": self.models, "calibration": self.calibration,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }  # fmt: skip


def lift_top_decile(y: npt.NDArray[np.int64], risk: npt.NDArray[np.float64]) -> float:
    """Positive rate among the 10 % highest ``risk`` rows over the overall positive rate."""
    top = np.argsort(-risk, kind="stable")[: max(1, len(y) // 10)]
    rate = float(y.mean())
    return float(y[top].mean() / rate) if rate > 0 else float("nan")


def _ranking_metrics(y: npt.NDArray[np.int64], risk: npt.NDArray[np.float64]) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    return {"roc_auc": float(roc_auc_score(y, risk)), "pr_auc": float(average_precision_score(y, risk))}


def _health_predictor(workspace: Any, test: pd.DataFrame, dates: list[dt.date], target: str) -> dict[str, Any]:
    """The health score as a ranking on the same test rows, or why it is missing.

    Churn: lower health ranks higher (``100 − score``); expansion: higher health ranks higher (``score``).
    """
    if workspace is None or not hasattr(workspace, "path"):
        return {"status": "missing", "reason": "the health score needs a workspace (not a bare table source)"}
    try:
        score_accounts = importlib.import_module("sinergia.scores.health").score_accounts
    except (ImportError, AttributeError):
        return {"status": "missing", "reason": "sinergia.scores.health.score_accounts is not available"}
    parts = []
    for day in dates:
        frame = score_accounts(workspace, day)
        parts.append(pd.DataFrame({"account_id": frame["account_id"].astype(str), "as_of": day,
                                   "health": pd.to_numeric(frame["score"], errors="coerce")}))
    health = pd.concat(parts, ignore_index=True)
    rows = test[["account_id", "as_of", _LABEL]].merge(health, on=["account_id", "as_of"], how="left")
    scored = rows["health"].notna()
    if scored.sum() == 0 or rows.loc[scored, _LABEL].nunique() < 2:
        return {"status": "missing", "reason": "the health score gave no usable values on the test rows"}
    y = rows.loc[scored, _LABEL].to_numpy(dtype=np.int64)
    health = rows.loc[scored, "health"].to_numpy(dtype=np.float64)
    risk = 100.0 - health if target == "churn" else health
    shown = "100 - health score" if target == "churn" else "health score"
    return {"status": "ok", "scored_rows": int(scored.sum()), **_ranking_metrics(y, risk),
            "lift_top_decile": lift_top_decile(y, risk),
            "note": f"ranking by {shown}; not a probability, so no Brier score"}


def backtest_dates(source: Any, horizon: int, until: dt.date | None = None,
                   test_dates: int = 3) -> tuple[list[dt.date], list[dt.date]]:
    """(training as-of dates, test as-of dates) of :func:`backtest`."""
    _check_horizon(horizon)
    if test_dates < 1:
        raise UsageError("test_dates must be at least 1")
    end = until or data_end(source)
    dates = _training_dates(source, horizon, end)
    tests = dates[-test_dates:]
    trains = [d for d in dates if d + dt.timedelta(days=horizon) <= tests[0]]
    if not trains:
        raise ModelError(
            f"not enough history for a backtest: the test dates start {tests[0]} and the training dates must end "
            f"{horizon} days before it; the first possible as-of date is {dates[0]}"
        )
    return trains, tests


def health_predictor(workspace: Any, frame: pd.DataFrame, target: str = "churn") -> dict[str, Any]:
    """The health score's ranking figures on the rows of ``frame`` (from :func:`build_dataset`)."""
    dates = sorted(set(frame["as_of"]))
    return _health_predictor(workspace, frame, dates, _target(target).name)


def backtest(
    source: Any,
    target: str = "churn",
    horizon: int = 90,
    *,
    until: dt.date | None = None,
    test_dates: int = 3,
    seed: int = 0,
    workspace: Any = None,
    dataset: pd.DataFrame | None = None,
    health: bool = True,
) -> Backtest:
    """Train on earlier as-of dates, test on the last ``test_dates`` ones (gap ≥ ``horizon`` days).

    ``source`` is a workspace or a table source; ``until`` is the last day the data are complete (default: the
    latest dated row). ``workspace`` (default: ``source`` when it is one) enables the health-score column.
    ``dataset`` reuses a frame from :func:`build_dataset` over the same dates; ``health=False`` leaves the
    health-score column out (it scores every test date with the scorecards, which takes long on large workspaces).
    """
    _target(target)
    started = time.perf_counter()
    trains, tests = backtest_dates(source, horizon, until, test_dates)
    frame = dataset if dataset is not None else build_dataset(source, target, trains + tests, horizon)
    built = time.perf_counter()
    train_rows = frame[frame["as_of"].isin(trains)].reset_index(drop=True)
    test_rows = frame[frame["as_of"].isin(tests)].reset_index(drop=True)
    model = _fit(train_rows, seed)
    fitted = time.perf_counter()
    y = test_rows[_LABEL].to_numpy(dtype=np.int64)
    if len(y) == 0 or y.min() == y.max():
        raise ModelError(f"the test as-of dates {', '.join(map(str, tests))} have one class only; cannot evaluate")
    calibrated = model.predict_proba(test_rows)
    models: dict[str, dict[str, Any]] = {}
    candidates = (("lightgbm_calibrated", calibrated),
                  ("lightgbm_uncalibrated", model.predict_uncalibrated(test_rows)),
                  ("logistic", model.predict_baseline(test_rows)))
    for name, p in candidates:
        models[name] = {**probability_metrics(y, p), "lift_top_decile": lift_top_decile(y, p),
                        "mean_predicted": float(p.mean())}
    health_ws = workspace if workspace is not None else (source if hasattr(source, "path") else None)
    models["health_score"] = (_health_predictor(health_ws, test_rows, tests, target) if health
                              else {"status": "missing", "reason": "not asked for (health=False)"})
    done = time.perf_counter()
    return Backtest(
        target, horizon, trains, tests, len(train_rows), len(test_rows), float(train_rows[_LABEL].mean()),
        float(y.mean()), models, calibration_table(y, calibrated),
        {"features_and_labels": built - started, "fit": fitted - built, "evaluate": done - fitted,
         "total": done - started},
    )


# --------------------------------------------------------------------------------------------------------------
# versions
# --------------------------------------------------------------------------------------------------------------
@dataclass
class ModelVersion:
    """A trained model as stored in the workspace: the model, its metadata and where it lives."""

    model: TabularChurnModel
    metadata: dict[str, Any]
    path: Path

    @property
    def version(self) -> str:
        return str(self.metadata["version"])


def _models_root(workspace: Any) -> Path:
    return Path(workspace.path) / "models"


def _new_version(folder: Path) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    version, n = stamp, 1
    while (folder / version).exists():
        n += 1
        version = f"{stamp}-{n}"
    return version


def _write_latest(folder: Path, version: str) -> None:
    tmp = folder / f".{LATEST}.{os.getpid()}.tmp"
    tmp.write_text(version + "\n", encoding="utf-8")
    tmp.replace(folder / LATEST)


def train(
    workspace: Any,
    target: str = "churn",
    horizon: int = 90,
    *,
    as_of: dt.date,
    seed: int = 0,
    evaluate: bool = True,
    test_dates: int = 3,
) -> ModelVersion:
    """Train on every as-of date whose label window ends by ``as_of`` and store a new version.

    With ``evaluate`` the metadata also carry a backtest over the same data (:func:`backtest` with
    ``until=as_of``), so each version says how well its recipe did on held-out later dates.
    """
    spec = _target(target)
    _check_horizon(horizon)
    started = time.perf_counter()
    dates = _training_dates(workspace, horizon, as_of)
    frame = build_dataset(workspace, target, dates, horizon)
    model = _fit(frame, seed)
    metrics: dict[str, Any] | None = None
    if evaluate:
        try:
            result = backtest(workspace, target, horizon, until=as_of, test_dates=test_dates, seed=seed,
                              dataset=frame)
            metrics = result.as_dict()
        except ModelError as error:
            metrics = {"status": "not evaluated", "reason": str(error)}
    import lightgbm

    folder = _models_root(workspace) / spec.folder(horizon)
    folder.mkdir(parents=True, exist_ok=True)
    version = _new_version(folder)
    metadata = {
        "kind": "sinergia.workspace_risk", "format_version": 1, "version": version, "target": target,
        "score": spec.score_name(horizon), "definition": spec.description, "horizon_days": horizon,
        "as_of": as_of.isoformat(), "training_as_of": [d.isoformat() for d in dates],
        "n_rows": len(frame), "positive_rate": float(frame[_LABEL].mean()), "seed": seed,
        "features": [{"name": f.name, "en": f.en, "pt": f.pt, "kind": f.kind, "definition": f.definition}
                     for f in FEATURES],
        "calibration": {"a": model.calibration_[0], "b": model.calibration_[1]},
        "metrics": metrics, "fit_seconds": round(time.perf_counter() - started, 3),
        "lightgbm": lightgbm.__version__,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=folder))
    try:
        model.save(tmp / MODEL_DIR)
        (tmp / METADATA).write_text(json.dumps(_finite(metadata), indent=2, ensure_ascii=False) + "\n",
                                    encoding="utf-8")
        tmp.chmod(0o755)
        tmp.rename(folder / version)
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"{folder}: cannot write the model version ({error.strerror})") from None
    _write_latest(folder, version)
    return ModelVersion(model, metadata, folder / version)


def list_versions(workspace: Any, target: str = "churn", horizon: int = 90) -> list[str]:
    """Stored versions, oldest first."""
    folder = _models_root(workspace) / _target(target).folder(horizon)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and (p / METADATA).is_file())


def load_version(workspace: Any, target: str = "churn", horizon: int = 90, version: str | None = None) -> ModelVersion:
    """A stored version (default: the one ``latest`` names)."""
    spec = _target(target)
    folder = _models_root(workspace) / spec.folder(horizon)
    if version is None:
        pointer = folder / LATEST
        if not pointer.is_file():
            raise UsageError(
                f"no {spec.folder(horizon)} model in {workspace.path}; run 'sinergia {target} train' first"
            )
        version = pointer.read_text(encoding="utf-8").strip()
    path = folder / version
    if not (path / METADATA).is_file():
        known = ", ".join(list_versions(workspace, target, horizon)) or "none"
        raise UsageError(f"model version '{version}' not found in {folder} (versions: {known})")
    try:
        metadata = json.loads((path / METADATA).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"{path / METADATA}: unreadable model metadata ({error})") from None
    return ModelVersion(TabularChurnModel.load(path / MODEL_DIR), metadata, path)


# --------------------------------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------------------------------
def _band(p: npt.NDArray[np.float64], base_rate: float) -> list[str]:
    """``high`` at twice the training base rate or more, ``medium`` from the base rate, else ``low``."""
    return ["high" if v >= 2 * base_rate else "medium" if v >= base_rate else "low" for v in p.tolist()]


def _shown(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return round(float(value), 4)
    return str(value)


def score(
    workspace: Any,
    target: str = "churn",
    horizon: int = 90,
    *,
    as_of: dt.date,
    version: str | None = None,
    drivers: int = 3,
) -> tuple[pd.DataFrame, ModelVersion]:
    """Score every account paying at ``as_of`` with a stored model version.

    Returns a frame ``account_id``, ``as_of``, ``value`` (calibrated probability), ``band`` and ``explanation``
    (a dict: ``drivers`` — feature, ``label_en``, ``label_pt``, ``value``, ``contribution`` in calibrated log-odds,
    positive raises the probability — plus ``base_log_odds``, ``horizon_days``, ``model_version``), and the
    version used. ``base_log_odds`` plus every feature's contribution equals ``logit(value)``.
    """
    stored = load_version(workspace, target, horizon, version)
    model = stored.model
    frame = account_features(workspace, [as_of])
    if frame.empty:
        return pd.DataFrame(columns=["account_id", "as_of", "value", "band", "explanation"]), stored
    frame[_ID] = frame["account_id"].astype(str)
    contrib = model.contributions(frame)
    a, b = model.calibration_
    logit = a * contrib.sum(axis=1) + b
    probability = 1.0 / (1.0 + np.exp(-logit))
    phi = a * contrib[:, :-1]
    base = a * contrib[:, -1] + b
    features = model.features_
    order = np.argsort(-np.abs(phi), axis=1, kind="stable")[:, : max(0, min(drivers, len(features)))]
    values = frame[features]
    explanations = []
    for i in range(len(frame)):
        top = [
            {"feature": features[j], "label_en": feature_label(features[j], "en"),
             "label_pt": feature_label(features[j], "pt-BR"), "value": _shown(values.iat[i, j]),
             "contribution": round(float(phi[i, j]), 4)}
            for j in order[i].tolist()
        ]  # fmt: skip
        explanations.append({"drivers": top, "base_log_odds": round(float(base[i]), 4), "horizon_days": horizon,
                             "model_version": stored.version, "target": target})
    out = pd.DataFrame({
        "account_id": frame["account_id"], "as_of": frame["as_of"], "value": probability,
        "band": _band(probability, float(stored.metadata["positive_rate"])), "explanation": explanations,
    })  # fmt: skip
    return out.sort_values("value", ascending=False, kind="stable").reset_index(drop=True), stored


def score_and_store(workspace: Any, target: str = "churn", horizon: int = 90, *, as_of: dt.date,
                    version: str | None = None) -> tuple[pd.DataFrame, ModelVersion, int]:
    """:func:`score`, then write the rows to the score history as ``<target score>_<horizon>d``."""
    from sinergia.scores.history import write_scores

    frame, stored = score(workspace, target, horizon, as_of=as_of, version=version)
    written = 0
    if not frame.empty:
        written = write_scores(workspace, frame, score=_target(target).score_name(horizon),
                               model_version=f"{_target(target).folder(horizon)}/{stored.version}")
    return frame, stored, written


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
