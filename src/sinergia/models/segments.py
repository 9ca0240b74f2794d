r"""Segments and personas: RFM segments, loyalty tiers and data-driven personas described in words.

**RFM** (:func:`rfm_table`, :func:`rfm_segments`). Per customer, as of a date: *recency* = days from the last
purchase day to the as-of date, *frequency* = distinct purchase days, *monetary* = total spend (sum of the
values, refunds netted). Each becomes a score 1-5 by rank quintile, ties sharing a score:

.. math::

    s = 1 + \left\lfloor \frac{5\,(\mathrm{rank_{min}} - 1)}{n} \right\rfloor

where :math:`\mathrm{rank_{min}}` is the 1-based ascending rank with ties given their lowest rank (pandas
``rank(method="min")``) of frequency, of monetary, and of *minus* recency (so the most recent buyers get R = 5).
Because tied customers share a score, a variable with a big tie (frequency 1 for half of CDNOW) puts the whole
tie in one score instead of splitting it arbitrarily.

The named segment comes from the R and F scores only, by the R×F grid that RFM practice converged on (Putler's
11 RFM segments in their 10-cell R×F form, as used in the "RFM analysis" tutorials of Kaggle and of the
CRM-analytics courses; :data:`RFM_SEGMENT_MAP`):

::

    R \ F   1               2               3               4           5
    5       New customers   Potential       Potential       Champions   Champions
    4       Promising       Potential       Potential       Loyal       Loyal
    3       About to sleep  About to sleep  Need attention  Loyal       Loyal
    2       Hibernating     Hibernating     At risk         At risk     Can't lose them
    1       Hibernating     Hibernating     At risk         At risk     Can't lose them

(Potential = Potential loyalists.) M is reported next to the segment but does not change it.

**Loyalty tiers** (:func:`loyalty_tiers`): the highest tier of :class:`LoyaltySettings` whose minimum tenure
(days since the first purchase) *and* minimum spend (total spend) are both met.

**Personas** (:func:`personas`): k-means (scikit-learn, ``n_init=10``, seeded) on standardised account
features — by default usage, adoption, support load, NPS, MRR and tenure (:func:`account_features`) — with k
chosen by the silhouette score over a range. Each cluster is described by the features whose cluster mean
lies at least :data:`DESCRIBE_MIN_Z` standard deviations from the population mean, strongest first, in English
and Portuguese ("heavy users, many tickets, low NPS").
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sinergia.errors import InputError, UsageError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DESCRIBE_MIN_Z",
    "FEATURE_WORDS",
    "RFM_SEGMENT_MAP",
    "LoyaltySettings",
    "LoyaltyTier",
    "PersonaResult",
    "SegmentSettings",
    "account_features",
    "account_transactions",
    "loyalty_tiers",
    "personas",
    "rfm_segments",
    "rfm_table",
]

#: (R score, F score) → segment. Source: the R×F grid of RFM practice (module docstring).
RFM_SEGMENT_MAP: dict[tuple[int, int], str] = {}
for _r in range(1, 6):
    for _f in range(1, 6):
        if _r <= 2:
            _name = "Hibernating" if _f <= 2 else "At risk" if _f <= 4 else "Can't lose them"
        elif _r == 3:
            _name = "About to sleep" if _f <= 2 else "Need attention" if _f == 3 else "Loyal"
        elif _f == 1:
            _name = "Promising" if _r == 4 else "New customers"
        elif _f <= 3:
            _name = "Potential loyalists"
        else:
            _name = "Loyal" if _r == 4 else "Champions"
        RFM_SEGMENT_MAP[(_r, _f)] = _name

#: Segment names in Portuguese (pt-BR).
RFM_SEGMENT_PT = {
    "Champions": "Campeões", "Loyal": "Leais", "Potential loyalists": "Potenciais leais",
    "New customers": "Novos clientes", "Promising": "Promissores", "Need attention": "Precisam de atenção",
    "About to sleep": "Quase dormindo", "At risk": "Em risco", "Can't lose them": "Não podemos perder",
    "Hibernating": "Hibernando",
}

#: A cluster mean at least this many standard deviations from the population mean describes the cluster.
DESCRIBE_MIN_Z = 0.5

#: Feature → ((en high, pt high), (en low, pt low)). Features without words are named as they are.
FEATURE_WORDS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "usage": (("heavy users", "usam muito o produto"), ("light users", "usam pouco o produto")),
    "active_users": (("many active users", "muitos usuários ativos"), ("few active users", "poucos usuários ativos")),
    "adoption": (("broad feature adoption", "adotam muitas funcionalidades"),
                 ("narrow feature adoption", "adotam poucas funcionalidades")),
    "tickets": (("many tickets", "muitos chamados"), ("few tickets", "poucos chamados")),
    "nps": (("high NPS", "NPS alto"), ("low NPS", "NPS baixo")),
    "mrr": (("high MRR", "MRR alto"), ("low MRR", "MRR baixo")),
    "tenure": (("long-standing customers", "clientes antigos"), ("new customers", "clientes novos")),
    "recency_days": (("long since the last purchase", "muito tempo sem comprar"),
                     ("bought recently", "compraram recentemente")),
    "frequency": (("frequent buyers", "compram com frequência"), ("occasional buyers", "compram pouco")),
    "monetary": (("big spenders", "gastam muito"), ("small spenders", "gastam pouco")),
}

#: Default persona features (:func:`account_features` columns) and whether they enter on the log scale.
PERSONA_FEATURES: dict[str, bool] = {
    "usage": True, "adoption": False, "tickets": True, "nps": False, "mrr": True, "tenure": True,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoyaltyTier(_Strict):
    name: str = Field(min_length=1)
    name_pt: str | None = None
    min_tenure_days: float = Field(0, ge=0)
    min_spend: float = Field(0, ge=0, description="In the workspace currency (or the transactions' values).")


def _default_tiers() -> list[LoyaltyTier]:
    return [
        LoyaltyTier(name="Bronze", name_pt="Bronze"),
        LoyaltyTier(name="Silver", name_pt="Prata", min_tenure_days=180, min_spend=1_000),
        LoyaltyTier(name="Gold", name_pt="Ouro", min_tenure_days=365, min_spend=5_000),
        LoyaltyTier(name="Platinum", name_pt="Platina", min_tenure_days=730, min_spend=20_000),
    ]


class LoyaltySettings(_Strict):
    """Tiers from lowest to highest; an account gets the highest whose two minimums it meets."""

    tiers: list[LoyaltyTier] = Field(default_factory=_default_tiers)

    @model_validator(mode="after")
    def _ordered(self) -> LoyaltySettings:
        if not self.tiers:
            raise ValueError("at least one loyalty tier is needed")
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError("loyalty tier names must be unique")
        return self


class PersonaSettings(_Strict):
    k_min: int = Field(2, ge=2)
    k_max: int = Field(8, ge=2)
    seed: int = 0
    usage_window_days: int = Field(30, ge=1, le=366)
    support_window_days: int = Field(90, ge=1, le=366)
    nps_window_days: int = Field(365, ge=1)


class SegmentSettings(_Strict):
    """The ``segments:`` section of ``sinergia.yaml``."""

    loyalty: LoyaltySettings = Field(default_factory=LoyaltySettings)
    personas: PersonaSettings = Field(default_factory=PersonaSettings)


# --------------------------------------------------------------------------------------------------------------
# RFM
# --------------------------------------------------------------------------------------------------------------
def rfm_table(transactions: pd.DataFrame, customer_col: str, date_col: str, value_col: str,
              as_of: dt.date | str | None = None, quantity_col: str | None = None) -> pd.DataFrame:
    """Per customer: ``first_purchase``, ``last_purchase``, ``recency_days``, ``frequency``, ``monetary``.

    A row's value is ``value_col``, times ``quantity_col`` when given (unit price × quantity, as in Online
    Retail; negative quantities are returns). Rows without a customer id are left out. Rows dated after
    ``as_of`` are ignored (default: the last date in the data). Dates as in
    :func:`sinergia.models.rfm.rfm_summary` (datetimes, ISO text or ``YYYYMMDD``); values may be negative
    (refunds are netted into ``monetary``) but a purchase day counts for frequency only when its net value is
    positive. Index: the customer id.
    """
    import numpy as np
    import pandas as pd

    from sinergia.models.rfm import _date_to_day, _to_days

    needed = [customer_col, date_col, value_col] + ([quantity_col] if quantity_col else [])
    for column in needed:
        if column not in transactions.columns:
            names = ", ".join(map(str, transactions.columns))
            raise InputError(f"no column '{column}' in the transactions (columns: {names})")
    frame = transactions[needed].dropna(subset=[customer_col])
    frame = frame[frame[customer_col].astype(str).str.strip() != ""]
    if frame.empty:
        raise InputError("no transactions")
    days = _to_days(frame[date_col], date_col)
    values = pd.to_numeric(frame[value_col], errors="coerce")
    if values.isna().any():
        raise InputError(f"{int(values.isna().sum())} row(s) have a missing or non-numeric value in '{value_col}'")
    if quantity_col:
        quantity = pd.to_numeric(frame[quantity_col], errors="coerce")
        if quantity.isna().any():
            raise InputError(f"{int(quantity.isna().sum())} row(s) have a missing or non-numeric quantity in "
                             f"'{quantity_col}'")
        values = values * quantity
    end = int(days.max()) if as_of is None else _date_to_day(as_of)
    keep = days <= end
    data = pd.DataFrame({"customer": frame[customer_col].astype(str).to_numpy()[keep], "day": days[keep],
                         "value": values.to_numpy(dtype=np.float64)[keep]})
    if data.empty:
        raise InputError(f"no transactions on or before {_iso(end)}")
    daily = data.groupby(["customer", "day"], sort=True)["value"].sum().reset_index()
    spend = daily.groupby("customer")["value"].sum()
    bought = daily[daily["value"] > 0]
    g = bought.groupby("customer")["day"]
    out = pd.DataFrame({"first_day": g.min(), "last_day": g.max(), "frequency": g.size()})
    out = out.join(spend.rename("monetary"), how="left")
    out["recency_days"] = (end - out["last_day"]).astype(np.int64)
    out["first_purchase"] = pd.to_datetime(out["first_day"], unit="D")
    out["last_purchase"] = pd.to_datetime(out["last_day"], unit="D")
    out["tenure_days"] = (end - out["first_day"]).astype(np.int64)
    out.index.name = "customer"
    return out[["first_purchase", "last_purchase", "recency_days", "frequency", "monetary", "tenure_days"]]


def _iso(day: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()


def quintile_score(values: pd.Series) -> pd.Series:
    """1-5 by rank quintile with ties sharing the lowest rank: 1 + floor(5 (rank_min - 1) / n)."""
    n = len(values)
    ranks = values.rank(method="min")
    scores: pd.Series = (1 + ((ranks - 1) * 5 // n)).astype("int64")
    return scores


def rfm_segments(table: pd.DataFrame) -> pd.DataFrame:
    """Add ``r``, ``f``, ``m`` (1-5), ``rfm`` ("545") and ``segment`` / ``segment_pt`` to :func:`rfm_table`."""
    if table.empty:
        raise InputError("no customers to segment")
    out = table.copy()
    out["r"] = quintile_score(-out["recency_days"])
    out["f"] = quintile_score(out["frequency"])
    out["m"] = quintile_score(out["monetary"])
    out["rfm"] = out["r"].astype(str) + out["f"].astype(str) + out["m"].astype(str)
    out["segment"] = [RFM_SEGMENT_MAP[(r, f)] for r, f in zip(out["r"], out["f"], strict=True)]
    out["segment_pt"] = out["segment"].map(RFM_SEGMENT_PT)
    return out


def segment_counts(segmented: pd.DataFrame) -> pd.DataFrame:
    """Customers, share, mean recency / frequency / monetary per segment, largest first."""
    g = segmented.groupby("segment")
    out = g.agg(customers=("r", "size"), recency_days=("recency_days", "mean"), frequency=("frequency", "mean"),
                monetary=("monetary", "mean"))
    out["share"] = out["customers"] / out["customers"].sum()
    out["segment_pt"] = [RFM_SEGMENT_PT[s] for s in out.index]
    return out.sort_values(["customers"], ascending=False).reset_index()


def account_transactions(source: Any, as_of: dt.date) -> pd.DataFrame:
    """Orders / invoices of the workspace known by the end of ``as_of``: (account_id, ordered_at, amount).

    Amounts are in the workspace currency (``metrics.fx_rates``); orders in a currency without a rate and
    orders without an account are left out. Cancelled or void orders (``status`` cancelled / canceled /
    void / voided) are left out.
    """
    import ibis

    from sinergia.metrics.api import _context

    ctx = _context(source, as_of, "day", 1, None, None, None)
    o = ctx.table("orders")
    bad = ["cancelled", "canceled", "void", "voided"]
    o = o.filter((o.ordered_at < ibis.literal(ctx.cutoff)) & o.account_id.notnull() & o.amount.notnull()
                 & ~ibis.coalesce(o.status.lower().isin(bad), False))
    o = o.select("account_id", "ordered_at", amount=ctx.money(o.amount, o.currency))
    frame: pd.DataFrame = ctx.source.execute(o.filter(o.amount.notnull()))
    frame["amount"] = frame["amount"].astype(float)
    return frame


# --------------------------------------------------------------------------------------------------------------
# loyalty tiers
# --------------------------------------------------------------------------------------------------------------
def loyalty_tiers(table: pd.DataFrame, settings: LoyaltySettings | None = None, *, tenure_col: str = "tenure_days",
                  spend_col: str = "monetary") -> pd.DataFrame:
    """``tier`` and ``tier_pt`` for each row: the highest tier whose ``min_tenure_days`` and ``min_spend`` hold.

    Rows meeting no tier (below the lowest tier's minimums) get ``None``.
    """
    settings = settings or LoyaltySettings()
    for column in (tenure_col, spend_col):
        if column not in table.columns:
            raise UsageError(f"loyalty tiers need a '{column}' column")
    out = table.copy()
    tier: list[str | None] = [None] * len(out)
    tier_pt: list[str | None] = [None] * len(out)
    tenure = out[tenure_col].to_numpy(dtype=float)
    spend = out[spend_col].to_numpy(dtype=float)
    for t in settings.tiers:  # lowest first: a later (higher) tier overwrites
        meets = (tenure >= t.min_tenure_days) & (spend >= t.min_spend)
        for i in meets.nonzero()[0]:
            tier[i], tier_pt[i] = t.name, t.name_pt or t.name
    out["tier"], out["tier_pt"] = tier, tier_pt
    return out


# --------------------------------------------------------------------------------------------------------------
# account features for personas
# --------------------------------------------------------------------------------------------------------------
def account_features(source: Any, as_of: dt.date, settings: PersonaSettings | None = None) -> pd.DataFrame:
    """One row per account paying at the end of ``as_of``, with the persona features (index ``account_id``).

    * ``usage`` - usage events in the last ``usage_window_days`` (default 30) per licence when the account has
      licences (subscription lines in force with a quantity, else ``accounts.licenses``), else per account;
    * ``active_users`` - distinct users with an event in the same window;
    * ``adoption`` - distinct features used in the same window;
    * ``tickets`` - tickets opened in the last ``support_window_days`` (default 90);
    * ``nps`` - the last NPS answer (0-10) of the last ``nps_window_days`` (null when none);
    * ``mrr`` - MRR at the cut-off (workspace currency);
    * ``tenure`` - days from the start of the current paying life to the cut-off.

    Every input is stamped before the cut-off (midnight UTC after ``as_of``).
    """
    import ibis
    import numpy as np
    import pandas as pd

    from sinergia.metrics.api import _context
    from sinergia.metrics.lifecycle import events
    from sinergia.models.signals import _SignalData
    from sinergia.models.survival import account_lifetimes

    settings = settings or PersonaSettings()
    ctx = _context(source, as_of, "day", 1, None, None, None)
    data = _SignalData(ctx)
    paying = data.paying().set_index("account_id").sort_index()
    out = pd.DataFrame(index=paying.index)
    out.index.name = "account_id"
    cut = ctx.cutoff

    ev = events(ctx)
    start = cut - dt.timedelta(days=settings.usage_window_days)
    ev = ev.filter((ev.occurred_at >= ibis.literal(start)) & ev.account_id.notnull())
    per = ctx.source.execute(ev.group_by("account_id").aggregate(
        events=ev.count(), active_users=ev.contact_id.nunique(), adoption=ev.feature.nunique()))
    per = per.set_index("account_id")
    seats = data.seats(cut)["licences"]
    events_n = per["events"].reindex(out.index).fillna(0).astype(float)
    licences = seats.reindex(out.index)
    out["usage"] = np.where(licences > 0, events_n / licences.where(licences > 0, 1), events_n)
    out["active_users"] = per["active_users"].reindex(out.index).fillna(0).astype(float)
    out["adoption"] = per["adoption"].reindex(out.index).fillna(0).astype(float)

    t = ctx.table("tickets")
    t_start = cut - dt.timedelta(days=settings.support_window_days)
    t = t.filter((t.created_at < ibis.literal(cut)) & (t.created_at >= ibis.literal(t_start)) & t.account_id.notnull())
    tickets = ctx.source.execute(t.group_by("account_id").aggregate(n=t.count())).set_index("account_id")["n"]
    out["tickets"] = tickets.reindex(out.index).fillna(0).astype(float)

    nps = data.nps(settings.nps_window_days)
    nps = nps[nps["account_id"].notna()].sort_values(["account_id", "responded_at", "response_id"])
    last = nps.groupby("account_id").tail(1).set_index("account_id")
    low = last["scale_min"].astype(float).fillna(0.0)
    high = last["scale_max"].astype(float).fillna(10.0)
    scaled = ((last["score"].astype(float) - low) / (high - low).where(high > low, 10.0) * 10.0)
    out["nps"] = scaled.reindex(out.index)

    out["mrr"] = paying["mrr"].astype(float)
    lives = account_lifetimes(source, as_of)
    open_lives = lives[lives["event"] == 0].sort_values("start").groupby("account_id").tail(1).set_index("account_id")
    out["tenure"] = open_lives["duration_days"].reindex(out.index).astype(float)
    return out


# --------------------------------------------------------------------------------------------------------------
# personas
# --------------------------------------------------------------------------------------------------------------
class PersonaResult:
    """Assignments (``labels``), per-cluster profiles and descriptions, and the silhouette of each k tried."""

    def __init__(self, labels: pd.DataFrame, profiles: pd.DataFrame, silhouettes: dict[int, float], k: int,
                 features: list[str], log_features: list[str], imputed: dict[str, float]) -> None:
        self.labels, self.profiles, self.silhouettes, self.k = labels, profiles, silhouettes, k
        self.features, self.log_features, self.imputed = features, log_features, imputed

    def as_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "silhouettes": {str(k): v for k, v in self.silhouettes.items()},
            "features": self.features,
            "log_features": self.log_features,
            "imputed_with_median": self.imputed,
            "personas": self.profiles.to_dict("records"),
        }


def personas(features: pd.DataFrame, *, columns: Sequence[str] | None = None, log_columns: Sequence[str] | None = None,
             k_range: tuple[int, int] = (2, 8), seed: int = 0, silhouette_sample: int = 10_000,
             min_z: float = DESCRIBE_MIN_Z) -> PersonaResult:
    """Cluster the rows of ``features`` into personas and describe each one in words.

    ``columns`` (default: the :data:`PERSONA_FEATURES` present, else every numeric column) are standardised
    (``log1p`` first for ``log_columns``, default: the log-scale ones of :data:`PERSONA_FEATURES`; missing
    values take the column median, recorded in ``imputed``); k-means runs for each k in ``k_range``
    (inclusive) and the k with the highest silhouette wins (ties: the smaller k). Deterministic for a seed.

    ``labels``: the input index with ``persona`` (0..k-1, numbered by decreasing size, ties by the lower
    cluster mean of the first feature). ``profiles``: per persona its ``size``, ``share``, the mean of each
    feature (original units) and its z-score against the population, ``traits`` (the features at least
    ``min_z`` standard deviations away, strongest first) and ``description`` / ``description_pt``.
    """
    import numpy as np
    import pandas as pd
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    if columns is None:
        present = [c for c in PERSONA_FEATURES if c in features.columns]
        columns = present or [c for c in features.columns if pd.api.types.is_numeric_dtype(features[c])]
    columns = list(columns)
    if log_columns is None:
        log_columns = [c for c in columns if PERSONA_FEATURES.get(c, False)]
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise UsageError(f"no feature column(s) {', '.join(missing)}")
    k_lo, k_hi = k_range
    if k_lo < 2 or k_hi < k_lo:
        raise UsageError(f"the k range must satisfy 2 <= k_min <= k_max, got {k_lo}..{k_hi}")
    raw = features[columns].astype(float)
    usable = [c for c in columns if raw[c].notna().any()]
    if not usable:
        raise InputError("every persona feature is empty")
    raw = raw[usable]
    n = len(raw)
    if n < k_lo + 1:
        raise InputError(f"{n} rows: too few to cluster into {k_lo} or more personas")
    imputed = {c: float(raw[c].median()) for c in usable if raw[c].isna().any()}
    filled = raw.fillna(imputed)
    transformed = filled.copy()
    for c in log_columns:
        if c in transformed:
            transformed[c] = np.log1p(transformed[c].clip(lower=0))
    mean, std = transformed.mean(), transformed.std(ddof=0)
    std = std.where(std > 0, 1.0)
    z = ((transformed - mean) / std).to_numpy()
    silhouettes: dict[int, float] = {}
    fits: dict[int, Any] = {}
    distinct = len(np.unique(z.round(12), axis=0))
    for k in range(k_lo, min(k_hi, n - 1, distinct) + 1):
        model = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(z)
        if len(set(model.labels_)) < 2:
            continue
        sample = min(silhouette_sample, n)
        silhouettes[k] = float(silhouette_score(z, model.labels_, sample_size=sample if sample < n else None,
                                                random_state=seed))
        fits[k] = model
    if not silhouettes:
        raise InputError("the accounts do not differ enough to form two personas")
    best = max(silhouettes, key=lambda k: (round(silhouettes[k], 10), -k))
    raw_labels = fits[best].labels_
    # Stable numbering: largest persona first.
    sizes = pd.Series(raw_labels).value_counts()
    first = pd.Series(z[:, 0]).groupby(raw_labels).mean()
    order = sorted(sizes.index, key=lambda c: (-sizes[c], first[c]))
    relabel = {c: i for i, c in enumerate(order)}
    labels = np.array([relabel[c] for c in raw_labels])
    zframe = pd.DataFrame(z, columns=usable, index=raw.index)
    profiles = []
    for persona in range(best):
        mask = labels == persona
        zmean = zframe[mask].mean()
        traits = [c for c in sorted(usable, key=lambda c: -abs(zmean[c])) if abs(zmean[c]) >= min_z]
        en, pt = describe_traits({c: float(zmean[c]) for c in traits})
        row: dict[str, Any] = {"persona": persona, "size": int(mask.sum()), "share": float(mask.mean())}
        for c in usable:
            row[c] = float(filled[c][mask].mean())
            row[f"{c}_z"] = float(zmean[c])
        row.update(traits=traits, description=en, description_pt=pt)
        profiles.append(row)
    out_labels = pd.DataFrame({"persona": labels}, index=features.index)
    return PersonaResult(out_labels, pd.DataFrame(profiles), silhouettes, best, usable,
                         [c for c in log_columns if c in usable], imputed)


def describe_traits(traits: dict[str, float]) -> tuple[str, str]:
    """Words for features and their z-scores (sign = above / below the population): (English, Portuguese)."""
    if not traits:
        return "close to the average customer", "perto do cliente médio"
    en, pt = [], []
    for name, value in traits.items():
        words = FEATURE_WORDS.get(name)
        if words is None:
            en.append(f"{'high' if value > 0 else 'low'} {name}")
            pt.append(f"{name} {'alto' if value > 0 else 'baixo'}")
            continue
        high, low = words
        chosen = high if value > 0 else low
        en.append(chosen[0])
        pt.append(chosen[1])
    return ", ".join(en), ", ".join(pt)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
