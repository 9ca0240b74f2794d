"""Languages: catalogs complete and compiled from the shipped .po files; numbers, money, dates per locale."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from sinergia.errors import UsageError
from sinergia.metrics.registry import UNITS
from sinergia.web import i18n
from sinergia.web.i18n import Formatter, negotiate, normalize_locale, translations
from sinergia.web.messages import UNIT_MESSAGES
from sinergia.web.render import environment

WEB = Path(i18n.__file__).parent
NBSP = "\xa0"


def _extracted() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(WEB),
        method_map=[("templates/**.html", "jinja2"), ("*.py", "python")],
        options_map={"templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        keywords={"_": None, "gettext": None, "N_": None},
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_message_in_templates_and_code_has_a_portuguese_translation() -> None:
    with i18n.po_path("pt-BR").open("rb") as source:
        catalog = read_po(source, locale="pt_BR")
    translated = {m.id: m.string for m in catalog if m.id}
    messages = _extracted()
    assert len(messages) > 100
    missing = sorted(m for m in messages if not translated.get(m))
    assert missing == []
    # and no stale entries: every catalog message is still used somewhere
    assert sorted(set(translated) - messages) == []


def test_unit_descriptions_listed_for_extraction_match_the_registry() -> None:
    assert set(UNIT_MESSAGES) == set(UNITS.values())


def test_catalogs_compile_from_po_at_first_use_and_translate() -> None:
    pt = translations("pt-BR")
    assert pt.gettext("Portfolio") == "Carteira"
    assert pt.gettext("Wrong e-mail or password.") == "E-mail ou senha incorretos."
    assert translations("en").gettext("Portfolio") == "Portfolio"
    # unknown messages fall back to the msgid
    assert pt.gettext("no such message") == "no such message"
    with pytest.raises(UsageError, match="unsupported locale"):
        translations("fr")


def test_templates_render_translated_text_with_placeholders() -> None:
    template = environment("pt-BR").from_string(
        '{{ _("Data as of %(date)s", date="5 de mar.") }} · {{ _("95%% interval") }} · {{ _("Log out") }}'
    )
    assert template.render() == "Dados de 5 de mar. · Intervalo de 95% · Sair"
    english = environment("en").from_string('{{ _("Page %(page)s of %(pages)s", page=2, pages=7) }}')
    assert english.render() == "Page 2 of 7"


def test_money_in_the_three_currencies_per_locale() -> None:
    pt, en = Formatter("pt-BR"), Formatter("en")
    # CLDR pt-BR: symbol, no-break space, "." thousands, "," decimals
    assert pt.money(1234.56, "BRL") == f"R${NBSP}1.234,56"
    assert pt.money(1234.56, "USD") == f"US${NBSP}1.234,56"
    assert pt.money(1234.56, "EUR") == f"€{NBSP}1.234,56"
    assert en.money(1234.56, "USD") == "$1,234.56"
    assert en.money(1234.56, "BRL") == "R$1,234.56"
    assert en.money(1234.56, "EUR") == "€1,234.56"
    # whole units for cards: 1,234,567.8 rounds half-even to 1,234,568
    assert en.money(1234567.8, "USD", 0) == "$1,234,568"
    assert pt.money(1234567.8, "BRL", 0) == f"R${NBSP}1.234.568"
    assert pt.money(-5, "EUR") == f"-€{NBSP}5,00"
    assert en.money(None, "USD") == "—"


def test_numbers_and_percentages_per_locale() -> None:
    pt, en = Formatter("pt-BR"), Formatter("en")
    assert en.number(1234.5678, 2) == "1,234.57"
    assert pt.number(1234.5678, 2) == "1.234,57"
    assert pt.number(1234567) == "1.234.567"
    assert en.percent(0.1234) == "12.3%"
    assert pt.percent(0.1234) == "12,3%"
    assert pt.percent(1.05, 0) == "105%"  # NRR above 100 %
    assert en.compact(1234567) == "1.2M"
    assert pt.compact(1234567) == f"1,2{NBSP}mi"


def test_dates_per_locale() -> None:
    pt, en = Formatter("pt-BR"), Formatter("en")
    day = dt.date(2026, 3, 5)
    assert en.date(day) == "Mar 5, 2026"
    assert pt.date(day) == "5 de mar. de 2026"
    assert pt.date(day, "short") == "05/03/2026"
    assert en.date(day, "short") == "3/5/26"
    assert pt.datetime(dt.datetime(2026, 3, 5, 14, 5)) == "05/03/2026 14:05"
    assert en.date(None) == "—"


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("pt-BR", "pt-BR"), ("pt_br", "pt-BR"), ("pt", "pt-BR"), ("PT-PT", "pt-BR"), ("en-US", "en"), ("en", "en"),
     ("fr", None), ("", None), (None, None)],
)
def test_normalize_locale(tag: str | None, expected: str | None) -> None:
    assert normalize_locale(tag) == expected


def test_accept_language_negotiation_honours_quality() -> None:
    assert negotiate("pt-BR,pt;q=0.9,en;q=0.8") == "pt-BR"
    assert negotiate("fr-FR, en;q=0.5, pt;q=0.7") == "pt-BR"
    assert negotiate("de, fr;q=0.8") == "en"  # nothing supported: the default
    assert negotiate("pt;q=0, en") == "en"  # q=0 means "not acceptable"
    assert negotiate(None) == "en"


def test_po_sources_ship_as_package_data() -> None:
    import tomllib

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["sinergia"]
    assert "web/locales/*/LC_MESSAGES/*.po" in patterns
    assert "web/templates/*.html" in patterns
    assert "web/static/*" in patterns


def test_chart_locale_comes_from_cldr() -> None:
    from sinergia.web.charts import locale_format

    pt = locale_format("pt-BR")
    assert pt["shortMonths"][:3] == ["jan.", "fev.", "mar."]
    assert pt["days"][0] == "domingo" and pt["days"][1] == "segunda-feira"  # d3 weeks start on Sunday
    assert (pt["decimal"], pt["thousands"], pt["date"]) == (",", ".", "%d/%m/%Y")
    en = locale_format("en")
    assert en["months"][9] == "October" and (en["decimal"], en["thousands"]) == (".", ",")
