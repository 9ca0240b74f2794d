"""HTTP endpoints of surveys, mounted by the API's app factory (:func:`mount`).

* ``GET /s/{token}`` — the public answer page (no login): the question, the scale as large buttons, a comment box;
  pt-BR or en by the invitation's locale, ``?lang=`` switches. Self-contained HTML (inline CSS, no script, no CDN).
* ``POST /s/{token}`` — a form post (``score``, ``comment``, ``lang``). No session and no cookie is involved, so there
  is nothing for a cross-site request to ride on; the signed token is single use. Invalid link → 404, expired → 410,
  already answered → 409, each a clear page.
* ``GET /api/v1/surveys`` (``metrics:read``) — the definitions; ``POST /api/v1/surveys/{name}/links``
  (``ingest:write``, the integrations' permission) — signed in-app links for contacts, throttled like e-mail sends.
* ``POST /api/v1/surveys/webhook`` — answers from other survey tools, signed like the outbox's webhooks (Standard
  Webhooks: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``) with the ``whsec_`` secret in the
  environment variable ``surveys.webhook_secret_env`` names. Body: :class:`sinergia.surveys.core.ExternalAnswer`.

Both paths are public by design (listed in ``app.state.public_paths``): the token or the signature is the credential.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from sinergia.api.deps import Permission, Principal
from sinergia.errors import InputError, SinergiaError
from sinergia.store.db import session_factory, transaction
from sinergia.surveys import core
from sinergia.surveys.config import LOCALES
from sinergia.surveys.messages import pick_locale, texts
from sinergia.workspace import Workspace

PAGE_PATH = "/s/{token}"
WEBHOOK_PATH = "/api/v1/surveys/webhook"
PUBLIC_SURVEY_PATHS = frozenset({PAGE_PATH, WEBHOOK_PATH})
TEMPLATES = Path(__file__).resolve().parents[1] / "web" / "templates"
STATUS = {"invalid": 404, "expired": 410, "answered": 409}

router = APIRouter()
#: Authenticated survey routes under ``/api/v1`` (definitions; in-app links for integrations).
api_router = APIRouter(prefix="/api/v1/surveys", tags=["surveys"])
_env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))


def mount(app: FastAPI) -> None:
    """Add the survey routes and register their paths as public."""
    app.include_router(api_router)
    app.include_router(router)
    public = getattr(app.state, "public_paths", None)
    if isinstance(public, set):
        public.update(PUBLIC_SURVEY_PATHS)
    else:
        app.state.public_paths = set(PUBLIC_SURVEY_PATHS)


def _page(template: str, locale: str, status: int = 200, **values: Any) -> HTMLResponse:
    locale = pick_locale(locale)
    html = _env.get_template(template).render(t=texts(locale), locale=locale, locales=LOCALES, **values)
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
               "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
               "base-uri 'none'; frame-ancestors 'none'"}
    return HTMLResponse(html, status_code=status, headers=headers)


def _message(reason: str, locale: str) -> HTMLResponse:
    return _page("survey_message.html", locale, STATUS.get(reason, 400), kind=reason)


def _context(request: Request) -> tuple[Workspace, str]:
    return request.app.state.workspace, str(request.app.state.store_url)


def _show(request: Request, token: str, lang: str | None, error: str | None = None,
          comment: str = "") -> HTMLResponse:
    ws, url = _context(request)
    with session_factory(url)() as session:
        try:
            invitation, definition = core.open_invitation(session, ws, token)
        except core.InvitationState as state:
            return _message(state.reason, lang or ws.config.locale)
        locale = pick_locale(lang or invitation.locale)
        return _page(
            "survey.html", locale, 422 if error else 200,
            token=token, kind=definition.kind, question=core.question(definition, locale, ws.config.name),
            scores=list(range(definition.scale_min, definition.scale_max + 1)), error=error, comment=comment,
            company=ws.config.name,
        )


@router.get(PAGE_PATH, response_class=HTMLResponse, include_in_schema=False)
def survey_page(request: Request, token: str, lang: str | None = None) -> HTMLResponse:
    return _show(request, token, lang)


@router.post(PAGE_PATH, response_class=HTMLResponse, include_in_schema=False)
async def survey_answer(request: Request, token: str) -> HTMLResponse:
    form = await request.form()
    lang = str(form.get("lang") or "") or None
    raw_score = str(form.get("score") or "").strip()
    comment = str(form.get("comment") or "")
    ws, url = _context(request)
    if not raw_score:
        return await run_in_threadpool(_show, request, token, lang, "choose", comment)
    try:
        score = float(raw_score)
    except ValueError:
        return await run_in_threadpool(_show, request, token, lang, "choose", comment)

    def work() -> HTMLResponse:
        with session_factory(url)() as session:
            try:
                core.answer_invitation(session, ws, token, score, comment, locale=lang)
            except core.InvitationState as state:
                return _message(state.reason, lang or ws.config.locale)
            except core.AnswerQuarantined:
                return _page("survey_message.html", lang or ws.config.locale, 422, kind="failed")
            except InputError:
                return _show(request, token, lang, "choose", comment)
            except SinergiaError:
                return _page("survey_message.html", lang or ws.config.locale, 503, kind="failed")
        return _page("survey_message.html", lang or ws.config.locale, 200, kind="thanks")

    return await run_in_threadpool(work)


@router.post(WEBHOOK_PATH, tags=["surveys"], status_code=201)
async def survey_webhook(request: Request) -> Response:
    """An answer from another survey tool, signed with Standard Webhooks headers; lands in survey_responses."""
    from sinergia.api.errors import envelope
    from sinergia.playbooks.outbox import verify

    ws, url = _context(request)
    body = await request.body()
    secret = os.environ.get(ws.config.surveys.webhook_secret_env)
    if not secret:
        return envelope(503, "not_configured",
                        f"the survey webhook is off: set {ws.config.surveys.webhook_secret_env} to a whsec_ secret")
    if not verify(secret, dict(request.headers), body):
        return envelope(401, "bad_signature", "missing or wrong webhook signature (Standard Webhooks v1), "
                        "or a timestamp more than 5 minutes off")
    try:
        payload = json.loads(body)
    except ValueError:
        return envelope(422, "invalid_input", "the body is not JSON")
    if not isinstance(payload, dict):
        return envelope(422, "invalid_input", "the body must be a JSON object (one answer)")

    def work() -> dict[str, Any]:
        with session_factory(url)() as session:
            answer = core.answer_external(session, ws, payload)
        with transaction(url) as session:
            from sinergia.store.repo import audit

            audit(session, "webhook:surveys", "survey.webhook", answer.response_id,
                  {"import_id": answer.import_id, "webhook_id": request.headers.get("webhook-id")})
        return {"response_id": answer.response_id, "survey": answer.survey, "score": answer.score,
                "import_id": answer.import_id}

    return JSONResponse(await run_in_threadpool(work), status_code=201)


class LinksIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_ids: list[str] = Field(min_length=1, max_length=1000)
    base_url: str | None = Field(None, description="Public address for the links; default surveys.base_url.")


@api_router.get("", dependencies=[Depends(Permission("metrics:read"))])
def list_surveys(request: Request) -> list[dict[str, Any]]:
    """The survey definitions: kind, scale, touchpoint, journey stage and questions."""
    from sqlalchemy import select

    from sinergia.store.survey_models import SurveyDefinition

    with session_factory(str(request.app.state.store_url))() as session:
        return [{"name": d.name, "kind": d.kind, "scale_min": d.scale_min, "scale_max": d.scale_max,
                 "touchpoint": d.touchpoint, "journey_stage": d.journey_stage, "questions": d.questions,
                 "source": d.source}
                for d in session.scalars(select(SurveyDefinition).order_by(SurveyDefinition.name))]


@api_router.post("/{name}/links")
def survey_links(
    name: str,
    body: LinksIn,
    request: Request,
    principal: Annotated[Principal, Depends(Permission("ingest:write"))],
) -> dict[str, Any]:
    """Signed in-app survey links for contacts (refused ones carry the reason, e.g. throttled)."""
    from sinergia.store.repo import audit

    ws, url = _context(request)
    with session_factory(url)() as session:
        core.sync_definitions(session, ws.config.surveys)
        people = core.resolve_contacts(ws, rows=[{"contact_id": c} for c in body.contact_ids])
        report = core.invite(session, ws, name, people, channel="in_app", base_url=body.base_url)
        audit(session, principal.actor, "survey.links", f"survey:{name}",
              {"invited": report.invited, "refused": report.refused})
        session.commit()
    return {"survey": name, "invited": report.invited, "refused": report.refused,
            "results": [r.as_dict() for r in report.results]}
