"""The web pages: login, portfolio, accounts, Customer 360, CX, Support and the metric pages.

Authentication and permissions are the API's (``sinergia.api.deps``): every page declares the permission it
needs, an anonymous browser is redirected to ``/login``. Forms that change something carry the session's CSRF
token (checked by ``authenticated``); the login form itself uses a double-submit cookie, since there is no
session yet.
"""

from __future__ import annotations

import datetime as dt
import io
import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from sinergia.api.deps import (
    SESSION_COOKIE,
    Permission,
    Principal,
    authenticated,
    clear_session_cookie,
    client_ip,
    db,
    set_session_cookie,
)
from sinergia.auth.core import (
    AuthenticationError,
    RateLimited,
    authenticate,
    can,
    close_session,
    open_session,
    update_user,
)
from sinergia.metrics.registry import UNITS, Metric, all_metrics
from sinergia.store.repo import NotFound as NotFoundError
from sinergia.web import charts, sentiment, views
from sinergia.web.i18n import DEFAULT_LOCALE, negotiate, normalize_locale, translations
from sinergia.web.render import render

LOCALE_COOKIE = "sinergia_locale"
LOGIN_CSRF_COOKIE = "sinergia_login_csrf"
ROW_LIMIT = 200

router = APIRouter(include_in_schema=False)


# -- helpers ---------------------------------------------------------------------------------------------
def request_locale(request: Request, principal: Principal | None = None) -> str:
    """The user's saved language; before login: ``?lang``, the language cookie, then Accept-Language."""
    if principal is not None:
        chosen = normalize_locale(principal.user.locale)
        if chosen:
            return chosen
    for candidate in (request.query_params.get("lang"), request.cookies.get(LOCALE_COOKIE)):
        chosen = normalize_locale(candidate)
        if chosen:
            return chosen
    return negotiate(request.headers.get("accept-language"))


def _currency(request: Request) -> str:
    workspace = getattr(request.app.state, "workspace", None)
    config = getattr(workspace, "config", None)
    return str(getattr(config, "currency", None) or "BRL")


def _safe_next(value: str | None) -> str:
    """Only same-site paths (``/x``, never ``//host`` or ``http://…``) are followed after login."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/portfolio"


def _page(request: Request, principal: Principal, template: str, active: str, **context: Any) -> Response:
    locale = request_locale(request, principal)
    web_session = principal.web_session
    values = {
        "user": principal.user,
        "csrf_token": web_session.csrf_token if web_session is not None else "",
        "active": active,
        "can": lambda permission: can(principal.user, permission),
        "currency": _currency(request),
    }
    values.update(context)
    return render(request, template, values, locale=locale)


def _metric_title(metric: Metric, locale: str) -> str:
    return metric.title.get(locale) or metric.title["en"]


def _card(name: str, points: Sequence[Any], locale: str) -> dict[str, Any] | None:
    metrics = all_metrics()
    metric = metrics.get(name)
    if metric is None:
        return None
    chosen, before = views.headline(points)
    change = None
    if chosen is not None and before is not None and chosen.value is not None and before.value is not None:
        change = chosen.value - before.value
    trend_class = ""
    if change is not None and change != 0 and metric.direction != "neutral":
        better = (change > 0) == (metric.direction == "higher")
        trend_class = "up" if better else "down"
    return {
        "name": name,
        "title": _metric_title(metric, locale),
        "unit": metric.unit,
        "value": chosen.value if chosen else None,
        "ci_low": chosen.ci_low if chosen else None,
        "ci_high": chosen.ci_high if chosen else None,
        "n": chosen.n if chosen else None,
        "period_start": chosen.period_start if chosen else None,
        "partial": chosen.partial if chosen else False,
        "change": change,
        # a change of a ratio is shown in percentage points (pp)
        "trend_class": trend_class,
        "spark": charts.time_series(points, unit=metric.unit, locale=locale, name=name, height=70, compact=True),
    }


def _no_data_context() -> dict[str, Any]:
    return {"as_of": None}


# -- login, logout, language ------------------------------------------------------------------------------
@router.get("/", name="web_home")
def home() -> RedirectResponse:
    return RedirectResponse("/portfolio", status_code=303)


@router.get("/login", name="web_login")
def login_form(request: Request, next: str = "/portfolio") -> Response:
    locale = request_locale(request)
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(request, "login.html", {"csrf_token": token, "next": _safe_next(next), "error": None},
                      locale=locale)
    _login_cookies(request, response, token, locale)
    return response


def _login_cookies(request: Request, response: Response, token: str, locale: str) -> None:
    secure = request.url.scheme == "https"
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/login")
    response.set_cookie(LOCALE_COOKIE, locale, samesite="lax", secure=secure, max_age=365 * 86400)


@router.post("/login", name="web_login_submit")
def login_submit(
    request: Request,
    session: Session = Depends(db),  # noqa: B008
    email: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form("/portfolio"),
) -> Response:
    locale = request_locale(request)
    _ = translations(locale).gettext
    cookie_token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    target = _safe_next(next)

    def failed(message: str, status: int) -> Response:
        token = secrets.token_urlsafe(32)
        response = render(request, "login.html",
                          {"csrf_token": token, "next": target, "error": message, "email": email},
                          locale=locale, status_code=status)
        _login_cookies(request, response, token, locale)
        return response

    if not cookie_token or not secrets.compare_digest(cookie_token, csrf_token):
        return failed(_("Your login form expired; please try again."), 403)
    ip = client_ip(request)
    try:
        user = authenticate(session, email, password, ip)
    except RateLimited as error:
        session.commit()
        minutes = error.retry_after // 60 + 1
        response = failed(_("Too many failed attempts. Try again in %(minutes)s minute(s).") % {"minutes": minutes},
                          429)
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    except AuthenticationError:
        session.commit()  # the failed attempt counts towards the rate limit
        return failed(_("Wrong e-mail or password."), 401)
    opened = open_session(session, user, ip)
    session.commit()
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, opened.cookie, secure=request.url.scheme == "https")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", name="web_logout")
def logout(
    request: Request,
    principal: Principal = Depends(authenticated),  # noqa: B008
    session: Session = Depends(db),  # noqa: B008
) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if cookie:
        close_session(session, cookie)
        session.commit()
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response)
    response.set_cookie(LOCALE_COOKIE, request_locale(request, principal), samesite="lax", max_age=365 * 86400)
    return response


@router.post("/locale", name="web_set_locale")
def set_locale(
    request: Request,
    principal: Principal = Depends(authenticated),  # noqa: B008
    session: Session = Depends(db),  # noqa: B008
    locale: str = Form(...),
    next: str = Form("/portfolio"),
) -> Response:
    chosen = normalize_locale(locale) or DEFAULT_LOCALE
    from sinergia.store.models import User

    user = session.get(User, principal.user.id)
    if user is not None:
        update_user(session, user, actor=principal.actor, locale=chosen)  # audited when it changes
        session.commit()
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(LOCALE_COOKIE, chosen, samesite="lax", max_age=365 * 86400)
    return response


# -- portfolio and accounts ------------------------------------------------------------------------------
@router.get("/portfolio", name="web_portfolio", dependencies=[Depends(Permission("accounts:read"))])
def portfolio(
    request: Request,
    principal: Principal = Depends(authenticated),  # noqa: B008
    session: Session = Depends(db),  # noqa: B008
) -> Response:
    locale = request_locale(request, principal)
    _ = translations(locale).gettext
    as_of = views.latest_as_of(session)
    if as_of is None:
        return _page(request, principal, "portfolio.html", "portfolio", cards=[], health_bands=[], at_risk=[],
                     health_chart=None, **_no_data_context())
    cards = [c for name in views.PORTFOLIO_METRICS
             if (c := _card(name, views.series(session, as_of, name), locale)) is not None]
    bands = sorted(views.health_distribution(session, as_of), key=lambda b: _band_order(b.band))
    health_chart = charts.bars([_(b.band) for b in bands], [b.accounts for b in bands], locale=locale,
                               colors=[charts.BAND_COLORS.get(b.band, "#8a94a8") for b in bands])
    return _page(request, principal, "portfolio.html", "portfolio", as_of=as_of, cards=cards, health_bands=bands,
                 health_chart=health_chart, at_risk=views.accounts_at_risk(session, as_of), charts=True)


def _band_order(band: str) -> tuple[int, str]:
    order = {"red": 0, "bad": 0, "yellow": 1, "amber": 1, "warn": 1, "green": 2, "good": 2}
    return order.get(band, 3), band


@router.get("/accounts", name="web_accounts", dependencies=[Depends(Permission("accounts:read"))])
def accounts(
    request: Request,
    principal: Principal = Depends(authenticated),  # noqa: B008
    session: Session = Depends(db),  # noqa: B008
    q: str = Query("", max_length=200),
    segment: str = Query("", max_length=200),
    band: str = Query("", max_length=50),
    sort: str = Query("arr", max_length=30),
    order: str = Query("desc", pattern="^(asc|desc)$"),
    page: int = Query(1, ge=1, le=1_000_000),
) -> Response:
    locale = request_locale(request, principal)
    _ = translations(locale).gettext
    query = views.AccountQuery(q=q.strip(), segment=segment, band=band,
                               sort=sort if sort in views.ACCOUNT_SORT_KEYS else "arr", order=order, page=page)
    sort_options = [("arr", _("ARR")), ("arr_at_risk", _("ARR at risk")), ("health_score", _("Health")),
                    ("churn_risk", _("Churn risk")), ("clv", _("CLV")), ("name", _("Account")),
                    ("renewal_at", _("Renewal"))]
    as_of = views.latest_as_of(session)
    if as_of is None:
        return _page(request, principal, "accounts.html", "accounts", rows=[], total=0, page=1, pages=1,
                     segments=[], bands=[], query=query, sort_options=sort_options, prev_url=None, next_url=None,
                     **_no_data_context())
    result = views.list_accounts(session, as_of, query)

    def page_url(number: int) -> str:
        params = {"q": query.q, "segment": query.segment, "band": query.band, "sort": query.sort,
                  "order": query.order, "page": number}
        return "/accounts?" + urlencode({k: v for k, v in params.items() if v not in ("", None)})

    return _page(request, principal, "accounts.html", "accounts", as_of=as_of, rows=result.rows, total=result.total,
                 page=result.page, pages=result.pages, segments=result.segments, bands=result.bands, query=query,
                 sort_options=sort_options,
                 prev_url=page_url(result.page - 1) if result.page > 1 else None,
                 next_url=page_url(result.page + 1) if result.page < result.pages else None)


# -- Customer 360 ----------------------------------------------------------------------------------------
SCORE_KEYS = (("health", "Health"), ("churn_risk", "Churn risk"), ("clv", "CLV"))


@router.get("/accounts/{account_id}", name="web_account", dependencies=[Depends(Permission("accounts:read"))])
def account_page(
    request: Request,
    account_id: str,
    principal: Principal = Depends(authenticated),  # noqa: B008
    session: Session = Depends(db),  # noqa: B008
) -> Response:
    locale = request_locale(request, principal)
    _ = translations(locale).gettext
    as_of = views.latest_as_of(session)
    snapshot = views.account_snapshot(session, as_of, account_id) if as_of else None
    if snapshot is None or as_of is None:
        raise NotFoundError(f"no account '{account_id}' in the latest recompute")
    from sinergia.web.i18n import Formatter

    fmt = Formatter(locale)
    currency = snapshot.currency or _currency(request)
    history = views.score_history(session, account_id)
    drivers = snapshot.drivers or {}
    scores = []
    for key, title in SCORE_KEYS:
        value = {"health": snapshot.health_score, "churn_risk": snapshot.churn_risk, "clv": snapshot.clv}[key]
        explanation = drivers.get(key)
        source_note = None
        if value is None or explanation is None:
            # not in the snapshot: the newest stored score of that family on or before the as-of date
            stored = [p for p in views.score_family(history, key) if p.as_of <= as_of]
            if stored:
                if value is None and stored[-1].value is not None:
                    value = stored[-1].value
                    source_note = _("%(score)s of %(date)s") % {"score": stored[-1].score,
                                                                "date": fmt.date(stored[-1].as_of)}
                if explanation is None:
                    explanation = stored[-1].explanation
        display = ("—" if value is None else fmt.number(value) if key == "health"
                   else fmt.percent(value) if key == "churn_risk" else fmt.money(value, currency, 0))
        rows = []
        for r in views.reasons(explanation, locale):
            effect, label = r["effect"], str(r["label"])
            rows.append({"label": _(label), "value": _show(r["value"], fmt),
                         "effect": "—" if effect is None else ("+" if effect > 0 else "") + fmt.number(effect, 2),
                         "effect_raw": effect})
        scores.append({
            "key": key, "title": _(title), "display": display,
            "band": snapshot.health_band if key == "health" else None,
            "trend": snapshot.health_trend if key == "health" else None,
            "note": source_note or views.explanation_note(explanation, locale), "reasons": rows,
        })
    events = views.account_events(session, as_of, account_id)
    timeline: dict[str, list[Any]] = {}
    tickets: list[dict[str, Any]] = []
    surveys: list[dict[str, Any]] = []
    revenue_x: list[dt.datetime] = []
    revenue_y: list[float] = []
    for event in events:
        timeline.setdefault(event.stage, []).append(event)
        details = event.details or {}
        if event.kind == "ticket":
            sla = details.get("sla")  # recompute: {"status", "targets": [{"metric", "status", ...}]}
            sla_targets = sla.get("targets") or [] if isinstance(sla, dict) else []
            tickets.append({"at": event.at, "title": event.title, "channel": details.get("channel"),
                            "priority": details.get("priority"),
                            "status": details.get("status") or ("solved" if details.get("solved_at") else "open"),
                            "sla": sla.get("status") if isinstance(sla, dict) else sla,
                            "sla_detail": "; ".join(
                                f"{t.get('metric')}: {_(str(t.get('status')))} "
                                f"({_show(t.get('measured_hours'), fmt)} / {_show(t.get('target_hours'), fmt)} h)"
                                for t in sla_targets if isinstance(t, dict))})
        elif event.kind in ("survey", "survey_response"):
            score = details.get("score")
            scale = details.get("scale_max")
            shown = "—" if score is None else (f"{_show(score, fmt)} / {_show(scale, fmt)}" if scale else
                                                _show(score, fmt))
            surveys.append({"at": event.at, "kind": str(details.get("survey") or details.get("kind") or event.title),
                            "score": shown, "touchpoint": details.get("touchpoint"),
                            "comment": details.get("comment")})
        mrr = details.get("mrr_after", details.get("mrr"))
        if isinstance(mrr, (int, float)) and not isinstance(mrr, bool):
            if not revenue_x and isinstance(details.get("mrr_before"), (int, float)):
                revenue_x.append(event.at)
                revenue_y.append(float(details["mrr_before"]))
            revenue_x.append(event.at)
            revenue_y.append(float(mrr))
    if revenue_x:  # the step holds until the as-of date, where the snapshot's MRR is the last value
        revenue_x.append(dt.datetime.combine(as_of, dt.time()))
        revenue_y.append(float(snapshot.mrr))
    revenue_chart = charts.step_line(revenue_x, revenue_y, name=_("MRR"), locale=locale)
    usage = [(fmt.date(e.at), e.title) for e in events if e.kind in ("usage_milestone", "milestone")]
    attributes = snapshot.attributes or {}
    flat = {**(attributes.get("source") or {}), **{k: v for k, v in attributes.items() if k != "source"}}
    usage += [(_(str(k)), _show(v, fmt)) for k, v in sorted(flat.items())
              if isinstance(v, (int, float, str)) and not isinstance(v, bool) and str(v) != ""]
    # health over time (0–100); churn risk and CLV have other scales, so they are not drawn on the same axis
    health_points = [views.Point(p.as_of, p.as_of, False, p.value) for p in views.score_family(history, "health")]
    score_chart = charts.time_series(health_points, unit="count", locale=locale, name=_("Health"), height=220)
    stages = [("before", _("Before the purchase")), ("during", _("During the purchase")),
              ("after", _("After the purchase"))]
    return _page(request, principal, "account.html", "accounts", as_of=as_of, account=snapshot, currency=currency,
                 scores=scores, revenue_chart=revenue_chart, usage=usage, score_chart=score_chart, tickets=tickets,
                 surveys=surveys, timeline=timeline, stages=stages,
                 tasks=views.account_tasks(session, account_id), notes=views.account_notes(session, account_id),
                 can_write_notes=can(principal.user, "notes:write"), charts=True,
                 **_account_work(session, account_id, principal.user))


def _account_work(session: Session, account_id: str, user: Any) -> dict[str, Any]:
    from sinergia.web.tasks import account_work  # open tasks with actions, open feedback cases

    return account_work(session, account_id, user)


def _show(value: Any, fmt: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(fmt.number(value))
    if isinstance(value, float):
        return str(fmt.number(value, 2))
    return str(value)


@router.post("/accounts/{account_id}/notes", name="web_add_note",
             dependencies=[Depends(Permission("notes:write"))])
def add_note(
    request: Request,
    account_id: str,
    principal: Principal = Depends(authenticated),  # noqa: B008
    session: Session = Depends(db),  # noqa: B008
    body: str = Form(..., min_length=1, max_length=10_000),
) -> Response:
    from sinergia.store import repo

    repo.add_note(session, actor=principal.actor, account_id=account_id, body=body.strip(), author=principal.user)
    session.commit()
    return RedirectResponse(str(request.url_for("web_account", account_id=account_id)) + "#notes", status_code=303)


# -- CX and Support ---------------------------------------------------------------------------------------
def _breakdown_sections(session: Session, as_of: dt.date, metric_names: tuple[str, ...],
                        dimensions: tuple[str, ...], chart_metric: str, locale: str) -> list[dict[str, Any]]:
    _ = translations(locale).gettext
    metrics = all_metrics()
    columns = [{"name": n, "title": _metric_title(metrics[n], locale), "unit": metrics[n].unit}
               for n in metric_names if n in metrics]
    sections = []
    for dimension in dimensions:
        grouped = views.grouped_series(session, as_of, metric_names, dimension)
        groups = sorted({g for per_metric in grouped.values() for g in per_metric})
        rows = []
        for group in groups:
            values = {}
            for col in columns:
                chosen, _before = views.headline(grouped.get(col["name"], {}).get(group, []))
                if chosen is not None:
                    values[col["name"]] = chosen
            rows.append({"group": group, "cells": values})
        chart_series = grouped.get(chart_metric, {})
        unit = metrics[chart_metric].unit if chart_metric in metrics else "count"
        sections.append({
            "id": dimension, "title": _("By %(dimension)s") % {"dimension": _(dimension)},
            "dimension_label": _(dimension), "columns": columns, "rows": rows,
            "chart": charts.multi_series(chart_series, unit=unit, locale=locale) if chart_series else None,
        })
    return sections


@router.get("/cx", name="web_cx", dependencies=[Depends(Permission("metrics:read"))])
def cx_page(
    request: Request,
    principal: Principal = Depends(authenticated),  # noqa: B008
    session: Session = Depends(db),  # noqa: B008
) -> Response:
    locale = request_locale(request, principal)
    _ = translations(locale).gettext
    as_of = views.latest_as_of(session)
    if as_of is None:
        return _page(request, principal, "breakdown.html", "cx", heading=_("Customer experience"), cards=[],
                     sections=[], **_no_data_context())
    cards = [c for n in views.CX_METRICS if (c := _card(n, views.series(session, as_of, n), locale)) is not None]
    sections = _breakdown_sections(session, as_of, views.CX_METRICS, views.CX_DIMENSIONS, "nps", locale)
    registry = all_metrics()
    over_label = _("Over time")
    over_time: list[dict[str, Any]] = []
    for name in views.CX_METRICS:
        if name in registry:
            title = _metric_title(registry[name], locale)
            over_time.append({
                "id": f"over-time-{name}", "title": f"{title} · {over_label}", "dimension_label": "",
                "columns": [], "rows": [],
                "chart": charts.time_series(views.series(session, as_of, name), unit=registry[name].unit,
                                            locale=locale, name=title, height=240,
                                            interval_label=_("95%% interval") % {}),
            })
    sections = over_time + sections
    return _page(request, principal, "breakdown.html", "cx", as_of=as_of, heading=_("Customer experience"),
                 cards=cards, sections=sections, charts=True,
                 text_sentiment=sentiment.cx_context(session, as_of, locale, _("Mean sentiment")))


@router.get("/support", name="web_support", dependencies=[Depends(Permission("metrics:read"))])
def support_page(
    request: Request,
    principal: Principal = Depends(authenticated),  # noqa: B008
    session: Session = Depends(db),  # noqa: B008
) -> Response:
    locale = request_locale(request, principal)
    _ = translations(locale).gettext
    as_of = views.latest_as_of(session)
    if as_of is None:
        return _page(request, principal, "breakdown.html", "support", heading=_("Support"), cards=[], sections=[],
                     **_no_data_context())
    cards = [c for n in views.SUPPORT_METRICS
             if (c := _card(n, views.series(session, as_of, n), locale)) is not None]
    sections = _breakdown_sections(session, as_of, views.SUPPORT_METRICS, views.SUPPORT_DIMENSIONS,
                                   "sla_achievement_rate", locale)
    backlog = views.series(session, as_of, "backlog")
    sections.insert(0, {"id": "backlog", "title": _("Backlog"), "dimension_label": "", "columns": [], "rows": [],
                        "chart": charts.time_series(backlog, unit="count", locale=locale, name=_("Backlog"))})
    return _page(request, principal, "breakdown.html", "support", as_of=as_of, heading=_("Support"), cards=cards,
                 sections=sections, charts=True)


# -- metrics -----------------------------------------------------------------------------------------------
@router.get("/metrics", name="web_metrics", dependencies=[Depends(Permission("metrics:read"))])
def metrics_index(
    request: Request,
    principal: Principal = Depends(authenticated),  # noqa: B008
    session: Session = Depends(db),  # noqa: B008
) -> Response:
    from sinergia.metrics.registry import FAMILIES
    from sinergia.web.i18n import Formatter

    locale = request_locale(request, principal)
    fmt = Formatter(locale)
    as_of = views.latest_as_of(session)
    registry = all_metrics()
    latest = views.latest_points(session, as_of, list(registry)) if as_of else {}
    currency = _currency(request)
    rows = []
    for name, metric in sorted(registry.items(), key=lambda kv: (kv[1].family, kv[0])):
        point = latest.get(name)
        rows.append({"name": name, "title": _metric_title(metric, locale),
                     "family": FAMILIES[metric.family].get(locale, metric.family), "unit": metric.unit,
                     "value": point.value if point else None,
                     "display": _metric_display(fmt, metric.unit, point.value if point else None, currency),
                     "period_start": point.period_start if point else None})
    return _page(request, principal, "metrics.html", "metrics", as_of=as_of, metrics=rows)


def _metric_display(fmt: Any, unit: str, value: float | None, currency: str) -> str:
    if value is None:
        return "—"
    if unit == "ratio":
        return str(fmt.percent(value))
    if unit == "money":
        return str(fmt.money(value, currency, 0))
    if unit == "count":
        return str(fmt.number(value))
    return str(fmt.number(value, 1))


def _metric_or_404(name: str) -> Metric:
    metric = all_metrics().get(name)
    if metric is None:
        raise NotFoundError(f"unknown metric '{name}'")
    return metric


def _period_point(points: Sequence[Any], period: str | None) -> Any:
    if period:
        try:
            wanted = dt.date.fromisoformat(period)
        except ValueError as error:
            raise NotFoundError(f"period must be a date (YYYY-MM-DD), got '{period}'") from error
        for p in points:
            if p.period_start == wanted:
                return p
        raise NotFoundError(f"no stored value for period {period}")
    chosen, _ = views.headline(points)
    return chosen


def _rows_frame(request: Request, session: Session, metric: Metric, point: Any, limit: int | None) -> Any:
    """The observations behind one stored value: the drill-down query (the one page query on the engine)."""
    from sinergia.metrics.api import rows
    from sinergia.store.models import MetricPoint

    run_as_of = views.latest_as_of(session)
    stored = session.query(MetricPoint.period).filter(
        MetricPoint.as_of == run_as_of, MetricPoint.metric == metric.name,
        MetricPoint.period_start == point.period_start).first()
    period = stored[0] if stored else "month"
    # Points store [period_start, period_end); the rows are those of the period as of its last day
    # (or of the recompute's as-of date when the period was still open).
    last_day = point.period_end - dt.timedelta(days=1) if point.period_end > point.period_start else point.period_start
    as_of = min(last_day, run_as_of) if run_as_of else last_day
    workspace = request.app.state.workspace
    return rows(workspace, metric.name, as_of=as_of, period=period, count=1, limit=limit)


@router.get("/metrics/{name}", name="web_metric", dependencies=[Depends(Permission("metrics:read"))])
def metric_page(
    request: Request,
    name: str,
    principal: Principal = Depends(authenticated),  # noqa: B008
    session: Session = Depends(db),  # noqa: B008
    period: str | None = Query(None, max_length=10),
) -> Response:
    from sinergia.metrics.registry import FAMILIES

    metric = _metric_or_404(name)
    locale = request_locale(request, principal)
    _ = translations(locale).gettext
    as_of = views.latest_as_of(session)
    points = views.series(session, as_of, name) if as_of else []
    point = _period_point(points, period) if points else None
    frame = _rows_frame(request, session, metric, point, ROW_LIMIT + 1) if point is not None else None
    rows_total = 0 if frame is None else len(frame)
    shown = None if frame is None else frame.head(ROW_LIMIT).astype(object)
    records = [] if shown is None else shown.where(shown.notna(), None).to_dict(orient="records")
    directions = {"higher": _("higher"), "lower": _("lower"), "neutral": _("neither (context)")}
    return _page(
        request, principal, "metric.html", "metrics", as_of=as_of, card=metric.card(),
        title=_metric_title(metric, locale), family=FAMILIES[metric.family].get(locale, metric.family),
        unit=_(UNITS[metric.unit]), direction=directions[metric.direction], points=list(reversed(points)),
        series_chart=charts.time_series(points, unit=metric.unit, locale=locale, name=_metric_title(metric, locale),
                                        interval_label=_("95%% interval") % {}),
        period=point.period_start if point else None, rows=records,
        rows_total=f"{ROW_LIMIT}+" if rows_total > ROW_LIMIT else rows_total,
        row_columns=list(frame.columns) if frame is not None else [], charts=True,
    )


@router.get("/metrics/{name}/rows.csv", name="web_metric_csv", dependencies=[Depends(Permission("metrics:read"))])
def metric_csv(
    request: Request,
    name: str,
    session: Session = Depends(db),  # noqa: B008
    period: str | None = Query(None, max_length=10),
) -> Response:
    metric = _metric_or_404(name)
    as_of = views.latest_as_of(session)
    points = views.series(session, as_of, name) if as_of else []
    point = _period_point(points, period) if points else None
    if point is None:
        raise NotFoundError(f"no stored value of {name} yet; run sinergia recompute")
    frame = _rows_frame(request, session, metric, point, None)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, date_format="%Y-%m-%dT%H:%M:%S")
    filename = f"{name}-{point.period_start.isoformat()}.csv"
    return StreamingResponse(iter([buffer.getvalue()]), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})

