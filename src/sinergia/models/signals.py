"""Expansion signals: transparent rules over the canonical tables, as of a date.

Four rules, each evaluated for every account **paying at the cut-off** (MRR > 0 on the account MRR step
function of :mod:`sinergia.metrics.revenue`, at midnight UTC after ``as_of``). Nothing stamped at or after the
cut-off is read: events, survey answers, subscription lines and health scores are all filtered on their own
time column (``occurred_at``, ``responded_at``, ``started_at`` / ``ended_at``, the score's ``as_of``).

``usage_above_licences``
    active users in the last ``window_days`` (distinct ``contact_id`` with ≥ 1 usage event; an event's account
    is its ``account_id``, else its user's) / licences ≥ ``threshold`` (default 0.9). **Licences** are the
    summed ``quantity`` of the account's non-trial subscription lines in force at the cut-off
    (``started_at`` < cut-off and ``ended_at`` null or ≥ cut-off); when no such line carries a quantity, the
    account's ``accounts.licenses`` is used and the evidence says so (that column has no history: it is the
    value at import time, not necessarily the value on the as-of date).
``seat_growth``
    active users in ``[cut − N, cut)`` vs ``[cut − 2N, cut − N)`` (N = ``window_days``, default 90), and seats
    (licences as above) at the cut-off vs at ``cut − N``: fires when either grew by ≥ ``growth`` (default
    20 %) from a base of at least ``min_base`` (default 3) users or seats, so 1 → 2 users is not a signal.
``promoter_healthy``
    the account's last NPS answer (``survey = 'nps'``, answered in the last ``nps_max_age_days``; the latest
    answer of any of its contacts) is ≥ ``min_nps`` (default 9) **and** its latest ``health`` score (from
    :func:`sinergia.scores.history.latest_scores`, no older than ``health_max_age_days``) has a band in
    ``healthy_bands`` (default ``green``/``verde``). With no health score the status is ``unknown``
    ("health unknown"): the rule never guesses the missing half.
``cross_sell``
    the account used (≥ ``min_events`` events in the last ``window_days``) a feature that
    ``metrics.features.<feature>.plans`` reserves to plans the account is not on (its plans are those of its
    subscription lines in force at the cut-off; ``accounts.plan`` when none has a plan). Without any
    ``plans`` restriction in the config the rule's status is ``not_configured``.

Result: one row per (account, signal) with ``fired`` (bool), ``status`` (``fired`` / ``not_fired`` /
``unknown`` / ``not_configured``), the rule's ``value`` and ``threshold``, a one-line ``message`` in English
and pt-BR, and ``evidence``: a dict with the numbers and the rows behind them (ids, dates, counts; lists are
capped at :data:`MAX_EVIDENCE_ROWS` entries, with the full count next to them).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sinergia.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

    from sinergia.metrics.context import MetricContext
    from sinergia.metrics.settings import MetricSettings

__all__ = ["MAX_EVIDENCE_ROWS", "SIGNALS", "SignalSettings", "expansion_signals"]

#: Longest list of rows (users, subscription lines, features) kept in one signal's evidence.
MAX_EVIDENCE_ROWS = 20
SIGNALS = ("usage_above_licences", "seat_growth", "promoter_healthy", "cross_sell")
Status = Literal["fired", "not_fired", "unknown", "not_configured"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UsageAboveLicencesRule(_Strict):
    enabled: bool = True
    threshold: float = Field(0.9, gt=0, description="Active users / licences at or above this fires (0.9 = 90 %).")
    window_days: int = Field(30, ge=1, le=366, description="A user is active with ≥ 1 event in these last days.")


class SeatGrowthRule(_Strict):
    enabled: bool = True
    growth: float = Field(0.2, gt=0, description="Relative growth that fires (0.2 = +20 %).")
    window_days: int = Field(90, ge=1, le=366, description="Compare the last N days with the N days before.")
    min_base: int = Field(3, ge=1, description="Users or seats needed in the earlier window to measure growth.")


class PromoterHealthyRule(_Strict):
    enabled: bool = True
    min_nps: float = Field(9, ge=0, le=10, description="Last NPS answer at or above this (0-10 scale).")
    nps_max_age_days: int = Field(365, ge=1, description="Older NPS answers are not 'the last NPS'.")
    health_score: str = Field("health", description="Score name read from the score history.")
    healthy_bands: list[str] = Field(default_factory=lambda: ["green", "verde"],
                                     description="Bands of the health score that count as healthy.")
    health_max_age_days: int = Field(31, ge=0, description="An older health score counts as unknown.")


class CrossSellRule(_Strict):
    enabled: bool = True
    window_days: int = Field(30, ge=1, le=366, description="Feature use in these last days.")
    min_events: int = Field(1, ge=1, description="Events of a feature needed to count as using it.")


class SignalSettings(_Strict):
    """The ``signals:`` section of ``sinergia.yaml`` (every key optional)."""

    usage_above_licences: UsageAboveLicencesRule = Field(default_factory=UsageAboveLicencesRule)
    seat_growth: SeatGrowthRule = Field(default_factory=SeatGrowthRule)
    promoter_healthy: PromoterHealthyRule = Field(default_factory=PromoterHealthyRule)
    cross_sell: CrossSellRule = Field(default_factory=CrossSellRule)


# --------------------------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------------------------
def expansion_signals(
    source: Any,
    as_of: dt.date,
    settings: SignalSettings | None = None,
    *,
    health: pd.DataFrame | None = None,
    accounts: list[str] | None = None,
    metric_settings: MetricSettings | None = None,
) -> pd.DataFrame:
    """Every enabled rule for every account paying at the end of ``as_of`` (UTC).

    ``source`` is a workspace or a :class:`~sinergia.metrics.context.TableSource`. ``settings`` default to the
    workspace's ``signals:`` section. ``health`` (columns ``account_id``, ``as_of``, ``band``, ``value``)
    replaces the score-history lookup; by default a workspace's stored ``health`` scores are read, and a
    bare table source has none (the promoter rule then reports ``unknown``). ``accounts`` restricts the
    output to these ids. ``metric_settings`` (default: the workspace's ``metrics:`` section) gives the
    feature → plans map of the cross-sell rule and the currency rates of MRR. Columns: ``account_id``,
    ``signal``, ``fired``, ``status``, ``value``, ``threshold``, ``message``, ``message_pt``, ``evidence``.
    """
    import pandas as pd

    from sinergia.metrics.api import _context

    if settings is None:
        settings = getattr(getattr(source, "config", None), "signals", None) or SignalSettings()
    ctx = _context(source, as_of, "day", 1, None, metric_settings, None)
    data = _SignalData(ctx)
    paying = data.paying()
    if accounts is not None:
        paying = paying[paying["account_id"].isin(accounts)]
    ids = sorted(paying["account_id"])
    rows: list[dict[str, Any]] = []
    if settings.usage_above_licences.enabled:
        rows += _usage_above_licences(data, ids, settings.usage_above_licences)
    if settings.seat_growth.enabled:
        rows += _seat_growth(data, ids, settings.seat_growth)
    if settings.promoter_healthy.enabled:
        rule = settings.promoter_healthy
        if health is None:
            health = _stored_health(source, rule.health_score, as_of)
        rows += _promoter_healthy(data, ids, rule, health)
    if settings.cross_sell.enabled:
        rows += _cross_sell(data, ids, settings.cross_sell)
    columns = ["account_id", "signal", "fired", "status", "value", "threshold", "message", "message_pt", "evidence"]
    out = pd.DataFrame(rows, columns=columns)
    order = {name: i for i, name in enumerate(SIGNALS)}
    out = out.sort_values(["account_id", "signal"], key=lambda c: c.map(order) if c.name == "signal" else c)
    return out.reset_index(drop=True)


def _stored_health(source: Any, score: str, as_of: dt.date) -> pd.DataFrame | None:
    """Latest stored health scores on or before ``as_of``; None for a source that is not a workspace."""
    if not hasattr(source, "duckdb_reader"):
        return None
    from sinergia.scores.history import latest_scores

    frame: pd.DataFrame = latest_scores(source, score, as_of)
    return frame


# --------------------------------------------------------------------------------------------------------------
# as-of data
# --------------------------------------------------------------------------------------------------------------
class _SignalData:
    """The as-of slices of the canonical tables the rules read, each fetched once."""

    def __init__(self, ctx: MetricContext) -> None:
        self.ctx = ctx
        self.cut = ctx.cutoff
        self._cache: dict[str, Any] = {}

    def _once(self, key: str, build: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def paying(self) -> pd.DataFrame:
        """(account_id, mrr) with MRR > 0 at the cut-off."""
        from sinergia.metrics.revenue import account_period_mrr

        def build() -> pd.DataFrame:
            mrr = account_period_mrr(self.ctx)
            frame = self.ctx.source.execute(mrr.filter(mrr.end_mrr > 0).select("account_id", mrr=mrr.end_mrr))
            frame["mrr"] = frame["mrr"].astype(float)
            return frame

        result: pd.DataFrame = self._once("paying", build)
        return result

    def events(self, days: int) -> pd.DataFrame:
        """(account_id, contact_id, feature, occurred_at) of usage events in ``[cut - days, cut)``."""
        import ibis

        from sinergia.metrics.lifecycle import events

        def build() -> pd.DataFrame:
            ev = events(self.ctx)
            start = self.cut - dt.timedelta(days=days)
            ev = ev.filter((ev.occurred_at >= ibis.literal(start)) & ev.account_id.notnull())
            return self.ctx.source.execute(ev.select("account_id", "contact_id", "feature", "occurred_at"))

        result: pd.DataFrame = self._once(f"events:{days}", build)
        return result

    def lines(self, at: dt.datetime) -> pd.DataFrame:
        """Non-trial subscription lines in force at ``at`` (≤ the cut-off): id, account, plan, quantity."""
        import ibis

        def build() -> pd.DataFrame:
            subs = self.ctx.table("subscriptions")
            t = ibis.literal(at)
            live = (subs.started_at < t) & (subs.ended_at.isnull() | (subs.ended_at >= t))
            subs = subs.filter(live & ~ibis.coalesce(subs.is_trial, False))
            return self.ctx.source.execute(
                subs.select("subscription_id", "account_id", "plan", "quantity", "started_at", "ended_at")
            )

        result: pd.DataFrame = self._once(f"lines:{at.isoformat()}", build)
        return result

    def accounts(self) -> pd.DataFrame:
        def build() -> pd.DataFrame:
            acc = self.ctx.table("accounts")
            return self.ctx.source.execute(acc.select("account_id", "plan", "licenses")).drop_duplicates("account_id")

        result: pd.DataFrame = self._once("accounts", build)
        return result

    def nps(self, days: int) -> pd.DataFrame:
        """NPS answers with a score in ``[cut - days, cut)``, with the account resolved through the contact."""
        import ibis

        def build() -> pd.DataFrame:
            r = self.ctx.table("survey_responses")
            start = self.cut - dt.timedelta(days=days)
            r = r.filter((r.survey == "nps") & r.score.notnull() & (r.responded_at < ibis.literal(self.cut))
                         & (r.responded_at >= ibis.literal(start)))
            contacts = self.ctx.table("contacts")
            contacts = contacts.select(_c_id=contacts.contact_id, _c_account=contacts.account_id)
            j = r.left_join(contacts, r.contact_id == contacts._c_id)
            return self.ctx.source.execute(j.select(
                "response_id", account_id=ibis.coalesce(j.account_id, j._c_account), contact_id=j.contact_id,
                score=j.score.cast("float64"), scale_min=j.scale_min, scale_max=j.scale_max,
                responded_at=j.responded_at,
            ))

        result: pd.DataFrame = self._once(f"nps:{days}", build)
        return result

    def seats(self, at: dt.datetime) -> pd.DataFrame:
        """Per account: licences at ``at`` with their source and the subscription lines behind them."""
        import pandas as pd

        lines = self.lines(at)
        lines = lines[lines["quantity"].notna()]
        per = lines.groupby("account_id").agg(
            licences=("quantity", "sum"), lines=("subscription_id", list), quantities=("quantity", list)
        )
        per["source"] = "subscriptions.quantity"
        acc = self.accounts()
        fallback = acc[acc["licenses"].notna() & ~acc["account_id"].isin(per.index)].set_index("account_id")
        # accounts.licenses is the value at import time: only used at the cut-off itself, never for a past date.
        if at == self.cut and not fallback.empty:
            extra = pd.DataFrame({"licences": fallback["licenses"].astype(float), "lines": [[]] * len(fallback),
                                  "quantities": [[]] * len(fallback), "source": "accounts.licenses"},
                                 index=fallback.index)
            per = pd.concat([per, extra])
        per["licences"] = per["licences"].astype(float)
        return per


# --------------------------------------------------------------------------------------------------------------
# rules
# --------------------------------------------------------------------------------------------------------------
def _row(account: str, signal: str, status: Status, value: float | None, threshold: float | None, message: str,
         message_pt: str, evidence: dict[str, Any]) -> dict[str, Any]:
    return {
        "account_id": account, "signal": signal, "fired": status == "fired", "status": status,
        "value": None if value is None or not math.isfinite(value) else float(value),
        "threshold": threshold, "message": message, "message_pt": message_pt, "evidence": evidence,
    }


def _capped(values: list[Any]) -> list[Any]:
    return [_plain(v) for v in sorted(values, key=str)[:MAX_EVIDENCE_ROWS]]


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def _active_users(events: pd.DataFrame, start: dt.datetime, end: dt.datetime) -> dict[str, list[str]]:
    window = events[(events["occurred_at"] >= start) & (events["occurred_at"] < end) & events["contact_id"].notna()]
    users: dict[str, list[str]] = window.groupby("account_id")["contact_id"].unique().map(list).to_dict()
    return users


def _pct(value: float) -> str:
    return f"{value * 100:.0f} %"


def _usage_above_licences(data: _SignalData, ids: list[str], rule: UsageAboveLicencesRule) -> list[dict[str, Any]]:
    start = data.cut - dt.timedelta(days=rule.window_days)
    users = _active_users(data.events(rule.window_days), start, data.cut)
    seats = data.seats(data.cut)
    out = []
    for account in ids:
        active = users.get(account, [])
        evidence: dict[str, Any] = {
            "window": [start.isoformat(), data.cut.isoformat()], "active_users": len(active),
            "active_user_ids": _capped(active),
        }
        if account not in seats.index or not seats.at[account, "licences"] > 0:
            evidence["licences"] = None
            out.append(_row(account, "usage_above_licences", "unknown", None, rule.threshold,
                            "licences unknown (no seat count on a subscription line or the account)",
                            "licenças desconhecidas (sem quantidade na assinatura nem na conta)", evidence))
            continue
        licences = float(seats.at[account, "licences"])
        ratio = len(active) / licences
        evidence.update(licences=licences, licences_source=seats.at[account, "source"],
                        subscription_lines=_capped(list(seats.at[account, "lines"])), utilisation=ratio)
        status: Status = "fired" if ratio >= rule.threshold else "not_fired"
        out.append(_row(
            account, "usage_above_licences", status, ratio, rule.threshold,
            f"{len(active)} active users in {rule.window_days} days on {licences:g} licences ({_pct(ratio)})",
            f"{len(active)} usuários ativos em {rule.window_days} dias para {licences:g} licenças ({_pct(ratio)})",
            evidence,
        ))
    return out


def _seat_growth(data: _SignalData, ids: list[str], rule: SeatGrowthRule) -> list[dict[str, Any]]:
    n = dt.timedelta(days=rule.window_days)
    mid, first = data.cut - n, data.cut - 2 * n
    events = data.events(2 * rule.window_days)
    now_users, before_users = _active_users(events, mid, data.cut), _active_users(events, first, mid)
    seats_now, seats_before = data.seats(data.cut), data.seats(mid)
    out = []
    for account in ids:
        u1, u0 = len(now_users.get(account, [])), len(before_users.get(account, []))
        s1 = float(seats_now.at[account, "licences"]) if account in seats_now.index else None
        s0 = float(seats_before.at[account, "licences"]) if account in seats_before.index else None
        user_growth = (u1 - u0) / u0 if u0 >= rule.min_base else None
        seat_growth = (s1 - s0) / s0 if s0 is not None and s1 is not None and s0 >= rule.min_base else None
        evidence: dict[str, Any] = {
            "windows": {"earlier": [first.isoformat(), mid.isoformat()], "recent": [mid.isoformat(),
                                                                                  data.cut.isoformat()]},
            "active_users_earlier": u0, "active_users_recent": u1, "user_growth": user_growth,
            "seats_earlier": s0, "seats_recent": s1, "seat_growth": seat_growth,
            "seat_lines_recent": _capped(list(seats_now.at[account, "lines"])) if account in seats_now.index else [],
            "seat_lines_earlier": (_capped(list(seats_before.at[account, "lines"]))
                                   if account in seats_before.index else []),
        }
        growths = [g for g in (user_growth, seat_growth) if g is not None]
        if not growths:
            out.append(_row(account, "seat_growth", "unknown", None, rule.growth,
                            f"too small a base to measure growth (fewer than {rule.min_base} users and seats)",
                            f"base pequena demais para medir crescimento (menos de {rule.min_base} usuários e "
                            "licenças)", evidence))
            continue
        best = max(growths)
        status: Status = "fired" if best >= rule.growth else "not_fired"
        parts_en, parts_pt = [], []
        if user_growth is not None:
            parts_en.append(f"active users {u0} → {u1} ({user_growth * 100:+.0f} %)")
            parts_pt.append(f"usuários ativos {u0} → {u1} ({user_growth * 100:+.0f} %)")
        if seat_growth is not None:
            parts_en.append(f"seats {s0:g} → {s1:g} ({seat_growth * 100:+.0f} %)")
            parts_pt.append(f"licenças {s0:g} → {s1:g} ({seat_growth * 100:+.0f} %)")
        out.append(_row(account, "seat_growth", status, best, rule.growth,
                        f"{'; '.join(parts_en)} over {rule.window_days} days",
                        f"{'; '.join(parts_pt)} em {rule.window_days} dias", evidence))
    return out


def _nps_on_ten(row: Any) -> float:
    """An NPS answer on the 0-10 scale (answers stored on another scale are rescaled linearly)."""
    low = 0.0 if _missing(row.scale_min) else float(row.scale_min)
    high = 10.0 if _missing(row.scale_max) else float(row.scale_max)
    if high <= low:
        return float(row.score)
    return (float(row.score) - low) / (high - low) * 10.0


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value) in ("<NA>", "NaT")


def _promoter_healthy(data: _SignalData, ids: list[str], rule: PromoterHealthyRule,
                      health: pd.DataFrame | None) -> list[dict[str, Any]]:
    answers = data.nps(rule.nps_max_age_days)
    answers = answers[answers["account_id"].notna()].sort_values(["account_id", "responded_at", "response_id"])
    last = answers.groupby("account_id").tail(1).set_index("account_id")
    bands = {b.lower() for b in rule.healthy_bands}
    as_of = (data.cut - dt.timedelta(days=1)).date()
    latest: dict[str, Any] = {}
    if health is not None and not health.empty:
        import pandas as pd

        days = pd.to_datetime(health["as_of"]).dt.date
        known = health[days <= as_of].assign(_day=days[days <= as_of]).sort_values("_day", kind="stable")
        for row in known.itertuples(index=False):  # the latest row on or before as_of wins
            latest[str(row.account_id)] = row
    out = []
    for account in ids:
        evidence: dict[str, Any] = {"nps_window_days": rule.nps_max_age_days}
        nps: float | None = None
        if account in last.index:
            answer = last.loc[account]
            nps = _nps_on_ten(answer)
            evidence.update(nps=nps, nps_response_id=str(answer["response_id"]),
                            nps_contact_id=None if _missing(answer["contact_id"]) else str(answer["contact_id"]),
                            nps_responded_at=_plain(answer["responded_at"]))
        else:
            evidence["nps"] = None
        score = latest.get(account)
        health_age = None
        if score is not None:
            score_day = score.as_of if isinstance(score.as_of, dt.date) else dt.date.fromisoformat(str(score.as_of))
            health_age = (as_of - score_day).days
            evidence.update(health_as_of=score_day.isoformat(), health_value=_plain(score.value),
                            health_band=score.band, health_age_days=health_age)
        health_known = score is not None and health_age is not None and 0 <= health_age <= rule.health_max_age_days
        promoter = nps is not None and nps >= rule.min_nps
        nps_en = f"last NPS {nps:g}" if nps is not None else f"no NPS answer in {rule.nps_max_age_days} days"
        nps_pt = f"último NPS {nps:g}" if nps is not None else f"sem resposta de NPS em {rule.nps_max_age_days} dias"
        if not health_known:
            why = "no health score" if score is None else f"health score is {health_age} days old"
            why_pt = "sem health score" if score is None else f"health score de {health_age} dias atrás"
            status: Status = "unknown" if promoter else "not_fired"
            out.append(_row(account, "promoter_healthy", status, nps, rule.min_nps,
                            f"{nps_en}; health unknown ({why})", f"{nps_pt}; saúde desconhecida ({why_pt})",
                            evidence))
            continue
        assert score is not None
        healthy = str(score.band or "").lower() in bands
        status = "fired" if promoter and healthy else "not_fired"
        out.append(_row(account, "promoter_healthy", status, nps, rule.min_nps,
                        f"{nps_en}; health band {score.band}", f"{nps_pt}; faixa de saúde {score.band}", evidence))
    return out


def _cross_sell(data: _SignalData, ids: list[str], rule: CrossSellRule) -> list[dict[str, Any]]:
    restricted = {name: set(f.plans) for name, f in data.ctx.settings.features.items() if f.plans is not None}
    if not restricted:
        return [_row(account, "cross_sell", "not_configured", None, None,
                     "no feature is reserved to plans (metrics.features.<feature>.plans)",
                     "nenhuma funcionalidade restrita a planos (metrics.features.<feature>.plans)", {})
                for account in ids]
    start = data.cut - dt.timedelta(days=rule.window_days)
    events = data.events(rule.window_days)
    events = events[events["feature"].isin(list(restricted))]
    use = events.groupby(["account_id", "feature"]).agg(events=("occurred_at", "size"), last=("occurred_at", "max"))
    use = use[use["events"] >= rule.min_events].reset_index()
    by_account = dict(list(use.groupby("account_id")))
    lines = data.lines(data.cut)
    line_plans = lines[lines["plan"].notna()].groupby("account_id")["plan"].unique().map(set).to_dict()
    acc = data.accounts().set_index("account_id")
    out = []
    for account in ids:
        plans: set[str] = set(line_plans.get(account, set()))
        plan_source = "subscriptions.plan"
        if not plans and account in acc.index and not _missing(acc.at[account, "plan"]):
            plans, plan_source = {str(acc.at[account, "plan"])}, "accounts.plan"
        used = by_account.get(account)
        outside = []
        if used is not None:
            for row in used.itertuples(index=False):
                if not (restricted[row.feature] & plans):
                    outside.append({"feature": row.feature, "events": int(row.events), "last_used": _plain(row.last),
                                    "plans_with_feature": sorted(restricted[row.feature])})
        evidence = {"window": [start.isoformat(), data.cut.isoformat()], "account_plans": sorted(plans),
                    "plan_source": plan_source if plans else None, "features_outside_plan": outside}
        if outside:
            names = ", ".join(f["feature"] for f in outside)
            out.append(_row(account, "cross_sell", "fired", float(len(outside)), float(rule.min_events),
                            f"uses {names}, not in its plan ({', '.join(sorted(plans)) or 'none'})",
                            f"usa {names}, fora do seu plano ({', '.join(sorted(plans)) or 'nenhum'})", evidence))
        else:
            out.append(_row(account, "cross_sell", "not_fired", 0.0, float(rule.min_events),
                            "uses no feature outside its plan", "não usa funcionalidade fora do plano", evidence))
    return out


def check_signal(name: str) -> str:
    """``name`` if it is a signal; a UsageError listing them otherwise."""
    if name not in SIGNALS:
        raise UsageError(f"unknown signal '{name}'; signals: {', '.join(SIGNALS)}")
    return name
