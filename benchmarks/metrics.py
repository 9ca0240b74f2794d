"""Metrics throughput: every registered metric, monthly over 24 months, against pandas and a raw DuckDB pass.

The workload (issue: metrics registry): a demo workspace of 100k accounts with ~10M usage events, ~1M
tickets (and their ticket_events) and ~500k survey answers. The demo generator's volumes per account are
~880 usage events, ~11 tickets and ~9 survey answers, so the workspace is generated with
``usage_scale=0.114`` and ``survey_scale=0.55`` (each account keeps that share of its events/answers,
see :func:`sinergia.demo.generator._thin`) and tickets at the demo's own rate; the actual row counts are
printed. It is ingested with ``ingest_files(..., preset="sinergia")`` and cached under ``--cache``
(reused when present with the same parameters).

Three measurements:

* **ours**: ``sinergia.metrics.compute(ws, <every registered metric>, as_of=2026-10-31, period="month",
  count=24)`` with the benchmark's metric settings (:data:`SETTINGS`: FX rates, milestones, outcomes,
  plan-gated features, a business-hours calendar and SLA policies, so no metric is trivially empty); also
  per family and per metric (the slowest 10 are listed);
* **pandas**: the same metrics written plainly in pandas inside this file (:class:`PandasMetrics`) —
  the canonical tables are loaded first with ``ws.duckdb_reader().execute("SELECT ...").df()`` (timed
  separately, not counted), then groupby/merge code per metric following each metric's card. Values are
  compared with ours for every metric and month of the common set; metrics without a pandas version
  are listed and the ratio is on the common set;
* **raw DuckDB pass**: one ``SELECT`` that groups usage_events, tickets, ticket_events, survey_responses,
  subscriptions and subscription_changes by month, touching every column the metrics read — the
  practical floor.

Goals: ours under 60 s, at least 10x faster than pandas, within 5x of the raw pass. Every time is given in
wall seconds and in CPU seconds of the process (the steadier figure on a shared machine); the ratios in both.

    .venv/bin/python benchmarks/metrics.py                       # 100k accounts (cached in benchmarks/out)
    .venv/bin/python benchmarks/metrics.py --quick               # 5k accounts smoke run
    .venv/bin/python benchmarks/metrics.py --accounts 20000 --cache /tmp/ws20k --no-pandas
    .venv/bin/python benchmarks/metrics.py --no-single --json out.json   # per family, no single-metric runs
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from sinergia.metrics.settings import MetricSettings

HERE = Path(__file__).resolve().parent

AS_OF = dt.date(2026, 10, 31)
PERIOD = "month"
#: Demo volumes per account are ~880 usage events and ~9 survey answers: these give ~100 and ~5.
USAGE_SCALE = 0.114
SURVEY_SCALE = 0.55
FULL_ACCOUNTS = 100_000
QUICK_ACCOUNTS = 5_000

#: Settings that give every metric observations on the demo data (none of them is empty).
SETTINGS = MetricSettings.model_validate(
    {
        "fx_rates": {"USD": 5.0, "EUR": 5.5},
        "milestones": {
            "first_value": {"event": "report_created"},
            "integrated": {"event": "integration_connected"},
        },
        "time_to_first_value": "first_value",
        "features": {
            "automations": {"plans": ["Growth", "Enterprise"]},
            "sso": {"plans": ["Enterprise"]},
            "audit_log": {"plans": ["Enterprise"]},
        },
        "outcomes": {
            "automation_runs": {"event": "automation_run", "higher_is_better": True},
            "api_volume": {"event": "api_call", "higher_is_better": True},
        },
        "calendars": {
            "default": {
                "timezone": "America/Sao_Paulo",
                "hours": {d: ["09:00-12:00", "13:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
                "holidays": ["2025-01-01", "2025-12-25", "2026-01-01"],
            },
        },
        "sla_policies": [
            {
                "name": "Priority",
                "when": {"priority": ["urgent", "high"]},
                "calendar": "default",
                "targets": {
                    "first_reply_time": {"urgent": 1, "high": 4},
                    "full_resolution_time": {"urgent": 8, "high": 24},
                    "agent_work_time": {"urgent": 4, "high": 8},
                },
            },
            {
                "name": "Standard",
                "targets": {
                    "first_reply_time": {"normal": 8, "low": 24},
                    "full_resolution_time": {"normal": 72, "low": 120},
                },
            },
        ],
    }
)


# -- the workspace ----------------------------------------------------------------------------------------


def build_workspace(cache: Path, accounts: int, months: int, seed: int) -> tuple[Any, dict[str, Any]]:
    """The cached workspace for these parameters (generated and ingested when absent or different)."""
    from sinergia.demo import generate
    from sinergia.ingest import ingest_files
    from sinergia.workspace import init_workspace, open_workspace

    params = {
        "accounts": accounts, "months": months, "seed": seed, "end": AS_OF.isoformat(),
        "usage_scale": USAGE_SCALE, "survey_scale": SURVEY_SCALE,
    }
    stamp = cache / "params.json"
    root = cache / "workspace"
    if stamp.exists() and json.loads(stamp.read_text()).get("params") == params and root.exists():
        info = json.loads(stamp.read_text())
        print(f"workspace: reusing {root} (generated {info['generate_s']:.0f} s, ingested {info['ingest_s']:.0f} s)")
        return open_workspace(root), info
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    data = cache / "data"
    print(f"workspace: generating {accounts:,} accounts into {data} ...", flush=True)
    start = time.perf_counter()
    files = generate(data, accounts=accounts, seed=seed, months=months, end=AS_OF,
                     usage_scale=USAGE_SCALE, survey_scale=SURVEY_SCALE)
    generate_s = time.perf_counter() - start
    print(f"workspace: generated in {generate_s:.0f} s; ingesting ...", flush=True)
    ws = init_workspace(root, timezone="America/Sao_Paulo")
    start = time.perf_counter()
    ingest_files(ws, list(files.values()), preset="sinergia")
    ingest_s = time.perf_counter() - start
    print(f"workspace: ingested in {ingest_s:.0f} s", flush=True)
    shutil.rmtree(data)
    info = {"params": params, "generate_s": generate_s, "ingest_s": ingest_s}
    stamp.write_text(json.dumps(info, indent=2))
    return open_workspace(root), info


ENTITIES = ("accounts", "contacts", "subscriptions", "subscription_changes", "usage_events", "tickets",
            "ticket_events", "survey_responses")


def row_counts(ws: Any) -> dict[str, int]:
    con = ws.duckdb_reader()
    try:
        return {t: int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in ENTITIES}
    finally:
        con.close()


# -- ours ---------------------------------------------------------------------------------------------------


def run_ours(ws: Any, names: list[str], months: int) -> pd.DataFrame:
    from sinergia import metrics

    return metrics.compute(ws, names, as_of=AS_OF, period=PERIOD, count=months, settings=SETTINGS)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def cpu_seconds() -> float:
    """CPU seconds of this process so far (every DuckDB thread included)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed_cpu(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds, result): on a shared machine the CPU time is the steadier figure."""
    cpu = cpu_seconds()
    wall, out = timed(fn)
    return wall, cpu_seconds() - cpu, out


# -- pandas -------------------------------------------------------------------------------------------------

EPS = 0.005
DONE = ("solved", "closed")
UNRESOLVED = ("new", "open", "pending", "hold")
IN_STATUS = {"requester_wait": ("new", "open", "hold"), "agent_wait": ("pending",), "on_hold": ("hold",),
             "agent_work": ("new", "open")}
HOUR = 3600.0

#: The columns each metric family reads, loaded once before the pandas timing starts.
LOAD = {
    "accounts": "account_id, plan, licenses, created_at",
    "contacts": "contact_id, account_id",
    "subscriptions": "subscription_id, account_id, started_at, ended_at, mrr, currency, is_trial",
    "subscription_changes": "change_id, subscription_id, account_id, changed_at, kind, mrr_after, currency",
    "usage_events": "event_id, account_id, contact_id, event, feature, occurred_at, quantity",
    "tickets": "ticket_id, status, created_at, first_reply_at, solved_at, closed_at, updated_at, reopens, "
               "replies, csat_score, csat_scale",
    "ticket_events": "event_id, ticket_id, occurred_at, sequence, kind, status, actor",
    "survey_responses": "survey, score, scale_min, scale_max, sent_at, responded_at",
}


def load_tables(ws: Any) -> dict[str, pd.DataFrame]:
    con = ws.duckdb_reader()
    try:
        return {name: con.execute(f"SELECT {cols} FROM {name}").df() for name, cols in LOAD.items()}
    finally:
        con.close()


def _seconds(ts: pd.Series) -> pd.Series:
    """Epoch seconds (float, truncated to the second; NaN for NaT) of a naive-UTC datetime column."""
    return ts.astype("datetime64[s]").astype("int64").astype("float64").where(ts.notna())


class PandasMetrics:
    """The registered metrics written plainly in pandas: one method per metric, values per month.

    Each method returns a Series indexed by period start (the 24 months). Shared intermediate frames (the
    account MRR per month, the events with their account, the tickets' facts) are computed once and
    cached, as one would in a notebook.
    """

    #: Left out: SLA policies (first matching policy, per-priority targets, breach instants on the business
    #: clock's inverse, running time-in-status crossings) — too intricate for a plain rewrite.
    LEFT_OUT: ClassVar[dict[str, str]] = {
        "sla_achievement_rate": "first matching policy, per-priority targets, breach instants through the inverse "
        "business clock and running time-in-status crossings: too intricate for a plain rewrite",
    }

    def __init__(self, tables: dict[str, pd.DataFrame], settings: MetricSettings, months: int) -> None:
        self.t = tables
        self.s = settings
        self.cut = pd.Timestamp(AS_OF + dt.timedelta(days=1))
        last = pd.Timestamp(AS_OF).to_period("M")
        self.periods = pd.period_range(end=last, periods=months, freq="M")
        self.starts = self.periods.to_timestamp()
        ends = (self.periods + 1).to_timestamp()
        self.ends = pd.DatetimeIndex([min(e, self.cut) for e in ends])
        self.first = self.starts[0]
        self.days = pd.Series((self.ends - self.starts).total_seconds() / 86400, index=self.starts)
        self._cache: dict[str, Any] = {}

    def names(self) -> list[str]:
        return sorted(n for n in dir(self) if n.startswith("m_"))

    def compute(self, name: str) -> pd.Series:
        return getattr(self, f"m_{name}")().reindex(self.starts)

    def cached(self, key: str, build: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    # helpers -------------------------------------------------------------------------------------------

    def month(self, ts: pd.Series) -> pd.Series:
        """The period start of each timestamp; NaT outside the periods (before the first, at/after the cut-off)."""
        inside = (ts >= self.first) & (ts < self.cut)
        return ts.dt.to_period("M").dt.to_timestamp().where(inside)

    def money(self, amount: pd.Series, currency: pd.Series) -> pd.Series:
        rates = {"BRL": 1.0, **self.s.fx_rates}
        rate = currency.str.upper().map(rates)
        return amount.astype("float64") * rate.where(currency.notna(), 1.0)

    # revenue -------------------------------------------------------------------------------------------

    def segments(self) -> pd.DataFrame:
        def build() -> pd.DataFrame:
            ch = self.t["subscription_changes"]
            ch = ch[ch.changed_at < self.cut].copy()
            ch["sub_key"] = ch.subscription_id.fillna("account:" + ch.account_id)
            after = ch.mrr_after.where(ch.kind != "churn", ch.mrr_after.fillna(0))
            ch["mrr"] = self.money(after, ch.currency)
            ch = ch.sort_values(["sub_key", "changed_at", "change_id"])
            ch["valid_to"] = ch.groupby("sub_key").changed_at.shift(-1)
            a = ch.rename(columns={"changed_at": "valid_from"})
            a = a[["account_id", "sub_key", "valid_from", "valid_to", "mrr"]]
            subs = self.t["subscriptions"]
            subs = subs[(subs.started_at < self.cut) & ~subs.is_trial.fillna(False).astype(bool)]
            subs = subs[~subs.subscription_id.isin(ch.sub_key)]
            b = pd.DataFrame({"account_id": subs.account_id, "sub_key": subs.subscription_id,
                              "valid_from": subs.started_at, "valid_to": subs.ended_at,
                              "mrr": self.money(subs.mrr, subs.currency)})
            seg = pd.concat([a, b], ignore_index=True)
            return seg[seg.mrr.notna()]

        return self.cached("segments", build)

    def account_mrr(self) -> pd.DataFrame:
        """(period_start, account_id, start_mrr, end_mrr) for accounts with MRR at either end."""
        def build() -> pd.DataFrame:
            seg = self.segments()
            parts = []
            for ps, pe in zip(self.starts, self.ends, strict=True):
                live = seg[(seg.valid_from < pe) & (seg.valid_to.isna() | (seg.valid_to >= ps))]
                at_start = (live.valid_from < ps) & (live.valid_to.isna() | (live.valid_to >= ps))
                at_end = live.valid_to.isna() | (live.valid_to >= pe)
                part = pd.DataFrame({"account_id": live.account_id, "start_mrr": live.mrr.where(at_start, 0.0),
                                     "end_mrr": live.mrr.where(at_end, 0.0)})
                part = part.groupby("account_id", as_index=False).sum()
                part["period_start"] = ps
                parts.append(part)
            out = pd.concat(parts, ignore_index=True)
            out[["start_mrr", "end_mrr"]] = out[["start_mrr", "end_mrr"]].round(2)
            return out[(out.start_mrr > EPS) | (out.end_mrr > EPS)]

        return self.cached("account_mrr", build)

    def movements(self) -> pd.DataFrame:
        def build() -> pd.DataFrame:
            seg = self.segments()
            ends = seg[seg.valid_to.notna()]
            steps = pd.concat([
                pd.DataFrame({"account_id": seg.account_id, "ts": seg.valid_from, "delta": seg.mrr}),
                pd.DataFrame({"account_id": ends.account_id, "ts": ends.valid_to, "delta": -ends.mrr}),
            ])
            steps = steps.groupby(["account_id", "ts"], as_index=False).delta.sum()  # sorted by account, ts
            steps["after"] = steps.groupby("account_id").delta.cumsum().round(2)
            steps["before"] = (steps.after - steps.delta).round(2)
            steps = steps[(steps.after - steps.before).abs() > EPS]
            first = steps[steps.after > EPS].groupby("account_id").ts.min().rename("first_paid")
            steps = steps.join(first, on="account_id")
            before_zero, after_zero = steps.before <= EPS, steps.after <= EPS
            steps["kind"] = np.select(
                [before_zero & (steps.ts <= steps.first_paid), before_zero, after_zero, steps.after > steps.before],
                ["new", "reactivation", "churn", "expansion"], "contraction",
            )
            steps["amount"] = (steps.after - steps.before).abs()
            steps["period_start"] = self.month(steps.ts)
            return steps

        return self.cached("movements", build)

    def starting(self) -> pd.DataFrame:
        t = self.account_mrr()
        return t[t.start_mrr > EPS]

    def _ratio(self, frame: pd.DataFrame, num: pd.Series, den: pd.Series) -> pd.Series:
        g = pd.DataFrame({"p": frame.period_start, "num": num, "den": den}).groupby("p")[["num", "den"]].sum()
        return (g.num / g.den).where(g.den != 0)

    def m_mrr(self) -> pd.Series:
        t = self.account_mrr()
        return t[t.end_mrr > EPS].groupby("period_start").end_mrr.sum().reindex(self.starts, fill_value=0.0)

    def m_arr(self) -> pd.Series:
        return self.m_mrr() * 12.0

    def _moves(self, kind: str) -> pd.Series:
        m = self.movements()
        m = m[(m.kind == kind) & m.period_start.notna()]
        return m.groupby("period_start").amount.sum().reindex(self.starts, fill_value=0.0)

    def m_new_mrr(self) -> pd.Series:
        return self._moves("new")

    def m_expansion_mrr(self) -> pd.Series:
        return self._moves("expansion")

    def m_contraction_mrr(self) -> pd.Series:
        return self._moves("contraction")

    def m_churned_mrr(self) -> pd.Series:
        return self._moves("churn")

    def m_reactivated_mrr(self) -> pd.Series:
        return self._moves("reactivation")

    def m_nrr(self) -> pd.Series:
        t = self.starting()
        return self._ratio(t, t.end_mrr, t.start_mrr)

    def m_grr(self) -> pd.Series:
        t = self.starting()
        return self._ratio(t, np.minimum(t.end_mrr, t.start_mrr), t.start_mrr)

    def m_logo_churn_rate(self) -> pd.Series:
        t = self.starting()
        return (t.end_mrr <= EPS).groupby(t.period_start).mean()

    def m_revenue_churn_rate(self) -> pd.Series:
        t = self.starting()
        return self._ratio(t, (t.start_mrr - t.end_mrr).clip(lower=0.0), t.start_mrr)

    def _monthly(self, rate: pd.Series, year: bool) -> pd.Series:
        days = self.days.reindex(rate.index)
        return 1 - (1 - rate) ** ((365.25 if year else 365.25 / 12) / days)

    def m_logo_churn_rate_monthly(self) -> pd.Series:
        return self._monthly(self.m_logo_churn_rate(), False)

    def m_logo_churn_rate_annual(self) -> pd.Series:
        return self._monthly(self.m_logo_churn_rate(), True)

    def m_revenue_churn_rate_monthly(self) -> pd.Series:
        return self._monthly(self.m_revenue_churn_rate(), False)

    def m_revenue_churn_rate_annual(self) -> pd.Series:
        return self._monthly(self.m_revenue_churn_rate(), True)

    def m_arpa(self) -> pd.Series:
        t = self.account_mrr()
        return t[t.end_mrr > EPS].groupby("period_start").end_mrr.mean()

    def m_ltv_simple(self) -> pd.Series:
        arpa, churn = self.m_arpa().reindex(self.starts), self.m_logo_churn_rate_monthly().reindex(self.starts)
        return (arpa * self.s.gross_margin / churn).where(churn > 0)

    def m_expansion_index(self) -> pd.Series:
        t = self.starting()
        m = self.movements()
        m = m[(m.kind == "expansion") & m.period_start.notna()][["period_start", "account_id"]].drop_duplicates()
        hit = t.merge(m.assign(expanded=1), on=["period_start", "account_id"], how="left").expanded.fillna(0)
        return hit.groupby(t.period_start.to_numpy()).mean()

    # lifecycle -----------------------------------------------------------------------------------------

    def events(self) -> pd.DataFrame:
        """Usage events before the cut-off, account resolved through the contact, with their period."""
        def build() -> pd.DataFrame:
            e = self.t["usage_events"]
            e = e[e.occurred_at < self.cut]
            owner = self.t["contacts"].set_index("contact_id").account_id
            e = e.assign(account_id=e.account_id.fillna(e.contact_id.map(owner)))
            return e.assign(period_start=self.month(e.occurred_at))

        return self.cached("events", build)

    def in_period_events(self) -> pd.DataFrame:
        return self.cached("in_period_events", lambda: self.events().dropna(subset=["period_start"]))

    def active_users(self) -> pd.DataFrame:
        def build() -> pd.DataFrame:
            e = self.in_period_events()
            e = e[e.contact_id.notna()]
            e = e.assign(day=e.occurred_at.dt.floor("D"))
            g = e.groupby(["period_start", "account_id", "contact_id"], dropna=False)
            return g.day.nunique().rename("active_days").reset_index()

        return self.cached("active_users", build)

    def active_accounts(self) -> pd.DataFrame:
        def build() -> pd.DataFrame:
            e = self.in_period_events()
            return e[e.account_id.notna()][["period_start", "account_id"]].drop_duplicates()

        return self.cached("active_accounts", build)

    def m_active_accounts(self) -> pd.Series:
        return self.active_accounts().groupby("period_start").size().astype(float).reindex(self.starts, fill_value=0.0)

    def m_active_users(self) -> pd.Series:
        u = self.active_users()
        return u.groupby("period_start").contact_id.nunique().astype(float).reindex(self.starts, fill_value=0.0)

    def m_stickiness(self) -> pd.Series:
        u = self.active_users()
        g = u.groupby("period_start").active_days.agg(["sum", "size"])
        return g["sum"] / (g["size"] * self.days.reindex(g.index))

    def feature_pairs(self) -> pd.DataFrame:
        def build() -> pd.DataFrame:
            e = self.events()
            tagged = e[e.feature.notna()]
            first = tagged.groupby("feature", observed=True).occurred_at.min()
            for name in self.s.features:
                if name not in first.index:
                    first[name] = pd.NaT
            universe = pd.DataFrame([
                {"period_start": ps, "feature": f}
                for ps, pe in zip(self.starts, self.ends, strict=True)
                for f, seen in first.items() if pd.isna(seen) or seen < pe
            ])
            plans = self.t["accounts"].set_index("account_id").plan
            active = self.active_accounts().assign(plan=lambda d: d.account_id.map(plans))
            pairs = active.merge(universe, on="period_start")
            eligible = pd.Series(True, index=pairs.index)
            for name, rule in self.s.features.items():
                if rule.plans is not None:
                    eligible &= (pairs.feature != name) | pairs.plan.isin(rule.plans)
            pairs = pairs[eligible]
            inside = tagged[tagged.period_start.notna() & tagged.account_id.notna()]
            counts = inside.groupby(["period_start", "account_id", "feature"], observed=True).size().rename("n")
            pairs = pairs.join(counts, on=["period_start", "account_id", "feature"])
            pairs["used"] = (pairs.n.fillna(0) >= 1).astype(int)
            return pairs

        return self.cached("feature_pairs", build)

    def m_feature_adoption_rate(self) -> pd.Series:
        p = self.feature_pairs()
        return p.groupby("period_start").used.mean()

    def m_adoption_breadth(self) -> pd.Series:
        p = self.feature_pairs()
        share = p.groupby(["period_start", "account_id"]).used.mean()
        return share.groupby(level="period_start").mean()

    def m_adoption_depth(self) -> pd.Series:
        e = self.in_period_events()
        e = e[e.feature.notna() & e.account_id.notna()]
        g = e.groupby(["period_start", "account_id"], observed=True).feature.agg(["size", "nunique"])
        return (g["size"] / g["nunique"]).groupby(level="period_start").mean()

    def m_license_utilization(self) -> pd.Series:
        u = self.active_users()
        users = u[u.account_id.notna()].groupby(["period_start", "account_id"]).contact_id.nunique().rename("users")
        paying = self.account_mrr()[["period_start", "account_id"]]
        base = pd.concat([paying, self.active_accounts()]).drop_duplicates()
        acc = self.t["accounts"]
        acc = acc[acc.licenses > 0][["account_id", "licenses"]]
        j = base.merge(acc, on="account_id").join(users, on=["period_start", "account_id"])
        j["users"] = j.users.fillna(0)
        g = j.groupby("period_start")[["users", "licenses"]].sum()
        return g.users / g.licenses

    def reached(self, name: str) -> pd.Series:
        """account_id → when the milestone was reached (its min_count-th matching event)."""
        def build() -> pd.Series:
            m = self.s.milestones[name]
            e = self.events()
            keep = (e.event == m.event) & e.account_id.notna()
            if m.feature is not None:
                keep &= e.feature == m.feature
            e = e[keep].sort_values(["account_id", "occurred_at", "event_id"])
            e = e[e.groupby("account_id").cumcount() == m.min_count - 1]
            return e.set_index("account_id").occurred_at

        return self.cached(f"reached:{name}", build)

    def created(self) -> pd.Series:
        acc = self.t["accounts"]
        acc = acc[acc.created_at.notna() & (acc.created_at < self.cut)]
        return acc.set_index("account_id").created_at

    def _durations(self, reached: pd.Series) -> pd.Series:
        j = pd.DataFrame({"reached_at": reached}).join(self.created(), how="inner")
        x = ((j.reached_at - j.created_at).dt.total_seconds() / 86400).clip(lower=0.0)
        return x.groupby(self.month(j.reached_at)).median()

    def m_time_to_first_value(self) -> pd.Series:
        return self._durations(self.reached(str(self.s.time_to_first_value)))

    def m_time_to_value(self) -> pd.Series:
        every = pd.concat([self.reached(n).rename(n) for n in self.s.milestones], axis=1, join="inner")
        return self._durations(every.max(axis=1))

    def m_ttfv_reached_rate(self) -> pd.Series:
        created = self.created()
        window_end = created + pd.Timedelta(days=30)
        reached = self.reached(str(self.s.time_to_first_value)).reindex(created.index)
        hit = (reached.notna() & (reached < window_end)).astype(float)
        return hit.groupby(self.month(window_end)).mean()

    def m_outcome_roi(self) -> pd.Series:
        e = self.events()
        parts = []
        for name, outcome in self.s.outcomes.items():
            part = e[(e.event == outcome.event) & e.quantity.notna() & e.account_id.notna()]
            parts.append(pd.DataFrame({"account_id": part.account_id, "occurred_at": part.occurred_at,
                                       "period_start": part.period_start, "value": part.quantity.astype(float),
                                       "outcome": name, "sign": 1.0 if outcome.higher_is_better else -1.0}))
        kpi = pd.concat(parts, ignore_index=True)
        first = kpi.groupby(["account_id", "outcome"]).occurred_at.transform("min")
        start = kpi.account_id.map(self.t["accounts"].set_index("account_id").created_at).fillna(first)
        end = start + pd.Timedelta(days=30)
        early = kpi[(kpi.occurred_at >= start) & (kpi.occurred_at < end)]
        base = early.groupby(["account_id", "outcome"]).value.mean().rename("baseline")
        late = kpi[(kpi.occurred_at >= end) & kpi.period_start.notna()]
        cur = late.groupby(["period_start", "account_id", "outcome"]).agg(current=("value", "mean"),
                                                                           sign=("sign", "max"))
        obs = cur.join(base, on=["account_id", "outcome"], how="inner")
        obs = obs[obs.baseline > 0]
        num = (obs["sign"] * (obs.current - obs.baseline)).groupby(level="period_start").sum()
        return num / obs.baseline.groupby(level="period_start").sum()

    # cx --------------------------------------------------------------------------------------------------

    def answers(self) -> pd.DataFrame:
        def build() -> pd.DataFrame:
            r = self.t["survey_responses"]
            lo = r.survey.map({"nps": 0, "csat": 1, "ces": 1})
            hi = r.survey.map({"nps": 10, "csat": 5, "ces": 7})
            return r.assign(scale_min=r.scale_min.fillna(lo), scale_max=r.scale_max.fillna(hi),
                            score=r.score.astype(float))

        return self.cached("answers", build)

    def rated(self, survey: str, scale: tuple[int, int] | None = None) -> pd.DataFrame:
        a = self.answers()
        keep = ((a.survey == survey) & a.score.notna() & (a.scale_max > a.scale_min)
                & (a.score >= a.scale_min) & (a.score <= a.scale_max))
        if scale is not None:
            keep &= (a.scale_min == scale[0]) & (a.scale_max == scale[1])
        a = a[keep]
        return a.assign(period_start=self.month(a.responded_at)).dropna(subset=["period_start"])

    def _share(self, frame: pd.DataFrame, hit: pd.Series) -> pd.Series:
        return hit.astype(float).groupby(frame.period_start).mean()

    def m_nps(self) -> pd.Series:
        t = self.rated("nps", (0, 10))
        return 100 * ((t.score >= 9).astype(int) - (t.score <= 6).astype(int)).groupby(t.period_start).mean()

    def m_nps_promoter_share(self) -> pd.Series:
        t = self.rated("nps", (0, 10))
        return self._share(t, t.score >= 9)

    def m_nps_passive_share(self) -> pd.Series:
        t = self.rated("nps", (0, 10))
        return self._share(t, (t.score > 6) & (t.score < 9))

    def m_nps_detractor_share(self) -> pd.Series:
        t = self.rated("nps", (0, 10))
        return self._share(t, t.score <= 6)

    def m_csat(self) -> pd.Series:
        t = self.rated("csat")
        points = t.scale_max - t.scale_min + 1
        good = np.where(points <= 3, t.score >= t.scale_max, t.score >= t.scale_max - 1)
        return self._share(t, pd.Series(good, index=t.index))

    def m_ces_mean(self) -> pd.Series:
        t = self.rated("ces", (1, 7))
        return t.groupby("period_start").score.mean()

    def m_ces_top2(self) -> pd.Series:
        t = self.rated("ces", (1, 5))
        return self._share(t, t.score >= 4)

    def m_net_effort_score(self) -> pd.Series:
        t = self.rated("ces", (1, 5))
        return 100 * ((t.score >= 4).astype(int) - (t.score <= 2).astype(int)).groupby(t.period_start).mean()

    def m_survey_response_rate(self) -> pd.Series:
        a = self.answers()
        a = a.assign(period_start=self.month(a.sent_at)).dropna(subset=["period_start"])
        answered = a.score.notna() & a.responded_at.notna() & (a.responded_at < self.cut)
        return self._share(a, answered)

    # support ---------------------------------------------------------------------------------------------

    def business_clock(self) -> Callable[[pd.Series], pd.Series]:
        """F(epoch seconds): business seconds of the default calendar since the first working interval."""
        def build() -> Callable[[pd.Series], pd.Series]:
            cal = self.s.calendars["default"]
            days = pd.date_range(self.first - pd.Timedelta(days=800), self.cut + pd.Timedelta(days=2), freq="D")
            days = days[~days.isin(pd.to_datetime(cal.holidays))]
            names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
            spans = []
            for i, name in enumerate(names):
                for shift in cal.hours.get(name, []):
                    a, b = (pd.Timedelta(hours=int(x[:2]), minutes=int(x[3:])) for x in shift.split("-"))
                    day = days[days.weekday == i]
                    spans.append(pd.DataFrame({"a": day + a, "b": day + b}))
            s = pd.concat(spans)
            for col in ("a", "b"):
                s[col] = s[col].dt.tz_localize(cal.timezone).dt.tz_convert("UTC").dt.tz_localize(None)
            s = s.sort_values("a")
            a = _seconds(s.a).to_numpy()
            length = _seconds(s.b).to_numpy() - a
            cum = np.concatenate([[0], np.cumsum(length)[:-1]])

            def clock(t: pd.Series) -> pd.Series:
                v = t.to_numpy(dtype="float64", na_value=np.nan)
                i = np.searchsorted(a, v, side="right") - 1
                j = np.clip(i, 0, len(a) - 1)
                out = np.where(i < 0, 0.0, cum[j] + np.clip(v - a[j], 0, length[j]))
                return pd.Series(np.where(np.isnan(v), np.nan, out), index=t.index)

            return clock

        clock: Callable[[pd.Series], pd.Series] = self.cached("clock", build)
        return clock

    def tickets(self) -> pd.DataFrame:
        t = self.t["tickets"]
        return self.cached("tickets", lambda: t[t.created_at < self.cut])

    def points(self) -> pd.DataFrame:
        """Status history points of every ticket, ordered, with durations on both clocks."""
        def build() -> pd.DataFrame:
            base = self.tickets()[["ticket_id", "created_at"]]
            ev = self.t["ticket_events"]
            ev = ev[(ev.occurred_at < self.cut) & ev.status.notna()]
            ev = ev.merge(base, on="ticket_id")
            real = pd.DataFrame({"ticket_id": ev.ticket_id, "ts": ev.occurred_at, "status": ev.status, "o": 1,
                                 "seq": ev.sequence.fillna(0).astype("int64"), "eid": ev.event_id.fillna(""),
                                 "created_at": ev.created_at})
            first = real.groupby("ticket_id").ts.transform("min")
            born = real[(first > real.created_at)].drop_duplicates("ticket_id")
            born = pd.DataFrame({"ticket_id": born.ticket_id, "ts": born.created_at, "status": "new", "o": 0,
                                 "seq": 0, "eid": ""})
            pts = pd.concat([real.drop(columns="created_at"), born], ignore_index=True)
            pts = pts.sort_values(["ticket_id", "ts", "o", "seq", "eid"], ignore_index=True)
            g = pts.groupby("ticket_id", sort=False)
            pts["rn"] = g.cumcount()
            pts["next"] = g.ts.shift(-1)
            pts["prev"] = g.status.shift(1)
            ep = _seconds(pts.ts)
            cut = float(self.cut.value // 10**9)
            pts["dur"] = (ep.groupby(pts.ticket_id, sort=False).shift(-1).fillna(cut) - ep).clip(lower=0.0)
            clock = self.business_clock()
            bc = clock(ep)
            bcut = float(clock(pd.Series([cut])).iloc[0])
            pts["bdur"] = (bc.groupby(pts.ticket_id, sort=False).shift(-1).fillna(bcut) - bc).clip(lower=0.0)
            return pts

        return self.cached("points", build)

    def facts(self) -> pd.DataFrame:
        def build() -> pd.DataFrame:
            p = self.points()
            done = p.status.isin(DONE)
            undone_rn = p.rn.where(~done).groupby(p.ticket_id).transform("max").fillna(-1)
            after = p.rn > undone_rn
            q = pd.DataFrame({
                "ticket_id": p.ticket_id,
                "reopen": (p.prev.isin(DONE) & p.status.isin(UNRESOLVED)).astype(int),
                "first_done": p.ts.where(done),
                "last_solved": p.ts.where(after & (p.status == "solved")),
                "first_closed": p.ts.where(after & (p.status == "closed")),
                "done_now": (p.next.isna() & done).astype(int),
            })
            for name, statuses in IN_STATUS.items():
                inside = p.status.isin(statuses)
                q[name] = p.dur.where(inside, 0.0)
                q[f"b_{name}"] = p.bdur.where(inside, 0.0)
            g = q.groupby("ticket_id")
            h = g.agg(h_reopens=("reopen", "sum"), h_first_done=("first_done", "min"),
                      last_solved=("last_solved", "max"), first_closed=("first_closed", "min"),
                      done_now=("done_now", "max"))
            sums = g[[*IN_STATUS, *(f"b_{n}" for n in IN_STATUS)]].sum()
            h = h.join(sums)
            h["h_resolved"] = h.last_solved.fillna(h.first_closed).where(h.done_now == 1)

            ev = self.t["ticket_events"]
            actor = ev.actor.fillna("").str.lower()
            rep = ev[(ev.occurred_at < self.cut) & (ev.kind == "public_reply") & ~actor.isin(("requester", "system"))]
            rep = rep.groupby("ticket_id").occurred_at.agg(r_first="min", r_replies="size")

            f = self.tickets().join(h, on="ticket_id").join(rep, on="ticket_id")
            hist = f.h_reopens.notna()
            has_rep = f.r_replies.notna()
            resolved_f = f.solved_at.fillna(f.closed_at).fillna(f.updated_at.where(f.status.isin(DONE)))
            resolved_f = resolved_f.where(resolved_f < self.cut)
            out = pd.DataFrame({
                "created_at": f.created_at,
                "has_history": hist,
                "first_reply_at": f.r_first.where(has_rep, f.first_reply_at.where(f.first_reply_at < self.cut)),
                "replies": f.r_replies.where(has_rep, f.replies),
                "first_resolved_at": f.h_first_done.where(hist, resolved_f.where(f.reopens.fillna(0) == 0)),
                "resolved_at": f.h_resolved.where(hist, resolved_f),
                "reopens": f.h_reopens.where(hist, f.reopens),
                "csat_score": f.csat_score,
                "csat_scale": f.csat_scale,
            })
            for name in IN_STATUS:
                out[f"{name}_s"] = f[name].where(hist)
                out[f"{name}_bs"] = f[f"b_{name}"].where(hist)
            return out

        return self.cached("facts", build)

    def m_ticket_volume(self) -> pd.Series:
        t = self.tickets()
        return t.groupby(self.month(t.created_at)).size().astype(float).reindex(self.starts, fill_value=0.0)

    def m_backlog(self) -> pd.Series:
        points = self.points()
        p = points[points.status.isin(UNRESOLVED)]
        t = self.tickets()
        plain = t[~t.ticket_id.isin(points.ticket_id.unique())]
        resolved = plain.solved_at.fillna(plain.closed_at).fillna(plain.updated_at.where(plain.status.isin(DONE)))
        counts = {}
        for ps, pe in zip(self.starts, self.ends, strict=True):
            hist = ((p.ts < pe) & (p.next.isna() | (p.next >= pe))).sum()
            flat = ((plain.created_at < pe) & (resolved.isna() | (resolved >= pe))).sum()
            counts[ps] = float(hist + flat)
        return pd.Series(counts)

    def _span(self, end: str, business: bool) -> pd.Series:
        f = self.facts()
        f = f[f[end].notna()]
        c0, c1 = _seconds(f.created_at), _seconds(f[end])
        if business:
            clock = self.business_clock()
            c0, c1 = clock(c0), clock(c1)
        x = (c1 - c0) / HOUR
        keep = x >= 0
        return x[keep].groupby(self.month(f[end][keep])).median()

    def m_first_reply_time(self) -> pd.Series:
        return self._span("first_reply_at", False)

    def m_first_reply_time_business_hours(self) -> pd.Series:
        return self._span("first_reply_at", True)

    def m_first_resolution_time(self) -> pd.Series:
        return self._span("first_resolved_at", False)

    def m_first_resolution_time_business_hours(self) -> pd.Series:
        return self._span("first_resolved_at", True)

    def m_full_resolution_time(self) -> pd.Series:
        return self._span("resolved_at", False)

    def m_full_resolution_time_business_hours(self) -> pd.Series:
        return self._span("resolved_at", True)

    def _in_status(self, name: str, business: bool, how: str = "median") -> pd.Series:
        f = self.facts()
        f = f[f.resolved_at.notna() & f.has_history]
        x = f[f"{name}_bs" if business else f"{name}_s"] / HOUR
        return x.groupby(self.month(f.resolved_at)).agg(how)

    def m_requester_wait_time(self) -> pd.Series:
        return self._in_status("requester_wait", False)

    def m_requester_wait_time_business_hours(self) -> pd.Series:
        return self._in_status("requester_wait", True)

    def m_agent_wait_time(self) -> pd.Series:
        return self._in_status("agent_wait", False)

    def m_agent_wait_time_business_hours(self) -> pd.Series:
        return self._in_status("agent_wait", True)

    def m_on_hold_time(self) -> pd.Series:
        return self._in_status("on_hold", False)

    def m_on_hold_time_business_hours(self) -> pd.Series:
        return self._in_status("on_hold", True)

    def m_agent_work_time(self) -> pd.Series:
        return self._in_status("agent_work", False)

    def m_agent_work_time_business_hours(self) -> pd.Series:
        return self._in_status("agent_work", True)

    def m_handling_time(self) -> pd.Series:
        return self._in_status("agent_work", False, "mean")

    def solved(self) -> pd.DataFrame:
        f = self.facts()
        f = f[f.resolved_at.notna()]
        return f.assign(period_start=self.month(f.resolved_at)).dropna(subset=["period_start"])

    def m_reopen_rate(self) -> pd.Series:
        f = self.solved()
        f = f[f.reopens.notna()]
        return self._share(f, f.reopens > 0)

    def m_one_touch_rate(self) -> pd.Series:
        f = self.solved()
        f = f[f.replies.notna()]
        return self._share(f, f.replies < 2)

    def m_first_contact_resolution_rate(self) -> pd.Series:
        f = self.solved()
        f = f[f.replies.notna() & f.reopens.notna()]
        return self._share(f, (f.replies <= 1) & (f.reopens == 0))

    def m_support_csat(self) -> pd.Series:
        f = self.solved()
        f = f[f.csat_score.notna() & f.csat_scale.notna() & (f.csat_score <= f.csat_scale)]
        good = np.where(f.csat_scale <= 3, f.csat_score >= f.csat_scale, f.csat_score >= f.csat_scale - 1)
        return self._share(f, pd.Series(good, index=f.index))


def pandas_child(cache: Path, months: int, out: Path) -> None:
    """Load the tables, compute every pandas metric (timed), write values and timings to ``out`` (pickle)."""
    from sinergia.workspace import open_workspace

    ws = open_workspace(cache / "workspace")
    load_s, load_cpu, tables = timed_cpu(lambda: load_tables(ws))
    pm = PandasMetrics(tables, SETTINGS, months)
    values, per_metric, per_metric_cpu = {}, {}, {}
    cpu = cpu_seconds()
    for name in [n[2:] for n in pm.names()]:
        per_metric[name], per_metric_cpu[name], values[name] = timed_cpu(functools.partial(pm.compute, name))
    pd.to_pickle({"load_s": load_s, "load_cpu": load_cpu, "compute_cpu": cpu_seconds() - cpu,
                  "per_metric": per_metric, "per_metric_cpu": per_metric_cpu, "values": values,
                  "rss_mb": _peak_rss_mb()}, out)


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def agreement(ours: pd.DataFrame, values: dict[str, pd.Series]) -> tuple[int, int, list[str]]:
    """(metric-months that agree, metric-months compared, metrics with a difference)."""
    agree = total = 0
    differ = []
    for name, theirs in values.items():
        mine = ours[ours.metric == name].set_index("period_start").value.astype(float)
        mine.index = pd.to_datetime(mine.index)
        both = pd.concat([mine.rename("ours"), theirs.astype(float).rename("pandas")], axis=1)
        ok = (both.ours.isna() & both.pandas.isna()) | np.isclose(both.ours, both.pandas, rtol=1e-6, atol=1e-9)
        agree += int(ok.sum())
        total += len(ok)
        if not ok.all():
            differ.append(f"{name} ({int((~ok).sum())} months)")
    return agree, total, differ


# -- the raw DuckDB pass ----------------------------------------------------------------------------------

RAW_SQL = """
WITH
usage AS (
  SELECT date_trunc('month', occurred_at) AS m, 'usage_events' AS src, count(*) AS n,
         count(DISTINCT account_id) AS d1, count(DISTINCT contact_id) AS d2,
         count(event) + count(feature) + sum(quantity) + max(length(event_id)) AS x
  FROM usage_events WHERE occurred_at < {cut} GROUP BY 1),
tk AS (
  SELECT date_trunc('month', created_at), 'tickets', count(*), count(DISTINCT account_id), count(DISTINCT ticket_id),
         count(channel) + count(priority) + count(team) + count(status) + sum(reopens) + sum(replies)
         + sum(csat_score) + sum(csat_scale) + epoch(max(first_reply_at)) + epoch(max(solved_at))
         + epoch(max(closed_at)) + epoch(max(updated_at))
  FROM tickets WHERE created_at < {cut} GROUP BY 1),
te AS (
  SELECT date_trunc('month', occurred_at), 'ticket_events', count(*), count(DISTINCT ticket_id), count(status),
         count(kind) + count(actor) + max(sequence) + max(length(event_id))
  FROM ticket_events WHERE occurred_at < {cut} GROUP BY 1),
sr AS (
  SELECT date_trunc('month', responded_at), 'survey_responses', count(*), count(DISTINCT account_id),
         count(DISTINCT contact_id),
         sum(score) + sum(scale_min) + sum(scale_max) + count(survey) + count(touchpoint) + count(journey_stage)
         + count(channel) + count(language) + epoch(max(sent_at)) + max(length(response_id))
  FROM survey_responses GROUP BY 1),
sb AS (
  SELECT date_trunc('month', started_at), 'subscriptions', count(*), count(DISTINCT account_id), count(is_trial),
         sum(mrr) + count(currency) + epoch(max(ended_at)) + max(length(subscription_id))
  FROM subscriptions WHERE started_at < {cut} GROUP BY 1),
sc AS (
  SELECT date_trunc('month', changed_at), 'subscription_changes', count(*), count(DISTINCT account_id),
         count(DISTINCT subscription_id), sum(mrr_after) + count(kind) + count(currency) + max(length(change_id))
  FROM subscription_changes WHERE changed_at < {cut} GROUP BY 1),
ac AS (
  SELECT date_trunc('month', created_at), 'accounts', count(*), count(DISTINCT account_id), count(plan),
         sum(licenses) + count(persona) + count(segment)
  FROM accounts GROUP BY 1),
co AS (
  SELECT date_trunc('month', created_at), 'contacts', count(*), count(DISTINCT account_id), count(contact_id),
         count(persona) + count(language)
  FROM contacts GROUP BY 1)
SELECT * FROM usage UNION ALL SELECT * FROM tk UNION ALL SELECT * FROM te UNION ALL SELECT * FROM sr
UNION ALL SELECT * FROM sb UNION ALL SELECT * FROM sc UNION ALL SELECT * FROM ac UNION ALL SELECT * FROM co
"""


def raw_pass(ws: Any) -> tuple[float, float]:
    """One SELECT over every column the metrics read, grouped by month (fetched): (wall, CPU) seconds."""
    cut = f"TIMESTAMP '{AS_OF + dt.timedelta(days=1)} 00:00:00'"
    con = ws.duckdb_reader()
    try:
        con.execute("SET enable_progress_bar = false")
        wall, cpu, _ = timed_cpu(lambda: con.execute(RAW_SQL.format(cut=cut)).df())
    finally:
        con.close()
    return wall, cpu


# -- the report -------------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    import duckdb
    import ibis

    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        mem = f"{kib / 1024 / 1024:.0f} GiB"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": f"{os.cpu_count()} × {model}",
        "memory": mem,
        "versions": f"Python {platform.python_version()}, DuckDB {duckdb.__version__}, Ibis {ibis.__version__}, "
                    f"pandas {pd.__version__}",
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def _goal(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def render(r: dict[str, Any]) -> str:
    counts, accounts, n = r["counts"], r["accounts"], r["n_metrics"]
    lines = [
        f"Machine: `nproc` {os.cpu_count()}, {r['machine']['cpus']}, {r['machine']['memory']} RAM; "
        f"{r['machine']['versions']}; {r['machine']['date']}; load average (1/5/15 min) before "
        f"{r['machine']['load']}, after {r['load_after']}.",
        "",
        f"Workspace: {accounts:,} accounts, {r['months']} months to {AS_OF} (demo generator with "
        f"usage_scale={USAGE_SCALE}, survey_scale={SURVEY_SCALE}; generated in {r['workspace']['generate_s']:.0f} s, "
        f"ingested in {r['workspace']['ingest_s']:.0f} s, cached).",
        "",
        "| entity | rows | per account |",
        "|---|---:|---:|",
        *(f"| {name} | {count:,} | {count / max(accounts, 1):.1f} |" for name, count in counts.items()),
        "",
        f"{n} registered metrics, `period=\"month\"`, `count={r['months']}`, `as_of={AS_OF}`. Wall seconds "
        "(CPU seconds of the process in brackets: on a shared machine the steadier figure).",
        "",
        "| measurement | seconds | ratio | goal | |",
        "|---|---:|---:|---|---|",
        f"| ours: `compute()` of all {n} metrics | {r['ours_all']:.1f} ({r['ours_cpu']:.0f}) | | < 60 s "
        f"| {_goal(r['ours_all'] < 60)} |",
    ]
    if r.get("pandas"):
        p = r["pandas"]
        ratio = p["compute_common"] / r["ours_common"]
        ratio_cpu = p["compute_cpu_common"] / r["ours_common_cpu"]
        lines += [
            f"| ours: the {p['n_common']} metrics of the pandas set | {r['ours_common']:.1f} "
            f"({r['ours_common_cpu']:.0f}) | | | |",
            f"| pandas: the same {p['n_common']} metrics (compute only) | {p['compute_common']:.1f} "
            f"({p['compute_cpu_common']:.0f}) | pandas / ours = **{ratio:.1f}×** (CPU {ratio_cpu:.1f}×) | ≥ 10× "
            f"| {_goal(ratio >= 10)} |",
            f"| pandas: loading the tables with `.df()` (not counted) | {p['load_s']:.1f} ({p['load_cpu']:.0f}) "
            "| | | |",
        ]
    raw_ratio = r["ours_all"] / r["raw"]
    raw_ratio_cpu = r["ours_cpu"] / r["raw_cpu"]
    lines += [
        f"| raw DuckDB pass: one `SELECT`, every column read, by month | {r['raw']:.1f} ({r['raw_cpu']:.1f}) "
        f"| ours / raw = **{raw_ratio:.1f}×** (CPU {raw_ratio_cpu:.1f}×) | ≤ 5× | {_goal(raw_ratio <= 5)} |",
    ]
    if r.get("pandas"):
        p = r["pandas"]
        lines += [
            "",
            f"pandas agreement: {p['agree']} of {p['compared']} metric-months equal (rtol 1e-6)"
            + (f"; differences: {', '.join(p['differ'])}" if p["differ"] else "")
            + ". Left out of the pandas set: "
            + ("; ".join(f"`{name}` ({PandasMetrics.LEFT_OUT.get(name, 'no pandas version')})"
                         for name in p["left_out"]) or "none") + ". "
            f"pandas peak RSS {p['rss_mb']:,.0f} MB.",
        ]
    if r["families"]:
        pandas = r.get("pandas")
        lines += ["", "Each family computed alone (wall seconds, CPU seconds in brackets):", "",
                  "| family | metrics | ours (s) |" + (" pandas (s) |" if pandas else ""),
                  "|---|---:|---:|" + ("---:|" if pandas else "")]
        for family, (count, seconds, cpu) in r["families"].items():
            row = f"| {family} | {count} | {seconds:.1f} ({cpu:.0f}) |"
            if pandas:
                row += (f" {pandas['families'].get(family, float('nan')):.1f} "
                        f"({pandas['families_cpu'].get(family, float('nan')):.0f}) |")
            lines.append(row)
    if r["slowest"]:
        pandas = r.get("pandas")
        lines += ["", "Slowest 10 metrics, each computed alone (its shared intermediate tables included):", "",
                  "| metric | ours (s) |" + (" pandas (s) |" if pandas else ""),
                  "|---|---:|" + ("---:|" if pandas else "")]
        for name, seconds in r["slowest"]:
            row = f"| {name} | {seconds:.2f} |"
            if pandas:
                theirs = pandas["per_metric"].get(name)
                row += f" {'—' if theirs is None else f'{theirs:.2f}'} |"
            lines.append(row)
        lines += ["", f"Sum of the {n} single-metric times: {r['per_metric_sum']:.1f} s (pandas per-metric times "
                  "include the shared frames the first metric using them builds)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=FULL_ACCOUNTS, help="accounts (default 100,000)")
    parser.add_argument("--months", type=int, default=24, help="months of data and of monthly periods (24)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_ACCOUNTS:,} accounts")
    parser.add_argument("--cache", type=Path, help="workspace cache (default benchmarks/out/metrics-ws[-N])")
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas baseline")
    parser.add_argument("--no-per-metric", action="store_true", help="skip the per-family and per-metric runs")
    parser.add_argument("--no-single", action="store_true", help="skip the single-metric runs (keep per family)")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        cache, months, out = args.child
        pandas_child(Path(cache), int(months), Path(out))
        return

    from sinergia.metrics import list_metrics

    accounts = QUICK_ACCOUNTS if args.quick else args.accounts
    cache = args.cache or HERE / "out" / ("metrics-ws" if accounts == FULL_ACCOUNTS else f"metrics-ws-{accounts}")
    info = machine()
    ws, built = build_workspace(cache, accounts, args.months, args.seed)
    counts = row_counts(ws)
    print("rows: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()), flush=True)
    registered = list_metrics()  # whatever is registered when the benchmark runs
    names = [m.name for m in registered]

    raw, raw_cpu = min(raw_pass(ws) for _ in range(3))  # the first run also warms the page cache
    print(f"raw DuckDB pass: {raw:.1f} s ({raw_cpu:.1f} s CPU)", flush=True)
    ours_all, ours_cpu, ours = timed_cpu(lambda: run_ours(ws, names, args.months))
    print(f"ours, all {len(names)} metrics: {ours_all:.1f} s ({ours_cpu:.1f} s CPU)", flush=True)

    result: dict[str, Any] = {
        "machine": info, "accounts": accounts, "months": args.months, "counts": counts, "workspace": built,
        "n_metrics": len(names), "raw": raw, "raw_cpu": raw_cpu, "ours_all": ours_all, "ours_cpu": ours_cpu,
        "ours_common": ours_all, "ours_common_cpu": ours_cpu, "families": {}, "slowest": [], "per_metric_sum": 0.0,
    }
    if not args.no_pandas:
        import subprocess

        out = cache / "pandas.pkl"
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(cache), str(args.months),
                        str(out)], check=True)
        child = pd.read_pickle(out)
        values = {k: v for k, v in child["values"].items() if k in names}
        common = [n for n in names if n in values]
        left_out = [n for n in names if n not in values]
        agree, compared, differ = agreement(ours, values)
        if left_out:
            result["ours_common"], result["ours_common_cpu"], _ = timed_cpu(lambda: run_ours(ws, common, args.months))
        families: dict[str, float] = {}
        families_cpu: dict[str, float] = {}
        for m in registered:
            if m.name in child["per_metric"]:
                families[m.family] = families.get(m.family, 0.0) + child["per_metric"][m.name]
                families_cpu[m.family] = families_cpu.get(m.family, 0.0) + child["per_metric_cpu"][m.name]
        result["pandas"] = {
            "load_s": child["load_s"], "load_cpu": child["load_cpu"], "compute_cpu": child["compute_cpu"],
            "compute_common": sum(child["per_metric"][n] for n in common), "n_common": len(common),
            "compute_cpu_common": sum(child["per_metric_cpu"][n] for n in common),
            "left_out": left_out, "agree": agree, "compared": compared, "differ": differ,
            "per_metric": child["per_metric"], "families": families, "families_cpu": families_cpu,
            "rss_mb": child["rss_mb"],
        }
        print(f"pandas: load {child['load_s']:.1f} s, compute {result['pandas']['compute_common']:.1f} s; "
              f"agreement {agree}/{compared}", flush=True)
    if not args.no_per_metric:
        for family in dict.fromkeys(m.family for m in registered):
            family_names = [m.name for m in registered if m.family == family]
            seconds, cpu, _ = timed_cpu(functools.partial(run_ours, ws, family_names, args.months))
            result["families"][family] = (len(family_names), seconds, cpu)
            print(f"ours, {family}: {seconds:.1f} s ({cpu:.1f} s CPU)", flush=True)
    if not args.no_per_metric and not args.no_single:
        per_metric = {}
        for name in names:
            per_metric[name], _ = timed(functools.partial(run_ours, ws, [name], args.months))
        result["slowest"] = sorted(per_metric.items(), key=lambda kv: -kv[1])[:10]
        result["per_metric_sum"] = sum(per_metric.values())
        result["per_metric"] = per_metric
    result["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    print()
    print(render(result))


if __name__ == "__main__":
    main()
