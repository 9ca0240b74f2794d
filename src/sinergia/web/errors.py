"""HTML error pages for browsers: what a web page answers instead of the API's JSON error envelope.

``sinergia.web.mount`` sets ``app.state.html_error_page`` to :func:`error_page`; the app's error handlers
(``sinergia.api.errors``) call it when the request is a web page (path not under ``/api/`` and
``Accept: text/html``). API requests keep the JSON envelope. The page speaks the visitor's language
(``?lang``, the language cookie, then Accept-Language; no store query in an error path) and shows the
status, a translated explanation and the error's own message.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from sinergia.web.i18n import translations
from sinergia.web.render import render


def _texts(status: int, code: str, locale: str) -> tuple[str, str]:
    _ = translations(locale).gettext
    if code == "csrf_failed":
        return _("Access denied"), _("The form expired or came from another page. Reload the page and try again.")
    if status == 403:
        return _("Access denied"), _("Your role does not allow this page or action.")
    if status == 404:
        return _("Page not found"), _("What you asked for does not exist, or is not in the latest recompute.")
    if status == 429:
        return _("Too many attempts"), _("Wait a few minutes and try again.")
    if 400 <= status < 500:
        return _("Invalid request"), _("The address or the form has a value this page does not accept.")
    return _("Something went wrong"), _("The error was logged. Try again; if it persists, tell an administrator.")


def error_page(request: Request, status: int, code: str, message: str,
               headers: dict[str, str] | None = None) -> Response:
    """The bilingual HTML page for an error of ``status`` (``code`` and ``message`` as in the JSON envelope)."""
    from sinergia.web.pages import request_locale

    locale = request_locale(request)
    title, explanation = _texts(status, code, locale)
    response = render(request, "error.html", {"status": status, "code": code, "title": title,
                                             "explanation": explanation, "message": message},
                      locale=locale, status_code=status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
