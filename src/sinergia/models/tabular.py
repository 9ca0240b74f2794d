r"""Churn on a table the user already has: one row per customer, a binary target column.

:class:`TabularChurnModel` infers the column types, fits a LightGBM gradient-boosting model with Platt
(sigmoid) calibration and a logistic-regression baseline, scores new rows with a calibrated probability and
the three strongest drivers per row (exact tree SHAP values), and saves itself as a folder of plain files.
:func:`evaluate` cross-validates both models (stratified K-fold). See ``docs/churn.md``.

Design choices
--------------
* **Types.** Numbers stay numbers; text that parses as numbers once blanks are removed (Telco's
  ``TotalCharges``, eleven ``" "`` values) becomes numeric with NaN; booleans become 0/1; any other text is a
  category. The target may be Yes/No, True/False, Y/N, T/F or 1/0 (any case); the id column and the
  ``drop`` columns are never features. Nothing else is dropped automatically: leaky columns (a score made
  from the label, a churn reason) are the user's call (``--drop``).
* **Calibration.** Out-of-fold raw scores (log-odds) of LightGBM from a stratified K-fold inside ``fit`` are
  mapped to probabilities by a logistic fit ``p = sigmoid(a * score + b)`` (Platt scaling); the model used to
  score is then refit on all rows. Because the map is affine in log-odds, ``a * SHAP`` is an exact additive
  decomposition of the *calibrated* log-odds: the drivers add up to ``logit(churn_probability)`` with the
  base value ``a * bias + b``. Isotonic calibration would break that (and overfits on small tables).
* **Drivers** are LightGBM ``pred_contrib=True`` values (TreeSHAP, exact for trees) scaled by ``a``: units
  are log-odds of churn, calibrated. The three with the largest absolute value are reported, sign included.
* **Persistence.** LightGBM's own text model plus a JSON manifest (features, types, categories, target
  labels, calibration, versions); no pickle, so loading a model folder runs no code. Written to a temporary
  folder then renamed. The logistic baseline is a comparison, refitted by :func:`evaluate`; it is not saved.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from sinergia._folders import replace_folder
from sinergia.errors import InputError, UsageError

FloatArray = npt.NDArray[np.float64]

__all__ = [
    "LGBM_PARAMS",
    "Evaluation",
    "TabularChurnModel",
    "evaluate",
    "read_table",
]

#: Fixed LightGBM settings for small tabular data (thousands of rows): shallow trees, a slow learning rate,
#: L2 shrinkage and row/column subsampling. Deterministic for a given seed (``deterministic``, one thread
#: order via ``force_col_wise``).
LGBM_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.03,
    "num_leaves": 8,
    "max_depth": 4,
    "min_data_in_leaf": 40,
    "lambda_l2": 5.0,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "cat_smooth": 20.0,
    "min_data_per_group": 50,
    "max_cat_to_onehot": 8,
    "verbosity": -1,
    "deterministic": True,
    "force_col_wise": True,
}
#: Boosting rounds (fixed: no early stopping, so the fit does not depend on a validation split).
LGBM_ROUNDS = 300

MANIFEST = "manifest.json"
BOOSTER_FILE = "lightgbm.txt"
FORMAT_VERSION = 1

_POSITIVE = {"1", "1.0", "yes", "y", "true", "t"}
_NEGATIVE = {"0", "0.0", "no", "n", "false", "f"}
_NA_TEXT = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]


# --------------------------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------------------------
def read_table(path: Path | str) -> pd.DataFrame:
    """Read a CSV (``,`` or ``;`` detected from the first lines; UTF-8, else latin-1) with every column as text.

    Types are inferred later by :class:`TabularChurnModel`, so ids keep their leading zeros. Blank fields and
    ``NA``/``null`` become missing.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file}: no such file")
    encoding = "utf-8-sig"
    try:
        head = file.read_bytes()[:65536].decode(encoding)
    except UnicodeDecodeError:
        encoding = "latin-1"
        head = file.read_bytes()[:65536].decode(encoding)
    lines = [line for line in head.splitlines()[:20] if line.strip()]
    if not lines:
        raise InputError(f"{file}: the file is empty")
    sep = ";" if lines[0].count(";") > lines[0].count(",") else ","
    try:
        frame = pd.read_csv(file, sep=sep, dtype=str, encoding=encoding, keep_default_na=False, na_values=_NA_TEXT)
    except UnicodeDecodeError:
        frame = pd.read_csv(file, sep=sep, dtype=str, encoding="latin-1", keep_default_na=False, na_values=_NA_TEXT)
    except Exception as error:  # pandas' ParserError, EmptyDataError, ...
        raise InputError(f"{file}: cannot read as delimited text ({type(error).__name__}: {error})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise InputError(f"{file}: no data rows")
    return frame


# --------------------------------------------------------------------------------------------------------------
# type inference and the feature matrix
# --------------------------------------------------------------------------------------------------------------
def _as_text(column: pd.Series) -> pd.Series:
    """Stripped text with blanks as missing (for object/string columns)."""
    text = column.astype("string").str.strip()
    return text.mask(text == "")


def _infer_kind(column: pd.Series) -> str:
    """``numeric`` (numbers, booleans, numbers stored as text) or ``categorical``."""
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return "numeric"
    text = _as_text(column)
    present = text.dropna()
    if present.empty:
        return "numeric"
    parsed = pd.to_numeric(present, errors="coerce")
    return "numeric" if parsed.notna().all() else "categorical"


def _numeric(column: pd.Series) -> FloatArray:
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return np.asarray(column.astype("float64"), dtype=np.float64)
    values = pd.to_numeric(_as_text(column), errors="coerce")
    return np.asarray(values.astype("float64"), dtype=np.float64)


def _category_text(column: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return column.astype("string").mask(column.isna())
    return _as_text(column)


def _target(column: pd.Series, name: str) -> tuple[npt.NDArray[np.int64], list[str]]:
    """0/1 labels and the original spelling of ``[negative, positive]``."""
    text = _category_text(column)
    if text.isna().any():
        raise InputError(f"target column '{name}' is blank in {int(text.isna().sum()):,} rows; fill or remove them")
    values = sorted(text.unique().tolist())
    lowered = {v: v.lower() for v in values}
    shown = ", ".join(repr(v) for v in values[:10]) + (" ..." if len(values) > 10 else "")
    if len(values) > 2 or not all(v in _POSITIVE | _NEGATIVE for v in lowered.values()):
        raise InputError(
            f"target column '{name}' is not binary: found {len(values)} values ({shown}); "
            "expected two of Yes/No, True/False, Y/N, T/F, 1/0"
        )
    if len(values) < 2:
        raise InputError(f"target column '{name}' has one class only ({shown}); churn needs both churned and kept rows")
    positive = [v for v in values if lowered[v] in _POSITIVE]
    negative = [v for v in values if lowered[v] in _NEGATIVE]
    if len(positive) != 1 or len(negative) != 1:
        raise InputError(f"target column '{name}' is not binary: found {shown}; expected one positive, one negative")
    labels = (text == positive[0]).to_numpy(dtype=np.int64)
    return labels, [negative[0], positive[0]]


@dataclass
class _Schema:
    """What the model needs to turn any table into its feature matrix."""

    features: list[str]
    kinds: dict[str, str]
    categories: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def infer(cls, frame: pd.DataFrame, exclude: Iterable[str]) -> _Schema:
        skip = set(exclude)
        features = [c for c in frame.columns if c not in skip]
        kinds = {c: _infer_kind(frame[c]) for c in features}
        categories = {
            c: sorted(_category_text(frame[c]).dropna().unique().tolist())
            for c in features
            if kinds[c] == "categorical"
        }
        return cls(features, kinds, categories)

    def check(self, frame: pd.DataFrame) -> None:
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise InputError(f"the data lacks feature columns the model was fitted with: {', '.join(missing)}")

    def matrix(self, frame: pd.DataFrame) -> FloatArray:
        """Float matrix for LightGBM: numbers as they are, categories as codes (unseen or blank → NaN)."""
        self.check(frame)
        out = np.empty((len(frame), len(self.features)), dtype=np.float64)
        for j, name in enumerate(self.features):
            if self.kinds[name] == "numeric":
                out[:, j] = _numeric(frame[name])
            else:
                codes = pd.Categorical(_category_text(frame[name]), categories=self.categories[name]).codes
                out[:, j] = np.where(codes < 0, np.nan, codes)
        return out

    def readable(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Numbers as float, categories as text with ``(missing)``: input of the logistic baseline."""
        self.check(frame)
        data: dict[str, Any] = {}
        for name in self.features:
            if self.kinds[name] == "numeric":
                data[name] = _numeric(frame[name])
            else:
                text = _category_text(frame[name]).astype(object)
                data[name] = np.asarray(text.where(text.notna(), "(missing)"), dtype=object)
        return pd.DataFrame(data, index=frame.index)

    @property
    def categorical_indices(self) -> list[int]:
        return [j for j, name in enumerate(self.features) if self.kinds[name] == "categorical"]


# --------------------------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------------------------
def _train_booster(x: FloatArray, y: npt.NDArray[np.int64], schema: _Schema, seed: int) -> Any:
    import lightgbm as lgb

    params = {**LGBM_PARAMS, "seed": seed, "num_threads": _threads(len(y))}
    data = lgb.Dataset(x, label=y, feature_name=schema.features, categorical_feature=schema.categorical_indices,
                       free_raw_data=True, params={"verbosity": -1})
    return lgb.train(params, data, num_boost_round=LGBM_ROUNDS)


def _threads(rows: int) -> int:
    """One thread below 100k rows: LightGBM's threading costs more than it saves on small tables (7x on Telco)."""
    return 1 if rows < 100_000 else len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def _platt(scores: FloatArray, y: npt.NDArray[np.int64]) -> tuple[float, float]:
    """Slope and intercept of ``P(y=1) = sigmoid(a * score + b)`` by maximum likelihood."""
    from scipy import optimize

    def negll(params: FloatArray) -> tuple[float, FloatArray]:
        z = params[0] * scores + params[1]
        p = 1.0 / (1.0 + np.exp(-z))
        loss = float(np.sum(np.logaddexp(0.0, z) - y * z))
        residual = p - y
        return loss, np.array([np.sum(residual * scores), np.sum(residual)])

    # The slope is kept >= 0: a model whose out-of-fold scores carry no signal (tiny tables) gets a flat
    # base-rate probability rather than a flipped ranking.
    result = optimize.minimize(negll, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B",
                               bounds=[(0.0, None), (None, None)])
    return float(result.x[0]), float(result.x[1])


def _sigmoid(z: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


def _format_value(value: float, kind: str, categories: list[str]) -> str:
    if math.isnan(value):
        return "missing"
    if kind == "categorical":
        return categories[int(value)]
    return f"{value:g}"


class TabularChurnModel:
    """Calibrated LightGBM churn model (plus a logistic baseline) on a one-row-per-customer table.

    Parameters
    ----------
    target : str
        Binary target column (Yes/No, True/False, Y/N, T/F or 1/0; the positive value means churned).
    id_col : str
        Customer id column: copied to the predictions, never a feature.
    drop : sequence of str, optional
        Columns that must not be features (leaky ones: a churn score or reason filled in after the fact).
    seed : int, optional
        Seed of the cross-validation splits and of LightGBM's subsampling.
    calibration_folds : int, optional
        Folds of the out-of-fold scores the Platt calibration is fitted on.

    Attributes
    ----------
    booster_ : lightgbm.Booster
        LightGBM fitted on all rows (scores and drivers).
    baseline_ : sklearn.pipeline.Pipeline
        One-hot + standard-scaled logistic regression on the same features.
    calibration_ : tuple of float
        ``(a, b)`` of ``churn_probability = sigmoid(a * raw_score + b)``.
    features_ : list of str
        Feature columns, in model order.
    kinds_ : dict
        ``numeric`` or ``categorical`` per feature.
    target_labels_ : list of str
        ``[negative, positive]`` as spelled in the data.
    n_rows_, churn_rate_ : int, float
        Rows fitted on and their share of positives.
    evaluation_ : dict or None
        Cross-validated figures attached by ``sinergia churn fit`` (saved in the manifest).
    """

    evaluation_: dict[str, Any] | None = None

    def __init__(self, target: str, id_col: str, drop: Sequence[str] = (), seed: int = 0,
                 calibration_folds: int = 5) -> None:
        self.target, self.id_col, self.drop, self.seed = target, id_col, tuple(drop), seed
        self.calibration_folds = calibration_folds

    # -- fitting ------------------------------------------------------------------------------------------------
    def _validate_columns(self, frame: pd.DataFrame) -> None:
        for role, name in (("target", self.target), ("id", self.id_col)):
            if name not in frame.columns:
                raise UsageError(f"{role} column '{name}' is not in the data (columns: {_columns(frame)})")
        unknown = [c for c in self.drop if c not in frame.columns]
        if unknown:
            raise UsageError(f"--drop names columns that are not in the data: {', '.join(unknown)}")
        if self.target == self.id_col:
            raise UsageError("the target and the id must be different columns")
        if self.calibration_folds < 2:
            raise UsageError("calibration_folds must be at least 2")

    def _prepare(self, frame: pd.DataFrame) -> tuple[_Schema, npt.NDArray[np.int64], list[str]]:
        self._validate_columns(frame)
        y, labels = _target(frame[self.target], self.target)
        schema = _Schema.infer(frame, (self.target, self.id_col, *self.drop))
        if not schema.features:
            raise UsageError("no feature columns left after removing the target, the id and --drop")
        minority = int(min(y.sum(), len(y) - y.sum()))
        if minority < self.calibration_folds:
            raise InputError(
                f"target column '{self.target}' has only {minority} rows of its smaller class; "
                f"need at least {self.calibration_folds} for cross-validated calibration"
            )
        return schema, y, labels

    def fit(self, frame: pd.DataFrame) -> TabularChurnModel:
        """Infer the column types, fit the calibrated LightGBM and the logistic baseline on all rows.

        Returns
        -------
        TabularChurnModel
            ``self``.
        """
        started = time.perf_counter()
        schema, y, labels = self._prepare(frame)
        from sklearn.model_selection import StratifiedKFold

        x = schema.matrix(frame)
        oof = np.empty(len(y), dtype=np.float64)
        splitter = StratifiedKFold(n_splits=self.calibration_folds, shuffle=True, random_state=self.seed)
        for train, test in splitter.split(x, y):
            booster = _train_booster(x[train], y[train], schema, self.seed)
            oof[test] = booster.predict(x[test], raw_score=True, num_threads=1)
        self.calibration_ = _platt(oof, y)
        self.booster_ = _train_booster(x, y, schema, self.seed)
        self.baseline_ = _fit_baseline(schema.readable(frame), y, self.seed)
        self.schema_ = schema
        self.features_, self.kinds_ = schema.features, schema.kinds
        self.target_labels_ = labels
        self.n_rows_, self.churn_rate_ = len(y), float(y.mean())
        self.fit_seconds_ = time.perf_counter() - started
        return self

    # -- scoring ------------------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise UsageError("the model is not fitted: call fit() or load() first")

    def raw_score(self, frame: pd.DataFrame) -> FloatArray:
        """Uncalibrated LightGBM log-odds."""
        self._check_fitted()
        x = self.schema_.matrix(frame)
        return np.asarray(self.booster_.predict(x, raw_score=True, num_threads=_threads(len(x))), dtype=np.float64)

    def predict_proba(self, frame: pd.DataFrame) -> FloatArray:
        """Calibrated churn probability per row."""
        a, b = self.calibration_
        return _sigmoid(a * self.raw_score(frame) + b)

    def predict_uncalibrated(self, frame: pd.DataFrame) -> FloatArray:
        """LightGBM's own probability (before calibration), for comparison."""
        return _sigmoid(self.raw_score(frame))

    def predict_baseline(self, frame: pd.DataFrame) -> FloatArray:
        """Probability from the logistic-regression baseline (only after :meth:`fit`; it is not saved)."""
        self._check_fitted()
        if getattr(self, "baseline_", None) is None:
            raise UsageError("the logistic baseline is not saved with the model; refit to use it")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*unknown categor.*", category=UserWarning)
            proba = self.baseline_.predict_proba(self.schema_.readable(frame))
        return np.asarray(proba[:, 1], dtype=np.float64)

    def contributions(self, frame: pd.DataFrame) -> FloatArray:
        """Exact TreeSHAP values of the raw score: one column per feature, then the bias (expected value).

        Each row sums to :meth:`raw_score` (uncalibrated log-odds).
        """
        self._check_fitted()
        x = self.schema_.matrix(frame)
        return np.asarray(self.booster_.predict(x, pred_contrib=True, num_threads=_threads(len(x))), dtype=np.float64)

    def predict(self, frame: pd.DataFrame, drivers: int = 3) -> pd.DataFrame:
        """The id, ``churn_probability`` and ``driver_1..n``: e.g. ``"Contract = Month-to-month (+0.21)"``.

        Driver values are SHAP contributions in calibrated log-odds of churn (``a`` × TreeSHAP of the raw
        score); with the base value ``a * bias + b`` they add up to ``logit(churn_probability)``. Drivers are
        ranked by absolute value; positive ones raise the risk.
        """
        self._check_fitted()
        if self.id_col not in frame.columns:
            raise InputError(f"id column '{self.id_col}' is not in the data (columns: {_columns(frame)})")
        x = self.schema_.matrix(frame)
        a, b = self.calibration_
        out = pd.DataFrame({self.id_col: frame[self.id_col].to_numpy()})
        if drivers <= 0:
            raw = self.booster_.predict(x, raw_score=True, num_threads=_threads(len(x)))
            out["churn_probability"] = _sigmoid(a * np.asarray(raw, dtype=np.float64) + b)
            return out
        contrib = np.asarray(self.booster_.predict(x, pred_contrib=True, num_threads=_threads(len(x))),
                             dtype=np.float64)
        out["churn_probability"] = _sigmoid(a * contrib.sum(axis=1) + b)
        phi = a * contrib[:, :-1]
        k = min(drivers, phi.shape[1])
        order = np.argsort(-np.abs(phi), axis=1, kind="stable")[:, :k]
        rows = np.arange(len(x))
        for rank in range(k):
            cols = order[:, rank]
            values = phi[rows, cols]
            raw = x[rows, cols]
            texts = [
                f"{self.features_[j]} = {_format_value(v, self.kinds_[self.features_[j]], self.schema_.categories.get(self.features_[j], []))} ({c:+.2f})"  # noqa: E501
                for j, v, c in zip(cols.tolist(), raw.tolist(), values.tolist(), strict=True)
            ]
            out[f"driver_{rank + 1}"] = texts
        for rank in range(k, drivers):
            out[f"driver_{rank + 1}"] = ""
        return out

    # -- persistence --------------------------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        """Everything but the trees, as JSON-ready data."""
        import lightgbm
        import sklearn

        self._check_fitted()
        return {
            "format_version": FORMAT_VERSION,
            "kind": "sinergia.tabular_churn",
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "target": self.target,
            "id_col": self.id_col,
            "drop": list(self.drop),
            "seed": self.seed,
            "calibration_folds": self.calibration_folds,
            "target_labels": {"negative": self.target_labels_[0], "positive": self.target_labels_[1]},
            "features": [
                {"name": n, "kind": self.kinds_[n], **({"categories": self.schema_.categories[n]}
                                                        if self.kinds_[n] == "categorical" else {})}
                for n in self.features_
            ],
            "calibration": {"method": "sigmoid", "a": self.calibration_[0], "b": self.calibration_[1],
                            "formula": "churn_probability = 1 / (1 + exp(-(a * raw_score + b)))"},
            "lightgbm_params": LGBM_PARAMS,
            "lightgbm_rounds": LGBM_ROUNDS,
            "n_rows": self.n_rows_,
            "churn_rate": self.churn_rate_,
            "versions": {"lightgbm": lightgbm.__version__, "scikit-learn": sklearn.__version__,
                         "pandas": pd.__version__, "numpy": np.__version__},
            "evaluation": getattr(self, "evaluation_", None),
        }

    def save(self, directory: Path | str) -> Path:
        """Write ``lightgbm.txt`` and ``manifest.json`` into ``directory`` (replaced atomically as a whole)."""
        self._check_fitted()
        def write(folder: Path) -> None:
            self.booster_.save_model(str(folder / BOOSTER_FILE))
            (folder / MANIFEST).write_text(json.dumps(self.manifest(), indent=2, ensure_ascii=False) + "\n",
                                           encoding="utf-8")

        return replace_folder(directory, MANIFEST, write)

    @classmethod
    def load(cls, directory: Path | str) -> TabularChurnModel:
        """Read a folder written by :meth:`save`."""
        import lightgbm as lgb

        folder = Path(directory)
        if not (folder / MANIFEST).is_file() or not (folder / BOOSTER_FILE).is_file():
            raise InputError(f"{folder}: not a churn model folder (needs {MANIFEST} and {BOOSTER_FILE})")
        try:
            info = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            if info.get("kind") != "sinergia.tabular_churn" or info.get("format_version") != FORMAT_VERSION:
                raise InputError(f"{folder}: unsupported model format {info.get('kind')} v{info.get('format_version')}")
            model = cls(info["target"], info["id_col"], info["drop"], info["seed"], info["calibration_folds"])
            features = [f["name"] for f in info["features"]]
            kinds = {f["name"]: f["kind"] for f in info["features"]}
            categories = {f["name"]: list(f["categories"]) for f in info["features"] if f["kind"] == "categorical"}
            model.schema_ = _Schema(features, kinds, categories)
            model.features_, model.kinds_ = features, kinds
            model.target_labels_ = [info["target_labels"]["negative"], info["target_labels"]["positive"]]
            model.calibration_ = (float(info["calibration"]["a"]), float(info["calibration"]["b"]))
            model.n_rows_, model.churn_rate_ = int(info["n_rows"]), float(info["churn_rate"])
            model.evaluation_ = info.get("evaluation")
            model.booster_ = lgb.Booster(model_file=str(folder / BOOSTER_FILE))
        except (KeyError, TypeError, ValueError) as error:
            raise InputError(f"{folder}: damaged model manifest ({type(error).__name__}: {error})") from None
        model.baseline_ = None
        return model


def _columns(frame: pd.DataFrame) -> str:
    names = [str(c) for c in frame.columns]
    return ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")


def _fit_baseline(features: pd.DataFrame, y: npt.NDArray[np.int64], seed: int) -> Any:
    """One-hot (categories) + median-imputed standard-scaled numbers → L2 logistic regression (C = 1)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in features.columns if features[c].dtype != object]
    categorical = [c for c in features.columns if features[c].dtype == object]
    prep = ColumnTransformer([
        # keep_empty_features: a column missing in every training row (e.g. text sentiment before any text was
        # scored) is imputed with 0 and, constant after scaling, weighs nothing; without it sklearn drops it
        ("num", Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                          ("scale", StandardScaler())]), numeric),
        ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
    ])
    model = Pipeline([("prep", prep), ("logit", LogisticRegression(max_iter=2000, random_state=seed))])
    return model.fit(features, y)


# --------------------------------------------------------------------------------------------------------------
# cross-validated evaluation
# --------------------------------------------------------------------------------------------------------------
@dataclass
class Evaluation:
    """Stratified K-fold results: per model, the mean and standard deviation over folds of each metric.

    ``models`` keys: ``lightgbm_calibrated``, ``lightgbm_uncalibrated``, ``logistic``; metrics ``roc_auc``,
    ``pr_auc`` (average precision), ``brier``, ``log_loss``. ``calibration`` bins the pooled out-of-fold
    calibrated probabilities into 10 equal-count bins; ``lift_top_decile`` is the churn rate in the 10 % riskiest
    rows over the overall rate.
    """

    folds: int
    n_rows: int
    churn_rate: float
    models: dict[str, dict[str, float]]
    per_fold: dict[str, list[dict[str, float]]]
    calibration: list[dict[str, float]]
    lift_top_decile: float
    seconds: float

    def auc(self, model: str) -> float:
        return self.models[model]["roc_auc"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "folds": self.folds, "n_rows": self.n_rows, "churn_rate": self.churn_rate, "models": self.models,
            "calibration": self.calibration, "lift_top_decile": self.lift_top_decile,
            "seconds": round(self.seconds, 3),
        }


def _metrics(y: npt.NDArray[np.int64], p: FloatArray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    clipped = np.clip(p, 1e-15, 1 - 1e-15)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, clipped, labels=[0, 1])),
    }


def calibration_table(y: npt.NDArray[np.int64], p: FloatArray, bins: int = 10) -> list[dict[str, float]]:
    """Equal-count bins of predicted probability: rows, mean predicted and observed churn rate per bin."""
    order = np.argsort(p, kind="stable")
    table = []
    for i, chunk in enumerate(np.array_split(order, bins)):
        if len(chunk) == 0:
            continue
        table.append({"bin": i + 1, "rows": len(chunk), "mean_predicted": float(p[chunk].mean()),
                      "observed": float(y[chunk].mean())})
    return table


def evaluate(frame: pd.DataFrame, target: str, id_col: str, drop: Sequence[str] = (), folds: int = 5,
             seed: int = 0) -> Evaluation:
    """Stratified K-fold evaluation of the calibrated LightGBM (uncalibrated too) and the logistic baseline.

    Each outer fold fits a full :class:`TabularChurnModel` (its own inner calibration folds) on the other folds.
    """
    started = time.perf_counter()
    probe = TabularChurnModel(target, id_col, drop, seed)
    _, y, _ = probe._prepare(frame)  # input errors before the (slow) scikit-learn import
    from sklearn.model_selection import StratifiedKFold

    if folds < 2 or int(min(y.sum(), len(y) - y.sum())) < folds:
        raise UsageError(f"cannot run {folds}-fold cross-validation: each class needs at least {folds} rows")
    names = ("lightgbm_calibrated", "lightgbm_uncalibrated", "logistic")
    per_fold: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    pooled = np.empty(len(y), dtype=np.float64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(np.zeros(len(y)), y):
        model = TabularChurnModel(target, id_col, drop, seed).fit(frame.iloc[train])
        held = frame.iloc[test]
        calibrated = model.predict_proba(held)
        pooled[test] = calibrated
        per_fold["lightgbm_calibrated"].append(_metrics(y[test], calibrated))
        per_fold["lightgbm_uncalibrated"].append(_metrics(y[test], model.predict_uncalibrated(held)))
        per_fold["logistic"].append(_metrics(y[test], model.predict_baseline(held)))
    summary: dict[str, dict[str, float]] = {}
    for name, rows in per_fold.items():
        summary[name] = {}
        for metric in rows[0]:
            values = np.array([r[metric] for r in rows])
            summary[name][metric] = float(values.mean())
            summary[name][f"{metric}_sd"] = float(values.std(ddof=1))
    table = calibration_table(y, pooled)
    top = np.argsort(-pooled, kind="stable")[: max(1, len(y) // 10)]
    lift = float(y[top].mean() / y.mean())
    return Evaluation(folds, len(y), float(y.mean()), summary, per_fold, table, lift, time.perf_counter() - started)
