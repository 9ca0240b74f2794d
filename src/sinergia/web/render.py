"""Jinja2 rendering: one environment per locale (gettext installed), the formatters and URL helpers."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from sinergia.web.i18n import LANGUAGE_NAMES, SUPPORTED, Formatter, translations

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_PREFIX = "/static"


@cache
def environment(locale: str) -> Environment:
    """The template environment for one locale (built once; Jinja environments are thread-safe to render)."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    return env


def static_url(path: str) -> str:
    from sinergia.web.assets import asset_version

    return f"{STATIC_PREFIX}/{path}?v={asset_version(path)}"


def render(
    request: Request, template: str, context: dict[str, Any], *, locale: str, status_code: int = 200
) -> HTMLResponse:
    if locale not in SUPPORTED:
        locale = "en"

    def url(route: str, /, **params: Any) -> str:
        return str(request.app.url_path_for(route, **{k: str(v) for k, v in params.items()}))

    values: dict[str, Any] = {
        "request": request,
        "locale": locale,
        "fmt": Formatter(locale),
        "languages": LANGUAGE_NAMES,
        "url": url,
        "static_url": static_url,
        "charts": False,
        "user": None,
        "csrf_token": "",
        "currency": "BRL",
    }
    values.update(context)
    html = environment(locale).get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code, headers={"Content-Language": locale})
