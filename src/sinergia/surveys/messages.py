"""Texts of the public survey page and the invitation e-mail, in pt-BR and en.

The public page is outside the logged-in app (no session, no user locale), so its few texts live here next to
the templates that use them rather than in the web app's catalogs.
"""

from __future__ import annotations

from sinergia.surveys.config import LOCALES

MESSAGES: dict[str, dict[str, str]] = {
    "pt-BR": {
        "title": "Pesquisa",
        "comment": "Quer contar mais? (opcional)",
        "submit": "Enviar resposta",
        "choose": "Escolha uma nota antes de enviar.",
        "low_nps": "Nada provável",
        "high_nps": "Extremamente provável",
        "low_csat": "Muito insatisfeito",
        "high_csat": "Muito satisfeito",
        "low_ces": "Muito difícil",
        "high_ces": "Muito fácil",
        "thanks_title": "Obrigado!",
        "thanks": "Recebemos a sua resposta.",
        "invalid_title": "Link inválido",
        "invalid": "Este link de pesquisa não é válido. Confira se ele foi copiado por inteiro.",
        "expired_title": "Link expirado",
        "expired": "Este link de pesquisa expirou. Obrigado pelo interesse!",
        "answered_title": "Resposta já enviada",
        "answered": "Esta pesquisa já foi respondida por este link. Cada link vale para uma resposta.",
        "failed_title": "Não foi possível salvar",
        "failed": "Não conseguimos salvar a sua resposta agora. Tente de novo em alguns minutos.",
        "language": "Idioma",
        "email_subject": "{company}: sua opinião em um minuto",
        "email_body": "Olá, {name}!\n\n{question}\n\nResponda aqui (um clique, sem login): {url}\n\n"
                      "O link vale até {expires}.\n\nObrigado,\n{company}\n",
    },
    "en": {
        "title": "Survey",
        "comment": "Anything else you would like to tell us? (optional)",
        "submit": "Send answer",
        "choose": "Choose a score before sending.",
        "low_nps": "Not at all likely",
        "high_nps": "Extremely likely",
        "low_csat": "Very dissatisfied",
        "high_csat": "Very satisfied",
        "low_ces": "Very difficult",
        "high_ces": "Very easy",
        "thanks_title": "Thank you!",
        "thanks": "We have received your answer.",
        "invalid_title": "Invalid link",
        "invalid": "This survey link is not valid. Check that it was copied whole.",
        "expired_title": "Link expired",
        "expired": "This survey link has expired. Thank you for your interest!",
        "answered_title": "Answer already sent",
        "answered": "This survey has already been answered through this link. Each link takes one answer.",
        "failed_title": "Could not save",
        "failed": "We could not save your answer right now. Please try again in a few minutes.",
        "language": "Language",
        "email_subject": "{company}: your opinion in one minute",
        "email_body": "Hello, {name}!\n\n{question}\n\nAnswer here (one click, no login): {url}\n\n"
                      "The link works until {expires}.\n\nThank you,\n{company}\n",
    },
}


def pick_locale(value: str | None, default: str = "pt-BR") -> str:
    """``pt``, ``pt_BR``, ``pt-br`` → ``pt-BR``; ``en*`` → ``en``; anything else → ``default``."""
    text = (value or "").strip().lower().replace("_", "-")
    if text.startswith("pt"):
        return "pt-BR"
    if text.startswith("en"):
        return "en"
    return default if default in LOCALES else "pt-BR"


def texts(locale: str) -> dict[str, str]:
    return MESSAGES[pick_locale(locale)]
