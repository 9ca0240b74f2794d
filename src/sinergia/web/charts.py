"""Chart specs for plotly.js (drawn in the browser by ``static/app.js``): plain dicts, no figure objects.

Values arrive already computed (from the serving store); these functions only arrange them. Decimal
separators follow the page's locale (``separators`` in the layout), so a pt-BR page shows ``12,5``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from babel import Locale

from sinergia.web.i18n import SUPPORTED

COLORS = ("#2f5bd3", "#1f8a4c", "#c98a06", "#c23b31", "#7a4fd3", "#13849a", "#8a5d00")
BAND_COLORS = {"green": "#1f8a4c", "good": "#1f8a4c", "yellow": "#c98a06", "amber": "#c98a06", "warn": "#c98a06",
               "red": "#c23b31", "bad": "#c23b31"}


def _layout(
    locale: str, *, height: int, y_format: str = "", y_title: str = "", compact: bool = False
) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "separators": ",." if locale == "pt-BR" else ".,",
        "height": height,
        "margin": {"l": 8, "r": 8, "t": 6, "b": 6} if compact else {"l": 60, "r": 20, "t": 20, "b": 40},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "showlegend": not compact,
        "legend": {"orientation": "h"},
        "xaxis": {"visible": not compact, "type": "date"},
        "yaxis": {"visible": not compact, "tickformat": y_format, "title": {"text": y_title}, "zeroline": False},
    }
    return layout


@cache
def locale_format(locale: str) -> dict[str, Any]:
    """plotly.js (d3) locale format from CLDR via Babel: month and day names, date order, separators."""
    cldr = Locale.parse(SUPPORTED.get(locale, "en"))
    wide, short = cldr.days["format"]["wide"], cldr.days["format"]["abbreviated"]
    return {
        # d3 weeks start on Sunday; CLDR's index 0 is Monday
        "days": [str(wide[6])] + [str(wide[i]) for i in range(6)],
        "shortDays": [str(short[6])] + [str(short[i]) for i in range(6)],
        "months": [str(cldr.months["format"]["wide"][i]) for i in range(1, 13)],
        "shortMonths": [str(cldr.months["format"]["abbreviated"][i]) for i in range(1, 13)],
        "date": "%d/%m/%Y" if locale == "pt-BR" else "%m/%d/%Y",
        "decimal": str(cldr.number_symbols["latn"]["decimal"]),
        "thousands": str(cldr.number_symbols["latn"]["group"]),
        # the rest of a d3 locale (plotly.js maps over these lists): 24-hour clock in pt-BR
        "periods": ["AM", "PM"],
        "dateTime": "%a %e %b %Y %X" if locale == "pt-BR" else "%a %b %e %X %Y",
        "time": "%H:%M:%S",
        "grouping": [3],
        "currency": ["", ""],
        "year": "%Y",
        "month": "%b %Y",
        "dayMonth": "%e %b" if locale == "pt-BR" else "%b %-d",
        "dayMonthYear": "%e %b %Y" if locale == "pt-BR" else "%b %-d, %Y",
    }


def _spec(data: list[dict[str, Any]], layout: dict[str, Any], locale: str) -> dict[str, Any]:
    """What ``static/app.js`` draws: plotly data and layout, plus the locale it registers with plotly.js."""
    return {"data": data, "layout": layout, "locale": locale, "format": locale_format(locale)}


def tick_format(unit: str) -> str:
    return {"ratio": ".0%", "money": ",.0f", "count": ",d"}.get(unit, ",.1f")


def time_series(
    points: Sequence[Any],
    *,
    unit: str,
    locale: str,
    name: str,
    height: int = 300,
    compact: bool = False,
    interval_label: str = "95%",
) -> dict[str, Any] | None:
    """A line over ``period_start`` with the confidence band (ci_low..ci_high) when the points carry one."""
    rows = [p for p in points if p.value is not None]
    if not rows:
        return None
    x = [_iso(p.period_start) for p in rows]
    data: list[dict[str, Any]] = []
    with_ci = [p for p in rows if p.ci_low is not None and p.ci_high is not None]
    if with_ci and not compact:
        data.append({"x": [_iso(p.period_start) for p in with_ci], "y": [p.ci_high for p in with_ci],
                     "type": "scatter", "mode": "lines", "line": {"width": 0}, "hoverinfo": "skip",
                     "showlegend": False})
        data.append({"x": [_iso(p.period_start) for p in with_ci], "y": [p.ci_low for p in with_ci],
                     "type": "scatter", "mode": "lines", "line": {"width": 0}, "fill": "tonexty",
                     "fillcolor": "rgba(47,91,211,0.15)", "name": interval_label, "hoverinfo": "skip"})
    data.append({"x": x, "y": [p.value for p in rows], "type": "scatter", "mode": "lines+markers",
                 "name": name, "line": {"color": COLORS[0], "width": 2}, "marker": {"size": 3 if compact else 6}})
    return _spec(data, _layout(locale, height=height, y_format=tick_format(unit), compact=compact), locale)


def multi_series(
    series: Mapping[str, Sequence[Any]], *, unit: str, locale: str, height: int = 280
) -> dict[str, Any] | None:
    """One line per group (e.g. NPS per touchpoint over time)."""
    data = []
    for i, (label, points) in enumerate(series.items()):
        rows = [p for p in points if p.value is not None]
        if rows:
            data.append({"x": [_iso(p.period_start) for p in rows], "y": [p.value for p in rows], "type": "scatter",
                         "mode": "lines+markers", "name": label, "line": {"color": COLORS[i % len(COLORS)]}})
    if not data:
        return None
    return _spec(data, _layout(locale, height=height, y_format=tick_format(unit)), locale)


def bars(labels: Sequence[str], values: Sequence[float], *, locale: str, colors: Sequence[str] | None = None,
         unit: str = "count", height: int = 260) -> dict[str, Any] | None:
    if not labels:
        return None
    layout = _layout(locale, height=height, y_format=tick_format(unit))
    layout["xaxis"] = {"type": "category"}
    layout["showlegend"] = False
    trace: dict[str, Any] = {"x": list(labels), "y": list(values), "type": "bar"}
    if colors:
        trace["marker"] = {"color": list(colors)}
    return _spec([trace], layout, locale)


def step_line(x: Sequence[dt.date | dt.datetime], y: Sequence[float], *, name: str, locale: str,
              unit: str = "money", height: int = 260) -> dict[str, Any] | None:
    """A step chart (e.g. MRR over time: it changes at subscription events and stays flat between them)."""
    if not x:
        return None
    data = [{"x": [_iso(v) for v in x], "y": list(y), "type": "scatter", "mode": "lines", "line": {"shape": "hv"},
             "name": name}]
    return _spec(data, _layout(locale, height=height, y_format=tick_format(unit)), locale)


def _iso(value: dt.date | dt.datetime | str) -> str:
    return value if isinstance(value, str) else value.isoformat()
