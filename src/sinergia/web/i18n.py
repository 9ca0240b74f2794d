"""Languages of the web app: gettext catalogs (pt-BR, en) and locale-aware numbers, dates and money.

The catalogs' sources are the ``.po`` files under ``web/locales/<locale>/LC_MESSAGES/messages.po``; they
ship in the wheel and are compiled to ``.mo`` bytes in memory by Babel the first time a locale is used
(so there is no build step and no stale ``.mo`` file). English is the source language: its catalog only
exists so that every supported locale has one; a message missing from a catalog falls back to its msgid.

Formatting is Babel's CLDR data: ``R$ 1.234,56`` (with a no-break space) in pt-BR, ``$1,234.56`` in en.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_compact_decimal, format_currency, format_decimal, format_percent
from babel.support import Translations

from sinergia.errors import UsageError

#: The locales a user can pick (tags as users and browsers write them) and their Babel identifiers.
SUPPORTED: dict[str, str] = {"en": "en", "pt-BR": "pt_BR"}
DEFAULT_LOCALE = "en"
#: Names shown in the language switcher, each in its own language.
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "pt-BR": "Português (Brasil)"}
CURRENCIES = ("BRL", "EUR", "USD")
LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"


def normalize_locale(tag: str | None) -> str | None:
    """``pt_br``, ``pt-BR``, ``pt`` → ``pt-BR``; ``en-US`` → ``en``; anything unsupported → None."""
    if not tag:
        return None
    cleaned = tag.strip().replace("_", "-").lower()
    for supported in SUPPORTED:
        if cleaned == supported.lower():
            return supported
    primary = cleaned.split("-", 1)[0]
    for supported in SUPPORTED:
        if supported.lower().split("-", 1)[0] == primary:
            return supported
    return None


def negotiate(accept_language: str | None) -> str:
    """The best supported locale for an ``Accept-Language`` header (q-values honoured), else the default."""
    if not accept_language:
        return DEFAULT_LOCALE
    choices: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        pieces = part.strip().split(";")
        quality = 1.0
        for param in pieces[1:]:
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        choices.append((-quality, position, pieces[0].strip()))
    for neg_quality, _, tag in sorted(choices):
        if -neg_quality <= 0:
            continue
        found = normalize_locale(tag)
        if found:
            return found
    return DEFAULT_LOCALE


def po_path(locale: str) -> Path:
    return LOCALES_DIR / SUPPORTED[locale] / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(locale: str) -> Translations:
    """The compiled catalog of a supported locale (compiled from its .po once per process)."""
    if locale not in SUPPORTED:
        raise UsageError(f"unsupported locale '{locale}'; supported: {', '.join(SUPPORTED)}")
    with po_path(locale).open("rb") as source:
        catalog = read_po(source, locale=SUPPORTED[locale], domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


def gettext(locale: str, message: str) -> str:
    return str(translations(locale).gettext(message))


@dataclass(frozen=True)
class Formatter:
    """Number, money, percentage and date formatting for one locale (templates get one per request)."""

    locale: str

    @property
    def babel_locale(self) -> Locale:
        return Locale.parse(SUPPORTED[self.locale])

    def number(self, value: float | int | None, digits: int = 0) -> str:
        if value is None:
            return "—"
        pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
        return format_decimal(value, format=pattern, locale=SUPPORTED[self.locale])

    def compact(self, value: float | int | None) -> str:
        """Short form for cards: 1.2K / 1,2 mil."""
        if value is None:
            return "—"
        return format_compact_decimal(value, fraction_digits=1, locale=SUPPORTED[self.locale])

    def percent(self, value: float | None, digits: int = 1) -> str:
        """A fraction as a percentage: 0.1234 → 12.3% (en) / 12,3% (pt-BR)."""
        if value is None:
            return "—"
        pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "") + "%"
        return format_percent(value, format=pattern, locale=SUPPORTED[self.locale])

    def money(self, value: float | int | None, currency: str, digits: int = 2) -> str:
        if value is None:
            return "—"
        return format_currency(
            value,
            currency.upper(),
            locale=SUPPORTED[self.locale],
            format_type="standard",
            currency_digits=False,
            format=None if digits == 2 else _money_pattern(self.locale, digits),
        )

    def date(self, value: dt.date | dt.datetime | None, style: str = "medium") -> str:
        if value is None:
            return "—"
        return format_date(value, format=style, locale=SUPPORTED[self.locale])

    def datetime(self, value: dt.datetime | None, style: str = "short") -> str:
        if value is None:
            return "—"
        return format_datetime(value, format=style, tzinfo=dt.UTC, locale=SUPPORTED[self.locale])


def _money_pattern(locale: str, digits: int) -> str:
    base = str(Locale.parse(SUPPORTED[locale]).currency_formats["standard"].pattern)
    # CLDR patterns look like "¤ #,##0.00" / "¤#,##0.00"; swap the fraction part for the wanted digits.
    head, _, _ = base.partition(".")
    head = head.split(";")[0]
    return head + ("." + "0" * digits if digits > 0 else "")
