"""Health scores from the workspace's scorecards, explained measure by measure, as of any date.

Python API::

    from sinergia.scores.health import score_accounts, compute_history, explain
    frame = score_accounts(ws, date(2026, 10, 31))            # account_id, scorecard, score, band, trend, explanation
    compute_history(ws, date(2026, 8, 1), date(2026, 10, 31))  # writes score="health" rows per account and day

Formulas (``docs/health.md``):

* weighted — measure score ``sᵢ`` (0–100) from its scoring; effective weight ``eᵢ = wᵢ / Σ_present w``
  (two-level: ``eᵢ = (G_g / Σ_present G) · (wᵢ / Σ_present-in-g w)``); score ``= Σ eᵢ·sᵢ``; contribution ``eᵢ·sᵢ``;
  points lost ``eᵢ·(100 − sᵢ)``; so Σ contributions = score and Σ points lost = 100 − score;
* rules — the first rule whose conditions hold gives the band and its score (the band's midpoint by default);
* points — ``base + Σ points of the criteria that hold`` (group totals capped at ``max_points``), clamped to
  ``[min_score, max_score]``; the explanation lists the adjustments, so its terms add up to the score.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import pandas as pd

from sinergia.errors import UsageError
from sinergia.metrics.context import TableSource
from sinergia.metrics.periods import cutoff
from sinergia.metrics.settings import MetricSettings
from sinergia.scores.config import (
    ASSIGNABLE,
    Condition,
    Criterion,
    GradeScoring,
    IdentityScoring,
    LinearScoring,
    Measure,
    Scorecard,
    ThresholdScoring,
    default_scorecard,
)
from sinergia.scores.features import (
    BATCHED,
    feature_values,
    feature_values_many,
    metric_by_account,
    sentiment_values,
    zero_when_absent,
)

if TYPE_CHECKING:
    from sinergia.workspace.workspace import Workspace

SCORE_NAME = "health"
RESULT_COLUMNS = ["account_id", "scorecard", "score", "band", "trend", "explanation"]
Value = float | str | None


# -- measure scoring ----------------------------------------------------------------------------------------
def measure_score(measure: Measure, value: Value) -> float | None:
    """The 0–100 score of one raw value under the measure's scoring (None: no scoring, or missing value)."""
    if value is None:
        return None
    scoring = measure.scoring
    if scoring is None:
        if measure.sentiment is None:
            return None
        scoring = GradeScoring(type="grade")
    if isinstance(value, str):
        if isinstance(scoring, GradeScoring) and value in scoring.scores:
            return float(scoring.scores[value])
        raise UsageError(
            f"measure '{measure.key}': the value {value!r} is text; only a grade scoring maps good/average/poor"
        )
    x = float(value)
    if isinstance(scoring, IdentityScoring):
        return min(100.0, max(0.0, x))
    if isinstance(scoring, LinearScoring):
        points = scoring.points
        if x <= points[0][0]:
            return float(points[0][1])
        if x >= points[-1][0]:
            return float(points[-1][1])
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            if x0 <= x <= x1:
                return float(y0 + (y1 - y0) * (x - x0) / (x1 - x0))
        raise AssertionError(x)  # pragma: no cover
    if isinstance(scoring, ThresholdScoring):
        for step in scoring.steps:
            if (step.min is None or x >= step.min) and (step.max is None or x <= step.max):
                return float(step.score)
        raise AssertionError(x)  # pragma: no cover - the last step is a catch-all
    assert isinstance(scoring, GradeScoring)
    if scoring.good_at is None or scoring.poor_at is None:
        return min(100.0, max(0.0, x))  # a number given where labels were expected: already a 0-100 score
    higher_better = scoring.good_at > scoring.poor_at
    good = x >= scoring.good_at if higher_better else x <= scoring.good_at
    poor = x <= scoring.poor_at if higher_better else x >= scoring.poor_at
    return float(scoring.scores["good" if good else "poor" if poor else "average"])


def condition_holds(cond: Condition | Criterion, value: Value) -> bool:
    if cond.op == "missing":
        return value is None
    if cond.op == "present":
        return value is not None
    if value is None:
        return False
    target = cond.value
    if isinstance(target, str) or isinstance(value, str):
        if cond.op == "==":
            return str(value) == str(target)
        if cond.op == "!=":
            return str(value) != str(target)
        return False
    assert target is not None
    x, t = float(value), float(target)
    return {"<": x < t, "<=": x <= t, ">": x > t, ">=": x >= t, "==": x == t, "!=": x != t}[cond.op]


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


def _plain(value: Value) -> Value:
    if value is None or isinstance(value, str):
        return value
    return _r(float(value))


# -- one account, one scorecard -----------------------------------------------------------------------------
@dataclass
class AccountScore:
    score: float | None
    explanation: dict[str, Any] = field(default_factory=dict)


def _measure_rows(
    card: Scorecard, values: dict[str, Value], details: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    rows = []
    for m in card.measures:
        value = values.get(m.key)
        row: dict[str, Any] = {
            "name": m.key,
            "title": m.titles(),
            "source": m.source_text(),
            "group": m.group,
            "value": _plain(value),
            "score": _r(measure_score(m, value)),
            "missing": value is None,
        }
        if m.key in details:
            row["detail"] = details[m.key]
        rows.append(row)
    return rows


def score_weighted(card: Scorecard, values: dict[str, Value], details: dict[str, dict[str, Any]]) -> AccountScore:
    rows = _measure_rows(card, values, details)
    policy = card.missing
    for row in rows:
        if row["missing"] and policy.policy == "score":
            row["score"] = float(policy.score)
            row["scored_as_missing"] = True
    measures = {m.key: m for m in card.measures}
    group_weights = {g.name: g.weight for g in card.groups}
    two_level = bool(card.groups) and all(w is not None for w in group_weights.values())

    def effective(included: list[dict[str, Any]]) -> dict[str, float]:
        if not two_level:
            total = sum(measures[r["name"]].weight for r in included)
            return {r["name"]: (measures[r["name"]].weight / total if total else 0.0) for r in included}
        by_group: dict[str, list[dict[str, Any]]] = {}
        for r in included:
            by_group.setdefault(r["group"], []).append(r)
        sums = {g: sum(measures[r["name"]].weight for r in rs) for g, rs in by_group.items()}
        live = {g: float(group_weights[g] or 0.0) for g, s in sums.items() if s > 0}
        total_g = sum(live.values())
        out = {}
        for r in included:
            g = r["group"]
            share = live.get(g, 0.0) / total_g if total_g and g in live else 0.0
            out[r["name"]] = share * (measures[r["name"]].weight / sums[g] if sums[g] else 0.0)
        return out

    nominal = effective(rows)
    present = [r for r in rows if r["score"] is not None]
    coverage = sum(nominal[r["name"]] for r in present)
    eff = effective(present)
    missing = [r["name"] for r in rows if r["missing"]]
    reweighted = policy.policy == "reweight" and bool(missing)
    score: float | None = None
    if present and coverage + 1e-12 >= policy.min_coverage and sum(eff.values()) > 0:
        score = sum(eff[r["name"]] * r["score"] for r in present)
    for r in rows:
        w = measures[r["name"]].weight
        r["weight"] = w
        r["nominal_share"] = _r(nominal[r["name"]])
        if r["name"] in eff and score is not None:
            e = eff[r["name"]]
            r["effective_weight"] = _r(e)
            r["contribution"] = _r(e * r["score"])
            r["points_lost"] = _r(e * (100.0 - r["score"]))
        else:
            r["effective_weight"] = 0.0
            r["contribution"] = 0.0 if score is not None else None
            r["points_lost"] = 0.0 if score is not None else None
    groups = []
    for g in card.groups:
        members = [r for r in present if r["group"] == g.name]
        wsum = sum(measures[r["name"]].weight for r in members)
        groups.append(
            {
                "name": g.name,
                "title": g.title.as_dict() if g.title else {"en": g.name, "pt-BR": g.name},
                "weight": g.weight,
                "score": _r(sum(measures[r["name"]].weight * r["score"] for r in members) / wsum) if wsum else None,
                "contribution": _r(sum(r["contribution"] or 0.0 for r in members)) if score is not None else None,
                "points_lost": _r(sum(r["points_lost"] or 0.0 for r in members)) if score is not None else None,
            }
        )
    explanation: dict[str, Any] = {
        "style": "weighted",
        "formula": "score = Σ effective_weight × measure score; points_lost = effective_weight × (100 − measure score)",
        "coverage": _r(coverage),
        "min_coverage": policy.min_coverage,
        "missing": missing,
        "missing_policy": policy.policy,
        "reweighted": reweighted,
        "measures": rows,
        "groups": groups,
    }
    if reweighted and score is not None:
        explanation["note"] = {
            "en": f"{', '.join(missing)} missing: the other measures' weights were scaled up to 100 %",
            "pt-BR": f"{', '.join(missing)} sem dado: os pesos das outras medidas foram reescalados para 100 %",
        }
    if score is None:
        explanation["note"] = {
            "en": f"not scored: only {coverage:.0%} of the weight has data (needs {policy.min_coverage:.0%})",
            "pt-BR": f"sem nota: só {coverage:.0%} do peso tem dados (mínimo {policy.min_coverage:.0%})",
        }
    return AccountScore(score, explanation)


def score_rules(card: Scorecard, values: dict[str, Value], details: dict[str, dict[str, Any]]) -> AccountScore:
    rows = _measure_rows(card, values, details)
    checked = []
    for i, rule in enumerate(card.rules):
        results = [
            {
                "measure": c.measure,
                "op": c.op,
                "threshold": c.value,
                "value": _plain(values.get(c.measure)),
                "holds": condition_holds(c, values.get(c.measure)),
                "missing": values.get(c.measure) is None,
            }
            for c in rule.when
        ]
        holds = not results or (
            all(r["holds"] for r in results) if rule.match == "all" else any(r["holds"] for r in results)
        )
        entry = {
            "rule": i,
            "name": rule.name or f"rule {i + 1}",
            "band": rule.band,
            "match": rule.match,
            "conditions": results,
            "matched": holds,
        }
        checked.append(entry)
        if holds:
            score = rule.score if rule.score is not None else card.band_midpoint(rule.band)
            return AccountScore(
                float(score),
                {
                    "style": "rules",
                    "formula": "the first rule whose conditions hold gives the band; "
                    "score = the rule's score or the band's midpoint",
                    "matched_rule": entry,
                    "rules_checked": checked,
                    "points_lost": _r(100.0 - score),
                    "forced_band": rule.band,
                    "measures": rows,
                },
            )
    raise AssertionError("the last rule always matches")  # pragma: no cover - validated


def _criterion_name(c: Criterion) -> str:
    if c.value is None:
        return f"{c.measure} {c.op}"
    shown = f"{c.value:g}" if isinstance(c.value, float) else str(c.value)
    return f"{c.measure} {c.op} {shown}"


def score_points(card: Scorecard, values: dict[str, Value], details: dict[str, dict[str, Any]]) -> AccountScore:
    rows = _measure_rows(card, values, details)
    criteria: list[dict[str, Any]] = []
    by_group: dict[str | None, float] = {}
    for i, c in enumerate(card.criteria):
        value = values.get(c.measure)
        holds = condition_holds(c, value)
        awarded = float(c.points) if holds else 0.0
        by_group[c.group] = by_group.get(c.group, 0.0) + awarded
        lost = c.points if c.points > 0 and not holds else -c.points if c.points < 0 and holds else 0.0
        criteria.append(
            {
                "criterion": i,
                "name": c.name or _criterion_name(c),
                "measure": c.measure,
                "op": c.op,
                "threshold": c.value,
                "value": _plain(value),
                "missing": value is None,
                "holds": holds,
                "points": c.points,
                "awarded": awarded,
                "points_lost": float(lost),
                "group": c.group,
            }
        )
    for row in rows:  # per measure: what its criteria awarded and lost (so measure-level readers see the effect)
        mine = [c for c in criteria if c["measure"] == row["name"]]
        row["awarded"] = _r(sum(c["awarded"] for c in mine))
        row["points_lost"] = _r(sum(c["points_lost"] for c in mine))
    adjustments = []
    total = float(card.base)
    for g in card.groups:
        raw = by_group.get(g.name, 0.0)
        capped = raw if g.max_points is None else min(max(raw, 0.0), g.max_points)
        if capped != raw:
            adjustments.append(
                {
                    "kind": "group_cap",
                    "group": g.name,
                    "points": _r(capped - raw),
                    "detail": f"group total {raw:g} kept within [0, {g.max_points:g}]",
                }
            )
        total += capped
    total += by_group.get(None, 0.0)
    clamped = min(max(total, card.min_score), card.max_score)
    if clamped != total:
        adjustments.append(
            {
                "kind": "clamp",
                "points": _r(clamped - total),
                "detail": f"total {total:g} kept within [{card.min_score:g}, {card.max_score:g}]",
            }
        )
    return AccountScore(
        clamped,
        {
            "style": "points",
            "formula": "score = base + Σ awarded points (+ group caps and clamp adjustments)",
            "base": card.base,
            "criteria": criteria,
            "adjustments": adjustments,
            "min_score": card.min_score,
            "max_score": card.max_score,
            "measures": rows,
        },
    )


def score_card(
    card: Scorecard, values: dict[str, Value], details: dict[str, dict[str, Any]] | None = None
) -> AccountScore:
    """Score one account's measure values (``{measure name: raw value or None}``) with ``card``."""
    details = details or {}
    if card.style == "weighted":
        return score_weighted(card, values, details)
    if card.style == "rules":
        return score_rules(card, values, details)
    return score_points(card, values, details)


def _drags(explanation: dict[str, Any]) -> list[dict[str, Any]]:
    titles = {r["name"]: r["title"] for r in explanation["measures"]}
    if explanation["style"] == "weighted":
        items = [(r["name"], r["title"], r["points_lost"]) for r in explanation["measures"] if r.get("points_lost")]
    elif explanation["style"] == "points":
        items = [
            (c["name"], titles.get(c["measure"], {"en": c["name"], "pt-BR": c["name"]}), c["points_lost"])
            for c in explanation["criteria"]
            if c["points_lost"]
        ]
    else:
        held = [c["measure"] for c in explanation["matched_rule"]["conditions"] if c["holds"]]
        return [{"name": m, "title": titles[m], "points_lost": None} for m in held]
    items.sort(key=lambda item: -float(item[2]))
    return [{"name": n, "title": t, "points_lost": _r(p)} for n, t, p in items if p and p > 0]


def _summary(explanation: dict[str, Any], score: float | None, band: dict[str, Any] | None) -> dict[str, str]:
    if score is None:
        note = explanation.get("note") or {"en": "not scored", "pt-BR": "sem nota"}
        return dict(note)
    drags = explanation["top_drags"][:3]
    head_en = f"{score:.1f} ({band['label']['en'] if band else ''})"
    head_pt = f"{score:.1f} ({band['label']['pt-BR'] if band else ''})".replace(".", ",", 1)
    if explanation["style"] == "rules":
        rule = explanation["matched_rule"]
        return {
            "en": f"{head_en}: rule '{rule['name']}' matched",
            "pt-BR": f"{head_pt}: regra '{rule['name']}' aplicada",
        }
    if not drags:
        return {"en": f"{head_en}: no measure lost points", "pt-BR": f"{head_pt}: nenhuma medida perdeu pontos"}
    parts = ", ".join(f"{d['title']['en']} (−{d['points_lost']:.1f})" for d in drags)
    parts_pt = ", ".join(f"{d['title']['pt-BR']} (−{d['points_lost']:.1f})".replace(".", ",") for d in drags)
    return {
        "en": f"{head_en}: pulled down most by {parts}",
        "pt-BR": f"{head_pt}: o que mais puxou para baixo: {parts_pt}",
    }


# -- data: accounts, assignment, inputs ---------------------------------------------------------------------
@dataclass
class Inputs:
    """Where scores read from: the canonical tables, the workspace folder (sentiment file), settings."""

    source: TableSource
    path: Path | None
    settings: MetricSettings
    currency: str
    cards: list[Scorecard]
    _values: dict[tuple[Any, ...], tuple[pd.Series, dict[str, dict[str, Any]]]] = field(default_factory=dict)
    _accounts: dict[tuple[dt.date, str], pd.DataFrame] = field(default_factory=dict)

    def accounts(self, as_of: dt.date, mode: str) -> pd.DataFrame:
        """Accounts that exist on ``as_of`` (created before its end), with the assignable attributes.

        ``active`` keeps those with a subscription live on the date (not a trial), unless the workspace has
        no subscriptions at all (non-contractual businesses), where every existing account is scored.
        """
        key = (as_of, mode)
        if key not in self._accounts:
            end = ibis.literal(cutoff(as_of), type="timestamp")
            acc = self.source.table("accounts")
            acc = acc.filter(acc.created_at.isnull() | (acc.created_at < end)).select("account_id", *ASSIGNABLE)
            if mode == "active":
                subs = self.source.table("subscriptions")
                if int(self.source.execute(subs.count())) > 0:
                    live = (
                        subs.filter(
                            (subs.started_at < end)
                            & (subs.ended_at.isnull() | (subs.ended_at >= end))
                            & ~ibis.coalesce(subs.is_trial, False)
                        )
                        .select(live_id=subs.account_id)
                        .distinct()
                    )
                    acc = acc.semi_join(live, acc.account_id == live.live_id)
            frame = self.source.execute(acc)
            frame["account_id"] = frame["account_id"].astype(str)
            self._accounts[key] = frame.sort_values("account_id").reset_index(drop=True)
        return self._accounts[key]

    def prefetch(self, dates: list[dt.date]) -> None:
        """Compute every feature measure of every scorecard for all ``dates`` at once (one query per feature)."""
        seen: set[tuple[str, str]] = set()
        for card in self.cards:
            for m in card.measures:
                if m.feature is None or m.feature not in BATCHED:
                    continue
                params = json.dumps(m.params, sort_keys=True)
                if (m.feature, params) in seen:
                    continue
                seen.add((m.feature, params))
                wanted = [d for d in dates if ("feature", m.feature, params, d) not in self._values]
                many = feature_values_many(
                    self.source, m.feature, wanted, m.params, settings=self.settings, currency=self.currency
                )
                for day, series in many.items():
                    self._values[("feature", m.feature, params, day)] = (series, {})

    def values(self, measure: Measure, as_of: dt.date) -> tuple[pd.Series, dict[str, dict[str, Any]]]:
        if measure.metric is not None:
            key: tuple[Any, ...] = ("metric", measure.metric, measure.window_days, as_of)
        elif measure.feature is not None:
            key = ("feature", measure.feature, json.dumps(measure.params, sort_keys=True), as_of)
        else:
            assert measure.sentiment is not None
            key = ("sentiment", measure.sentiment.file, measure.sentiment.valid_days, as_of)
        if key not in self._values:
            if measure.metric is not None:
                frame = metric_by_account(
                    self.source,
                    measure.metric,
                    as_of,
                    window_days=measure.window_days,
                    settings=self.settings,
                    currency=self.currency,
                )
                frame = frame[frame["value"].notna()]
                series = pd.Series(
                    [float(v) for v in frame["value"]], index=[str(a) for a in frame["account_id"]], dtype="float64"
                )
                self._values[key] = (series, {})
            elif measure.feature is not None:
                series = feature_values(
                    self.source, measure.feature, as_of, measure.params, settings=self.settings, currency=self.currency
                )
                self._values[key] = (series, {})
            else:
                self._values[key] = sentiment_values(self.path, measure, as_of)
        return self._values[key]


def assign_scorecards(cards: list[Scorecard], accounts: pd.DataFrame) -> list[str | None]:
    """The scorecard of each account: the first non-default card whose ``applies_to`` matches, else the default."""
    default = next((c.name for c in cards if c.default), None)
    out: list[str | None] = []
    for row in accounts.to_dict("records"):
        chosen = None
        for card in cards:
            if card.default:
                continue
            if all(
                row.get(attr) is not None and str(row.get(attr)) in values for attr, values in card.applies_to.items()
            ):
                chosen = card.name
                break
        out.append(chosen or default)
    return out


def scorecards_of(workspace: Workspace) -> list[Scorecard]:
    return list(workspace.config.scorecards) or [default_scorecard()]


def _band_dict(card: Scorecard, name: str) -> dict[str, Any]:
    band = next(b for b in card.bands if b.name == name)
    return {"name": band.name, "label": band.labels(), "min": band.min, "color": band.color}


def _score_day(inputs: Inputs, as_of: dt.date, only: str | None) -> dict[str, tuple[str, AccountScore, str | None]]:
    """account → (scorecard, result, band) for every account scored on ``as_of``."""
    cards = {c.name: c for c in inputs.cards}
    out: dict[str, tuple[str, AccountScore, str | None]] = {}
    for mode in sorted({c.accounts for c in inputs.cards}):
        accounts = inputs.accounts(as_of, mode)
        names = [only] * len(accounts) if only else assign_scorecards(inputs.cards, accounts)
        for card_name in sorted({n for n in names if n is not None}):
            card = cards[card_name]
            if card.accounts != mode:
                continue
            ids = [a for a, n in zip(accounts["account_id"], names, strict=True) if n == card_name]
            columns = {m.key: inputs.values(m, as_of) for m in card.measures}
            zero = {m.key for m in card.measures if m.metric is not None and zero_when_absent(m.metric)}
            for account in ids:
                vals: dict[str, Value] = {}
                details: dict[str, dict[str, Any]] = {}
                for key, (series, info) in columns.items():
                    raw = series.get(account)
                    vals[key] = None if raw is None or (isinstance(raw, float) and math.isnan(raw)) else raw
                    if vals[key] is None and key in zero:
                        vals[key] = 0.0
                    if account in info:
                        details[key] = info[account]
                result = score_card(card, vals, details)
                band = None
                if result.score is not None:
                    band = result.explanation.get("forced_band") or card.band_for(result.score).name
                out[account] = (card_name, result, band)
    return out


def _trend(card: Scorecard, score: float | None, previous: float | None) -> tuple[str | None, dict[str, Any]]:
    info: dict[str, Any] = {"days": card.trend.days, "tolerance": card.trend.tolerance, "previous": _r(previous)}
    if score is None or previous is None:
        info["direction"] = None
        return None, info
    delta = score - previous
    direction = "up" if delta > card.trend.tolerance else "down" if delta < -card.trend.tolerance else "same"
    info.update(delta=_r(delta), direction=direction)
    return direction, info


def _rows(inputs: Inputs, as_of: dt.date, only: str | None, memo: dict[dt.date, dict[str, Any]]) -> pd.DataFrame:
    def day(d: dt.date) -> dict[str, tuple[str, AccountScore, str | None]]:
        if d not in memo:
            memo[d] = _score_day(inputs, d, only)
        return memo[d]

    today = day(as_of)
    cards = {c.name: c for c in inputs.cards}
    records = []
    by_days: dict[int, dict[str, Any]] = {}
    for account in sorted(today):
        card_name, result, band = today[account]
        card = cards[card_name]
        if card.trend.days not in by_days:
            by_days[card.trend.days] = day(as_of - dt.timedelta(days=card.trend.days))
        before = by_days[card.trend.days].get(account)
        trend, trend_info = _trend(card, result.score, before[1].score if before else None)
        explanation = {
            "scorecard": card.name,
            "scorecard_title": card.titles(),
            "as_of": as_of.isoformat(),
            "score": _r(result.score),
            "band": _band_dict(card, band) if band else None,
            **result.explanation,
            "trend": trend_info,
        }
        explanation.pop("forced_band", None)
        explanation["top_drags"] = _drags(explanation)
        explanation["summary"] = _summary(explanation, result.score, explanation["band"])
        records.append(
            {
                "account_id": account,
                "scorecard": card.name,
                "score": math.nan if result.score is None else float(result.score),
                "band": band,
                "trend": trend,
                "explanation": explanation,
            }
        )
    return pd.DataFrame.from_records(records, columns=RESULT_COLUMNS)


def _inputs(workspace: Workspace, cards: list[Scorecard] | None = None) -> Inputs:
    return Inputs(
        TableSource.from_workspace(workspace),
        workspace.path,
        workspace.config.metrics,
        workspace.config.currency,
        cards or scorecards_of(workspace),
    )


def _check_date(value: Any, what: str) -> dt.date:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise UsageError(f"{what} must be a date (YYYY-MM-DD); there is no default")
    return value


def _pick(cards: list[Scorecard], scorecard: str | None) -> str | None:
    if scorecard is not None and scorecard not in {c.name for c in cards}:
        raise UsageError(f"unknown scorecard '{scorecard}'; scorecards: {', '.join(c.name for c in cards)}")
    return scorecard


def score_accounts(workspace: Workspace, as_of: dt.date, *, scorecard: str | None = None) -> pd.DataFrame:
    """Health of every scored account as of ``as_of``: account_id, scorecard, score, band, trend, explanation.

    Accounts get the first scorecard whose ``applies_to`` matches them, else the default one; with
    ``scorecard=NAME`` every account is scored with that one. ``score`` is NaN (and band None) when too few
    measures have data (``missing.min_coverage``); the explanation says so.
    """
    _check_date(as_of, "as_of")
    inputs = _inputs(workspace)
    return _rows(inputs, as_of, _pick(inputs.cards, scorecard), {})


def score_source(
    source: TableSource,
    as_of: dt.date,
    cards: Iterable[Scorecard],
    *,
    path: Path | None = None,
    settings: MetricSettings | None = None,
    currency: str = "BRL",
    scorecard: str | None = None,
) -> pd.DataFrame:
    """:func:`score_accounts` on any Ibis table source with explicit scorecards (engines, tests)."""
    _check_date(as_of, "as_of")
    card_list = list(cards) or [default_scorecard()]
    inputs = Inputs(source, path, settings or MetricSettings(), currency, card_list)
    return _rows(inputs, as_of, _pick(card_list, scorecard), {})


def explain(workspace: Workspace, account_id: str, as_of: dt.date) -> dict[str, Any]:
    """The explanation of one account's health on ``as_of`` (a UsageError when the account is not scored)."""
    frame = score_accounts(workspace, as_of)
    hit = frame[frame["account_id"] == str(account_id)]
    if hit.empty:
        raise UsageError(
            f"account '{account_id}' has no health score on {as_of.isoformat()} (unknown, created later, or no live "
            "subscription on that date)"
        )
    explanation: dict[str, Any] = hit.iloc[0]["explanation"]
    return {"account_id": str(account_id), **explanation}


def model_version(cards: list[Scorecard]) -> str:
    """``scorecards:<hash>`` of the scorecard definitions, so stored scores say which definitions made them."""
    text = json.dumps([c.model_dump(mode="json", by_alias=True) for c in cards], sort_keys=True)
    return "scorecards:" + hashlib.sha256(text.encode()).hexdigest()[:12]


def history_frame(workspace: Workspace, start: dt.date, end: dt.date, *, every_days: int = 1) -> pd.DataFrame:
    """Scores for ``start``, ``start + every_days``, … ≤ ``end`` (with an ``as_of`` column), not yet stored."""
    _check_date(start, "start")
    _check_date(end, "end")
    if end < start:
        raise UsageError(f"end {end.isoformat()} is before start {start.isoformat()}")
    if every_days < 1:
        raise UsageError("every_days must be at least 1")
    inputs = _inputs(workspace)
    days = [start + dt.timedelta(days=i) for i in range(0, (end - start).days + 1, every_days)]
    trend_days = {card.trend.days for card in inputs.cards}
    inputs.prefetch(sorted(set(days) | {d - dt.timedelta(days=n) for d in days for n in trend_days}))
    memo: dict[dt.date, dict[str, Any]] = {}
    frames = [_rows(inputs, day, None, memo).assign(as_of=day) for day in days]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*RESULT_COLUMNS, "as_of"])


def compute_history(workspace: Workspace, start: dt.date, end: dt.date, *, every_days: int = 1) -> int:
    """Compute health for each day from ``start`` to ``end`` (every ``every_days``) and store it with
    :func:`~sinergia.scores.history.write_scores` (``score="health"``, one atomic write). Accounts without a
    score (too little data) are not stored. Returns the number of rows written."""
    from sinergia.scores.history import write_scores

    frame = history_frame(workspace, start, end, every_days=every_days)
    frame = frame[frame["score"].notna()]
    out = pd.DataFrame(
        {
            "account_id": frame["account_id"],
            "as_of": frame["as_of"],
            "value": frame["score"].astype(float),
            "band": frame["band"],
            "trend": frame["trend"],
            "explanation": frame["explanation"],
        }
    )
    return write_scores(workspace, out, score=SCORE_NAME, model_version=model_version(scorecards_of(workspace)))
