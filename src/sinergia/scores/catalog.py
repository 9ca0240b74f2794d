"""The built-in account features a scorecard measure can use (names, parameters, titles).

Kept free of engine imports so the config model can validate names cheaply; the computations live in
:mod:`sinergia.scores.features`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    title: dict[str, str]
    unit: str
    description: str
    params: dict[str, object] = field(default_factory=dict)


FEATURES: dict[str, FeatureSpec] = {
    f.name: f
    for f in (
        FeatureSpec(
            "usage_events",
            {"en": "Product usage events", "pt-BR": "Eventos de uso do produto"},
            "count",
            "Usage events (one per row, as in the lifecycle metrics; an event without account counts for its "
            "user's account) in the `days` days ending on the as-of date; 0 when none.",
            {"days": 30},
        ),
        FeatureSpec(
            "usage_trend",
            {"en": "Usage trend", "pt-BR": "Tendência de uso"},
            "ratio",
            "Relative change of usage: events in the last `days` days divided by events in the `days` days "
            "before, minus 1 (−0.25 = 25 % less). Missing when the earlier window has no events.",
            {"days": 30},
        ),
        FeatureSpec(
            "active_users",
            {"en": "Active users", "pt-BR": "Usuários ativos"},
            "count",
            "Distinct contacts with a usage event in the last `days` days; 0 when none.",
            {"days": 30},
        ),
        FeatureSpec(
            "license_utilization",
            {"en": "Licence utilisation", "pt-BR": "Uso das licenças"},
            "ratio",
            "Active users in the last `days` days divided by the account's `licenses`. Missing without licences.",
            {"days": 30},
        ),
        FeatureSpec(
            "days_since_last_activity",
            {"en": "Days since last activity", "pt-BR": "Dias desde a última atividade"},
            "days",
            "Days from the last usage event on or before the as-of date to the as-of date. Missing when the "
            "account never used the product.",
        ),
        FeatureSpec(
            "open_tickets",
            {"en": "Open tickets", "pt-BR": "Tickets abertos"},
            "count",
            "Tickets created on or before the as-of date and neither solved nor closed by then (from the "
            "`solved_at` / `closed_at` timestamps, not the current status); 0 when none.",
        ),
        FeatureSpec(
            "tickets_opened",
            {"en": "Tickets opened", "pt-BR": "Tickets abertos no período"},
            "count",
            "Tickets created in the last `days` days; `priorities` (a list) keeps only those priorities; 0 when none.",
            {"days": 90, "priorities": None},
        ),
        FeatureSpec(
            "sla_breaches",
            {"en": "SLA breaches", "pt-BR": "Violações de SLA"},
            "count",
            "SLA targets missed in the last `days` days: the observations of the `sla_achievement_rate` "
            "metric (the workspace's `metrics.sla_policies`) that did not meet their target. Missing when no "
            "target was decided.",
            {"days": 90},
        ),
        FeatureSpec(
            "last_nps",
            {"en": "Last NPS answer", "pt-BR": "Última resposta de NPS"},
            "score",
            "The account's latest NPS answer (0–10; other scales rescaled to 0–10) answered on or before the "
            "as-of date and at most `max_age_days` old.",
            {"max_age_days": 365},
        ),
        FeatureSpec(
            "text_sentiment",
            {"en": "Sentiment of the customer's texts", "pt-BR": "Sentimento dos textos do cliente"},
            "score",
            "Mean sentiment (−1 to 1) of the account's texts — feedback, survey comments, ticket subject and "
            "description, as scored by `sinergia text score` into `text_sentiment` — stamped in the `days` days "
            "ending on the as-of date. Missing with fewer than `min_texts` texts (or before texts are scored).",
            {"days": 90, "min_texts": 1},
        ),
        FeatureSpec(
            "negative_text_share",
            {"en": "Share of negative texts", "pt-BR": "Parcela de textos negativos"},
            "ratio",
            "Share (0 to 1) of the account's texts of the last `days` days whose polarity is negative "
            "(`text_sentiment` table). Missing with fewer than `min_texts` texts.",
            {"days": 90, "min_texts": 1},
        ),
        FeatureSpec(
            "days_to_renewal",
            {"en": "Days to renewal", "pt-BR": "Dias até a renovação"},
            "days",
            "Days from the as-of date to the account's `renewal_at` (negative when past). The accounts table "
            "holds the current renewal date, not its history.",
        ),
        FeatureSpec(
            "tenure_days",
            {"en": "Tenure", "pt-BR": "Tempo como cliente"},
            "days",
            "Days from the account's `created_at` to the as-of date.",
        ),
    )
}
