"""The built-in playbooks (pt-BR and en). A workspace's ``playbooks.yaml`` can turn them off or replace one by id."""

from __future__ import annotations

from typing import Any

from sinergia.playbooks.config import Playbook

FAILURE_KEYWORDS = [
    "fora do ar", "indisponivel", "erro", "falha", "parou", "travou", "quebrou", "urgente", "parada",
    "down", "outage", "unavailable", "error", "failure", "broken", "stopped", "crash", "urgent", "500", "503",
]
FAILURE_TAGS = ["outage", "incident", "bug", "failure", "falha"]

BUILTINS: list[dict[str, Any]] = [
    {
        "id": "detractor_follow_up",
        "title": {"pt-BR": "Retornar ao detrator em até 48 h", "en": "Follow up with the detractor within 48 h"},
        "description": {
            "pt-BR": "Uma resposta de NPS de 0 a 6 nas últimas 48 h abre uma tarefa para o dono da conta, com prazo "
                     "de 2 dias (regra prática de responder detratores em 48 h).",
            "en": "An NPS answer of 0-6 in the last 48 h opens a task for the account owner, due in 2 days "
                  "(the practitioners' rule of answering detractors within 48 h).",
        },
        "trigger": {"kind": "survey", "survey": "nps", "max_score": 6, "within_days": 2},
        "actions": [{"kind": "task", "type": "risk", "priority": "high", "due_days": 2,
                     "title": {"pt-BR": "Retornar ao detrator: {account_name} (NPS {last_nps:.0f})",
                               "en": "Follow up with detractor: {account_name} (NPS {last_nps:.0f})"}}],
        "cooldown_days": 7,
    },
    {
        "id": "high_clv_failure",
        "title": {"pt-BR": "Conta de alto valor com falha: atendimento proativo",
                  "en": "High-value account with a failure: proactive service"},
        "description": {
            "pt-BR": "Um chamado sobre falha (palavras ou tags de incidente) nas últimas 48 h numa conta do nível "
                     "alto de CLV: o CS age antes de ser chamado.",
            "en": "A ticket about a failure (incident keywords or tags) in the last 48 h from an account in the "
                  "high CLV tier: CS acts before being asked.",
        },
        "trigger": {"kind": "ticket", "keywords": FAILURE_KEYWORDS, "tags": FAILURE_TAGS, "within_days": 2},
        "conditions": [{"field": "clv_tier", "op": "==", "value": "high"}],
        "actions": [{"kind": "task", "type": "risk", "priority": "urgent", "due_days": 1,
                     "title": {"pt-BR": "Atendimento proativo: falha em {account_name}",
                               "en": "Proactive service: failure at {account_name}"},
                     "steps": [{"title": {"pt-BR": "Confirmar com o cliente que o problema foi resolvido",
                                          "en": "Confirm with the customer that the problem is solved"},
                                "due_days": 3}]}],
        "cooldown_days": 7,
    },
    {
        "id": "renewal_red_health",
        "title": {"pt-BR": "Renovação em 90 dias com saúde vermelha", "en": "Renewal in 90 days with red health"},
        "description": {
            "pt-BR": "A renovação cai nos próximos 90 dias e a faixa de saúde é vermelha: tarefa de risco.",
            "en": "The renewal falls in the next 90 days and the health band is red: a risk task.",
        },
        "trigger": {"kind": "renewal", "within_days": 90},
        "conditions": [{"field": "band:health", "op": "in", "value": ["red", "vermelho"]}],
        "actions": [{"kind": "task", "type": "risk", "priority": "high", "due_days": 7,
                     "title": {"pt-BR": "Plano de renovação em risco: {account_name} ({days_to_renewal:.0f} dias)",
                               "en": "Renewal at risk: {account_name} ({days_to_renewal:.0f} days)"},
                     "steps": [{"title": {"pt-BR": "Reunião executiva de valor", "en": "Executive value review"},
                                "due_days": 21}]}],
        "cooldown_days": 30,
    },
    {
        "id": "expansion_usage_promoter",
        "title": {"pt-BR": "Uso acima de 90 % das licenças e promotor: expansão",
                  "en": "Usage above 90 % of licences and a promoter: expansion"},
        "description": {
            "pt-BR": "Usuários ativos em 30 dias acima de 90 % das licenças e último NPS de promotor (9-10).",
            "en": "Active users in 30 days above 90 % of licences and a promoter (9-10) as the latest NPS.",
        },
        "trigger": {"kind": "schedule", "every": "day"},
        "conditions": [{"field": "license_utilisation", "op": ">", "value": 0.9},
                       {"field": "nps_category", "op": "==", "value": "promoter"}],
        "actions": [{"kind": "task", "type": "expansion", "priority": "normal", "due_days": 14,
                     "title": {"pt-BR": "Oportunidade de expansão: {account_name} "
                                        "({license_utilisation:.0%} das licenças)",
                               "en": "Expansion opportunity: {account_name} ({license_utilisation:.0%} of licences)"}}],
        "cooldown_days": 90,
    },
    {
        "id": "onboarding_stuck",
        "title": {"pt-BR": "Onboarding travado: sem primeiro valor até o dia 30",
                  "en": "Onboarding stuck: no first value by day 30"},
        "description": {
            "pt-BR": "A conta tem de 30 a 60 dias e não atingiu o marco de primeiro valor "
                     "(metrics.time_to_first_value).",
            "en": "The account is 30 to 60 days old and has not reached the first-value milestone "
                  "(metrics.time_to_first_value).",
        },
        "trigger": {"kind": "milestone", "by_day": 30, "until_day": 60, "milestone": "time_to_first_value"},
        "conditions": [{"field": "lifecycle_stage", "op": "not_in", "value": ["churned"]}],
        "actions": [{"kind": "task", "type": "lifecycle", "priority": "high", "due_days": 3,
                     "title": {"pt-BR": "Destravar onboarding: {account_name} (dia {account_age_days:.0f})",
                               "en": "Unblock onboarding: {account_name} (day {account_age_days:.0f})"}}],
        "cooldown_days": 30,
    },
]


def builtin_playbooks() -> list[Playbook]:
    return [Playbook.model_validate({**spec, "builtin": True}) for spec in BUILTINS]
