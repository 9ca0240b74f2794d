"""CX metrics (NPS, shares, CSAT, CES, response rate) on a hand-made set of survey answers, DuckDB and Spark.

As of 15 Mar 2024, monthly periods: February (29 days) and March (partial, up to the cut-off 16 Mar 00:00).
All answers are at 12:00 of the day given. Accounts and respondents:

- acc1 (persona Executive, SMB): c1 (persona Admin, pt-BR), c2 (no persona, en)
- acc2 (persona Operations, Enterprise): c3 (persona Analyst, pt-BR), c4 (no persona, no language)
- acc3 (no persona, SMB): c5 (no persona, es)

Persona = the contact's, else the account's: c1 Admin, c2 Executive, c3 Analyst, c4 Operations, c5 none.
Language = the answer's, else the contact's.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from typing import Any

import pandas as pd
import pytest

from metric_fixtures import ENGINES, make_source
from sinergia.metrics import compute, definition, rows

T = pd.Timestamp
AS_OF = dt.date(2024, 3, 15)
FEB, MAR = T("2024-02-01"), T("2024-03-01")
ACCOUNT_OF = {"c1": "acc1", "c2": "acc1", "c3": "acc2", "c4": "acc2", "c5": "acc3"}
CX = ["nps", "nps_promoter_share", "nps_passive_share", "nps_detractor_share", "csat", "ces_mean", "ces_top2",
      "net_effort_score", "survey_response_rate"]


def ans(rid: str, survey: str, score: float | None, day: str, contact: str, scale: tuple[int, int] | None,
        stage: str = "after", sent: str | None = None, **extra: Any) -> dict[str, Any]:
    row = {"response_id": rid, "survey": survey, "score": score, "responded_at": T(f"{day} 12:00"),
           "contact_id": contact, "account_id": ACCOUNT_OF[contact], "journey_stage": stage,
           "touchpoint": {"nps": "relationship", "csat": "support", "ces": "onboarding"}[survey],
           "channel": "email", "sent_at": T(f"{sent} 12:00") if sent else None,
           "scale_min": scale[0] if scale else None, "scale_max": scale[1] if scale else None}
    row.update(extra)
    return row


N10, C5 = (0, 10), (1, 5)
ANSWERS = [
    # NPS, February: promoters n01–n05 (5), passives n06–n08 (3), detractors n09–n10 (2)
    ans("n01", "nps", 10, "2024-02-02", "c1", N10, "after", sent="2024-02-01"),
    ans("n02", "nps", 9, "2024-02-03", "c1", N10, "after", sent="2024-01-30", language="es"),  # es beats pt-BR
    ans("n03", "nps", 10, "2024-02-04", "c2", N10, "after", account_id=None),  # account from contact c2 → acc1
    ans("n04", "nps", 9, "2024-02-05", "c2", N10, "during", channel="in_app"),
    ans("n05", "nps", 9, "2024-02-06", "c3", N10, "during", sent="2024-02-03"),
    ans("n06", "nps", 8, "2024-02-07", "c3", N10, "during", channel="in_app"),
    ans("n07", "nps", 7, "2024-02-08", "c4", N10, "before", language="en"),  # contact has no language
    ans("n08", "nps", 7, "2024-02-09", "c4", N10, "before"),
    ans("n09", "nps", 6, "2024-02-10", "c5", N10, "before"),
    ans("n10", "nps", 3, "2024-02-11", "c5", None, "after"),  # no scale → NPS default 0–10, counts
    # NPS, February, excluded from NPS
    ans("n11", "nps", None, "2024-02-12", "c1", N10, sent="2024-02-04"),  # unrated
    ans("n12", "nps", 5, "2024-02-13", "c3", C5),  # an NPS answer on 1–5: other scale
    ans("n13", "nps", 11, "2024-02-14", "c4", N10),  # outside its scale
    # NPS, March: one promoter, one detractor; n16 is answered after the as-of date
    ans("n14", "nps", 9, "2024-03-02", "c1", N10),
    ans("n15", "nps", 5, "2024-03-10", "c3", N10),
    ans("n16", "nps", 0, "2024-03-20", "c2", N10, sent="2024-02-27"),
    # CSAT, February: good s01 s02 s05 s07 s09 s11 (6) of 11 rated
    ans("s01", "csat", 5, "2024-02-02", "c1", C5, sent="2024-02-02"),  # 1–5: 4–5 good
    ans("s02", "csat", 4, "2024-02-03", "c2", C5),
    ans("s03", "csat", 3, "2024-02-04", "c3", C5),
    ans("s04", "csat", 1, "2024-02-05", "c4", C5),
    ans("s05", "csat", 2, "2024-02-06", "c1", (1, 2)),  # binary: 2 good
    ans("s06", "csat", 1, "2024-02-07", "c3", (1, 2)),
    ans("s07", "csat", 3, "2024-02-08", "c2", (1, 3)),  # 1–3: 3 good, 2 bad
    ans("s08", "csat", 2, "2024-02-09", "c4", (1, 3)),
    ans("s09", "csat", 6, "2024-02-10", "c5", (1, 7)),  # generic: top-2 boxes 6–7
    ans("s10", "csat", 5, "2024-02-11", "c5", (1, 7)),
    ans("s11", "csat", 4, "2024-02-12", "c1", None),  # no scale → CSAT default 1–5, good
    ans("s12", "csat", None, "2024-02-13", "c2", C5, sent="2024-02-05"),  # unrated
    # CSAT, March: s13 good; s14 after the as-of date
    ans("s13", "csat", 5, "2024-03-01", "c3", C5, sent="2024-03-01"),
    ans("s14", "csat", 1, "2024-03-20", "c4", C5, sent="2024-03-18"),
    # CES, February: 1–7 → e01–e04; 1–5 → e05–e09; e10 on 1–10 excluded everywhere; e11 unrated
    ans("e01", "ces", 7, "2024-02-02", "c1", (1, 7)),
    ans("e02", "ces", 6, "2024-02-03", "c2", (1, 7)),
    ans("e03", "ces", 2, "2024-02-04", "c3", (1, 7)),
    ans("e04", "ces", 5, "2024-02-05", "c4", None),  # no scale → CES default 1–7
    ans("e05", "ces", 5, "2024-02-06", "c1", C5),
    ans("e06", "ces", 5, "2024-02-07", "c2", C5),
    ans("e07", "ces", 4, "2024-02-08", "c3", C5),
    ans("e08", "ces", 3, "2024-02-09", "c4", C5),
    ans("e09", "ces", 1, "2024-02-10", "c5", C5),
    ans("e10", "ces", 9, "2024-02-11", "c5", (1, 10)),
    ans("e11", "ces", None, "2024-02-12", "c1", C5),
    # CES, March: one 1–7 answer, sent in February
    ans("e12", "ces", 3, "2024-03-05", "c3", (1, 7), sent="2024-02-28"),
]
BOOK = {
    "accounts": [
        {"account_id": "acc1", "persona": "Executive", "segment": "SMB"},
        {"account_id": "acc2", "persona": "Operations", "segment": "Enterprise"},
        {"account_id": "acc3", "persona": None, "segment": "SMB"},
    ],
    "contacts": [
        {"contact_id": "c1", "account_id": "acc1", "persona": "Admin", "language": "pt-BR"},
        {"contact_id": "c2", "account_id": "acc1", "persona": None, "language": "en"},
        {"contact_id": "c3", "account_id": "acc2", "persona": "Analyst", "language": "pt-BR"},
        {"contact_id": "c4", "account_id": "acc2", "persona": None, "language": None},
        {"contact_id": "c5", "account_id": "acc3", "persona": None, "language": "es"},
    ],
    "survey_responses": ANSWERS,
}


def wilson_ref(k: float, n: float, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval, written out independently of sinergia.metrics.stats."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def row(frame: pd.DataFrame, metric: str, period: pd.Timestamp, **group: Any) -> pd.Series:
    part = frame[(frame.metric == metric) & (frame.period_start == period)]
    for column, value in group.items():
        part = part[part[column].isna()] if value is None else part[part[column] == value]
    assert len(part) == 1, (metric, period, group, part)
    return part.iloc[0]


def value(frame: pd.DataFrame, metric: str, period: pd.Timestamp, **group: Any) -> float | None:
    v = row(frame, metric, period, **group).value
    return None if pd.isna(v) else float(v)


@pytest.fixture(scope="module", params=ENGINES)
def result(request: pytest.FixtureRequest) -> pd.DataFrame:
    source = make_source(BOOK, request.param)
    return compute(source, CX, as_of=AS_OF, period="month", count=2)


def test_nps(result: pd.DataFrame) -> None:
    # Feb: 5 promoters, 3 passives, 2 detractors → 100 × (5 − 2) / 10 = 30. Excluded: n11 unrated, n12 on 1–5,
    # n13 = 11 outside 0–10. n10 has no scale and takes NPS's 0–10.
    feb = row(result, "nps", FEB)
    assert feb.value == pytest.approx(30.0)
    assert (int(feb.n), feb.numerator, feb.denominator) == (10, 3.0, 10.0)
    # Var = (p + d − (p − d)²) / n = (0.5 + 0.2 − 0.09) / 10 = 0.061; half = 100 × 1.96 × √0.061 = 48.41
    half = 100 * 1.959963984540054 * math.sqrt(0.061)
    assert feb.ci_low == pytest.approx(30 - half) and feb.ci_low == pytest.approx(-18.41, abs=0.01)
    assert feb.ci_high == pytest.approx(30 + half)
    assert bool(feb.small_sample) is True
    # Mar (as of 15 Mar): n14 promoter, n15 detractor → 0; n16 (answered 20 Mar) is in the future
    mar = row(result, "nps", MAR)
    assert (mar.value, int(mar.n)) == (0.0, 2)
    assert bool(mar.partial) is True


def test_nps_shares(result: pd.DataFrame) -> None:
    assert value(result, "nps_promoter_share", FEB) == pytest.approx(0.5)  # 5/10
    assert value(result, "nps_passive_share", FEB) == pytest.approx(0.3)  # 3/10
    assert value(result, "nps_detractor_share", FEB) == pytest.approx(0.2)  # 2/10
    # Wilson 5/10: centre 0.5, half = 1.96 × √(0.025 + 3.8415/400) / 1.38415 = 0.26341 → (0.2366, 0.7634)
    promoters = row(result, "nps_promoter_share", FEB)
    assert (promoters.ci_low, promoters.ci_high) == pytest.approx(wilson_ref(5, 10))
    assert promoters.ci_low == pytest.approx(0.2366, abs=1e-4)
    assert promoters.ci_high == pytest.approx(0.7634, abs=1e-4)
    assert [value(result, f"nps_{k}_share", MAR) for k in ("promoter", "passive", "detractor")] == [0.5, 0.0, 0.5]


def test_csat(result: pd.DataFrame) -> None:
    # Feb good: 1–5 {5, 4} of {5, 4, 3, 1}; 1–2 {2} of {2, 1}; 1–3 {3} of {3, 2}; 1–7 {6} of {6, 5};
    # no scale (1–5) {4} of {4} → 6 / 11; s12 unrated is excluded
    feb = row(result, "csat", FEB)
    assert feb.value == pytest.approx(6 / 11)
    assert (feb.numerator, feb.denominator, int(feb.n)) == (6.0, 11.0, 11)
    # Wilson 6/11 by hand: centre (0.54545 + 0.17461) / 1.34923 = 0.53368, half 0.25360 → (0.2801, 0.7873)
    assert (feb.ci_low, feb.ci_high) == pytest.approx(wilson_ref(6, 11))
    assert feb.ci_low == pytest.approx(0.2801, abs=1e-4)
    assert feb.ci_high == pytest.approx(0.7873, abs=1e-4)
    # Mar: s13 good; s14 answered 20 Mar is in the future
    assert (value(result, "csat", MAR), int(row(result, "csat", MAR).n)) == (1.0, 1)


def test_ces(result: pd.DataFrame) -> None:
    # ces_mean Feb, 1–7 answers only: (7 + 6 + 2 + 5) / 4 = 5.0 (e04 has no scale → 1–7)
    feb = row(result, "ces_mean", FEB)
    assert (feb.value, int(feb.n)) == (5.0, 4)
    # s² = (Σx² − n·mean²) / (n − 1) = (49 + 36 + 4 + 25 − 100) / 3 = 14/3; half = 1.96 × √(14/3 / 4) = 2.1170
    assert feb.ci_low == pytest.approx(5 - 1.959963984540054 * math.sqrt(14 / 12))
    assert feb.ci_high == pytest.approx(7.1170, abs=1e-4)
    # Mar: e12 = 3, one answer → no interval
    mar = row(result, "ces_mean", MAR)
    assert (mar.value, int(mar.n)) == (3.0, 1)
    assert pd.isna(mar.ci_low)
    # ces_top2 Feb, 1–5 answers {5, 5, 4, 3, 1}: top-2 (4–5) = 3/5; e10 (1–10) and e11 (unrated) excluded
    assert value(result, "ces_top2", FEB) == pytest.approx(0.6)
    # Net Effort Score = 100 × (3 top-2 − 1 bottom-2) / 5 = 40
    nes = row(result, "net_effort_score", FEB)
    assert (nes.value, int(nes.n), nes.numerator) == (pytest.approx(40.0), 5, 2.0)
    # Mar has no 1–5 CES answer: empty denominators are null, never 0
    assert value(result, "ces_top2", MAR) is None
    assert value(result, "net_effort_score", MAR) is None
    assert int(row(result, "ces_top2", MAR).n) == 0


def test_response_rate(result: pd.DataFrame) -> None:
    # Sent in Feb: n01 ✓, n05 ✓, n11 (unrated) ✗, n16 (answered 20 Mar, after the cut-off) ✗, s01 ✓,
    # s12 (unrated) ✗, e12 ✓ (answered 5 Mar, counted with its February send) → 4/7. n02 was sent in January.
    feb = row(result, "survey_response_rate", FEB)
    assert (feb.numerator, feb.denominator) == (4.0, 7.0)
    # Sent in Mar by the cut-off: s13 ✓ → 1/1 (s14 was sent 18 Mar, after the as-of date)
    assert (value(result, "survey_response_rate", MAR), int(row(result, "survey_response_rate", MAR).n)) == (1.0, 1)


def test_splits_sum_to_totals() -> None:
    source = make_source(BOOK)
    kw: dict[str, Any] = {"as_of": AS_OF, "period": "month", "count": 2}
    stage = compute(source, ["nps", "csat"], by=["journey_stage"], **kw)
    # NPS Feb by journey stage: after n01 P n02 P n03 P n10 D → 100 × 2/4 = 50; during n04 P n05 P n06 · → 66.7;
    # before n07 · n08 · n09 D → −33.3; Σ(p − d) = 2 + 2 − 1 = 3 and Σn = 4 + 3 + 3 = 10, as the total
    assert value(stage, "nps", FEB, journey_stage="after") == pytest.approx(50.0)
    assert value(stage, "nps", FEB, journey_stage="during") == pytest.approx(200 / 3)
    assert value(stage, "nps", FEB, journey_stage="before") == pytest.approx(-100 / 3)
    nps_feb = stage[(stage.metric == "nps") & (stage.period_start == FEB)]
    assert (nps_feb.numerator.sum(), nps_feb.denominator.sum()) == (3.0, 10.0)
    csat_feb = stage[(stage.metric == "csat") & (stage.period_start == FEB)]
    assert (csat_feb.numerator.sum(), csat_feb.denominator.sum()) == (6.0, 11.0)

    persona = compute(source, ["nps"], by=["persona"], **kw)
    # persona from the contact (c1 Admin: n01, n02), else the account (c2 → acc1 Executive: n03, n04),
    # c3 Analyst: n05 P, n06 · → 50; c4 → acc2 Operations: n07 ·, n08 · → 0; c5 nothing: n09 D, n10 D → −100
    assert value(persona, "nps", FEB, persona="Admin") == 100.0
    assert value(persona, "nps", FEB, persona="Executive") == 100.0
    assert value(persona, "nps", FEB, persona="Analyst") == 50.0
    assert value(persona, "nps", FEB, persona="Operations") == 0.0
    assert value(persona, "nps", FEB, persona=None) == -100.0
    feb = persona[persona.period_start == FEB]
    assert (feb.numerator.sum(), feb.denominator.sum()) == (3.0, 10.0)

    language = compute(source, ["nps"], by=["language"], **kw)
    # the answer's language, else the contact's: pt-BR n01 P n05 P n06 · → 66.7; es n02 P (answer) n09 D n10 D
    # → −33.3; en n03 P n04 P n07 · (answer, contact has none) → 66.7; none n08 · → 0
    assert value(language, "nps", FEB, language="es") == pytest.approx(-100 / 3)
    assert value(language, "nps", FEB, language="en") == pytest.approx(200 / 3)
    assert value(language, "nps", FEB, language=None) == 0.0

    survey = compute(source, ["survey_response_rate"], by=["survey"], **kw)
    # Feb: nps n01 n05 of n01 n05 n11 n16 → 2/4; csat s01 of s01 s12 → 1/2; ces e12 → 1/1; Σ 4/7
    assert value(survey, "survey_response_rate", FEB, survey="nps") == 0.5
    assert value(survey, "survey_response_rate", FEB, survey="csat") == 0.5
    assert value(survey, "survey_response_rate", FEB, survey="ces") == 1.0
    feb = survey[survey.period_start == FEB]
    assert (feb.numerator.sum(), feb.denominator.sum()) == (4.0, 7.0)

    segment = compute(source, ["nps", "csat"], by=["segment"], **kw)
    # account attribute of the resolved account: SMB = acc1 + acc3 (n01–n04, n09, n10: 4 P, 2 D), Enterprise = acc2
    # (n05–n08: 1 P); n03 has no account_id and is SMB through its contact
    assert value(segment, "nps", FEB, segment="SMB") == pytest.approx(100 * 2 / 6)
    assert value(segment, "nps", FEB, segment="Enterprise") == pytest.approx(25.0)
    for metric, total in (("nps", (3.0, 10.0)), ("csat", (6.0, 11.0))):
        feb = segment[(segment.metric == metric) & (segment.period_start == FEB)]
        assert (feb.numerator.sum(), feb.denominator.sum()) == total

    channel = compute(source, ["nps"], by=["channel", "touchpoint"], **kw)
    # in_app: n04 P, n06 · → 50; email: the other 8 (4 P, 2 D) → 25
    assert value(channel, "nps", FEB, channel="in_app", touchpoint="relationship") == 50.0
    assert value(channel, "nps", FEB, channel="email", touchpoint="relationship") == 25.0


def test_shuffled_input_gives_the_same_result() -> None:
    shuffled = dict(BOOK)
    for name in shuffled:
        rows_ = list(BOOK[name])
        random.Random(7).shuffle(rows_)
        shuffled[name] = rows_
    kw: dict[str, Any] = {"as_of": AS_OF, "period": "month", "count": 2}
    a = compute(make_source(BOOK), CX, **kw)
    b = compute(make_source(shuffled), CX, **kw)
    pd.testing.assert_frame_equal(a, b)


def test_drill_down_lists_the_answers() -> None:
    source = make_source(BOOK)
    behind = rows(source, "nps", as_of=AS_OF, period="month", count=2)
    assert list(behind.response_id) == [f"n{i:02d}" for i in range(1, 11)] + ["n14", "n15"]
    n03 = behind[behind.response_id == "n03"].iloc[0]
    assert (n03.account_id, n03.persona) == ("acc1", "Executive")
    only = rows(source, "csat", as_of=AS_OF, period="month", count=2, where={"persona": "Admin"})
    assert sorted(only.response_id) == ["s01", "s05", "s11"]


def test_cards_declare_the_variants() -> None:
    assert "1–3: 3" in definition("csat")["formula"]
    assert any("0–10" in e for e in definition("nps")["edge_cases"])
    assert "higher = easier" in definition("ces_mean")["variant"]
    assert definition("survey_response_rate")["dimensions"][0] == "survey"
