"""Static profile of each account: firmographics, plan, seats, owner, creation date and long-run health.

``mu`` is the account's long-run health: its segment's base, its industry, the CSM who owns it and an
idiosyncratic part. Accounts that were already customers before the window are survivors and a bit healthier.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sinergia.demo import _catalog as cat
from sinergia.demo._rand import Draws, choice, norm_ppf
from sinergia.demo._types import DAY, F64, HOUR, I64, Bool
from sinergia.demo._window import Window

SEGMENT_HEALTH = np.array([0.35, 0.60, 0.80])
#: Share of accounts that were customers before the window starts.
OLD_SHARE = 0.45
#: How far back (months before the window) old customers can have started.
OLD_MAX_MONTHS = 48
CHILD_SHARE = 0.05
PARENT_SEARCH = 300

_COUNTRY_SHARE = tuple(c.share for c in cat.COUNTRIES)
_CSMS_BY_SEGMENT = tuple(np.array([i for i, c in enumerate(cat.CSMS) if c.segment == s], np.int64) for s in range(3))
_CSM_EFFECT = np.array([c.effect for c in cat.CSMS])
_INDUSTRY_EFFECT = np.array([e for _, e in cat.INDUSTRIES])
_CURRENCY = np.array([c.currency for c in cat.COUNTRIES], np.int64)
_UTC_OFFSET = np.array([c.utc_offset for c in cat.COUNTRIES], np.int64)
_ENGLISH = np.array([c.english for c in cat.COUNTRIES])


@dataclass
class Profile:
    """Static attributes of a chunk of accounts (arrays of shape (n,))."""

    index: I64
    segment: I64
    country: I64
    region: list[str]
    industry: I64
    persona: I64
    plan0: I64
    annual: Bool
    seats0: I64
    employees: I64
    created_m: I64
    created_ts: I64
    bill_day: I64
    currency: I64
    csm: I64
    mu: F64
    soph: F64
    n_contacts: I64
    nps_offset: I64
    utc_offset: I64
    english: Bool
    parent: I64

    @property
    def n(self) -> int:
        """Number of accounts."""
        return len(self.index)


def segment_of_draw(u: F64) -> I64:
    """Segment from the account's first static uniform."""
    return choice(u, cat.SEGMENT_SHARE)


def build_profile(index: I64, draws: Draws, window: Window, segment_lookup: Callable[[int], int]) -> Profile:
    """Static attributes from each account's static uniforms."""
    segment = segment_of_draw(draws.s("segment"))
    country = choice(draws.s("country"), _COUNTRY_SHARE)
    plan0 = choice(draws.s("plan"), np.array(cat.PLAN_SHARE)[segment])
    annual = draws.s("annual") < np.array(cat.ANNUAL_SHARE)[segment]
    seats0 = _ranged(cat.SEATS, segment, draws.s("seats"))
    employees = _ranged(cat.EMPLOYEES, segment, draws.s("employees"))
    industry = choice(draws.s("industry"), (1.0,) * len(cat.INDUSTRIES))
    csm = _pick_csm(segment, draws.s("csm"))
    created_m, created_ts, bill_day = _creation(draws, window)
    old = created_m < 0
    mu = (
        SEGMENT_HEALTH[segment]
        + _INDUSTRY_EFFECT[industry]
        + _CSM_EFFECT[csm]
        + 0.55 * norm_ppf(draws.s("mu"))
        + np.where(old, 0.15, 0.0)
    )
    low, high = np.array([c[0] for c in cat.CONTACTS]), np.array([c[1] for c in cat.CONTACTS])
    n_contacts = low[segment] + (draws.s("n_contacts") * (high[segment] - low[segment] + 1)).astype(np.int64)
    english = _ENGLISH[country] | ((segment == cat.ENT) & (draws.s("english") < 0.12))
    return Profile(
        index=index,
        segment=segment,
        country=country,
        region=_regions(country, draws.s("region")),
        industry=industry,
        persona=choice(draws.s("persona"), (0.25, 0.3, 0.15, 0.2, 0.1)),
        plan0=plan0,
        annual=annual,
        seats0=seats0,
        employees=employees,
        created_m=created_m,
        created_ts=created_ts,
        bill_day=bill_day,
        currency=_CURRENCY[country],
        csm=csm,
        mu=mu,
        soph=0.5 * norm_ppf(draws.s("soph")),
        n_contacts=n_contacts.astype(np.int64),
        nps_offset=(draws.s("nps_offset") * 6).astype(np.int64),
        utc_offset=_UTC_OFFSET[country],
        english=english,
        parent=_parents(index, segment, draws.s("child"), segment_lookup),
    )


def _ranged(ranges: tuple[cat.LogNormalRange, ...], segment: I64, u: F64) -> I64:
    median = np.array([r.median for r in ranges])[segment]
    sigma = np.array([r.sigma for r in ranges])[segment]
    low = np.array([r.low for r in ranges])[segment]
    high = np.array([r.high for r in ranges])[segment]
    value = median * np.exp(sigma * norm_ppf(u))
    return np.asarray(np.clip(np.rint(value), low, high), np.int64)


def _pick_csm(segment: I64, u: F64) -> I64:
    out = np.zeros(len(segment), np.int64)
    for s, team in enumerate(_CSMS_BY_SEGMENT):
        mask = segment == s
        out[mask] = team[np.minimum((u[mask] * len(team)).astype(np.int64), len(team) - 1)]
    return out


def _creation(draws: Draws, window: Window) -> tuple[I64, I64, I64]:
    """Creation month (negative = before the window), timestamp and billing day of each account."""
    old = draws.s("old") < OLD_SHARE
    u = draws.s("created_month")
    before = -1 - np.minimum((u**1.3 * OLD_MAX_MONTHS).astype(np.int64), OLD_MAX_MONTHS - 1)
    during = np.minimum((u * window.months).astype(np.int64), window.months - 1)
    created_m = np.where(old, before, during)
    month_start = window.month_ts(created_m)
    available = np.minimum(window.days_in_month(created_m), (window.end - month_start) // DAY)
    day = 1 + np.minimum((draws.s("created_day") * available).astype(np.int64), available - 1)
    # Contracts are signed during the Brazilian working day (12:00-21:00 UTC).
    time = 12 * HOUR + (draws.s("created_time") * 9 * HOUR).astype(np.int64)
    created_ts = month_start + (day - 1) * DAY + time
    return created_m, created_ts, np.minimum(day, 28)


_REGION_SHARE = np.array([c.region_share + (0.0,) * (12 - len(c.region_share)) for c in cat.COUNTRIES], np.float64)


def _regions(country: I64, u: F64) -> list[str]:
    region = choice(u, _REGION_SHARE[country])
    return [cat.COUNTRIES[c].regions[r] for c, r in zip(country.tolist(), region.tolist(), strict=True)]


def _parents(index: I64, segment: I64, u_child: F64, segment_lookup: Callable[[int], int]) -> I64:
    """A few SMB and Mid-Market accounts belong to the nearest preceding Enterprise account (a group)."""
    parent = np.full(len(index), -1, np.int64)
    for row in np.flatnonzero((u_child < CHILD_SHARE) & (segment != cat.ENT) & (index > 0)):
        i = int(index[row])
        for j in range(i - 1, max(-1, i - 1 - PARENT_SEARCH), -1):
            if segment_lookup(j) == cat.ENT:
                parent[row] = j
                break
    return parent


# --- Names ----------------------------------------------------------------------------------------

_FIRST_SLUGS = tuple(cat.slug(w) for w in cat.BRAND_FIRST)
_SECOND_SLUGS = tuple(cat.slug(w) for w in cat.BRAND_SECOND)
_QUALIFIER_SLUGS = tuple(cat.slug(w) for w in cat.BRAND_QUALIFIER)
NAME_SPACE = len(cat.BRAND_FIRST) * len(cat.BRAND_SECOND) * len(cat.BRAND_QUALIFIER)


def _coprime_multiplier(n: int) -> int:
    candidate = 7919
    while math.gcd(candidate, n) != 1:
        candidate += 2
    return candidate


_MULTIPLIER = _coprime_multiplier(NAME_SPACE)


def account_names(index: I64, country: I64, seed: int) -> tuple[list[str], list[str]]:
    """Unique display names and domains: a bijection of the account index onto brand combinations."""
    offset = int(np.random.SeedSequence(seed).generate_state(1)[0]) % NAME_SPACE
    names, domains = [], []
    n_second, n_qual = len(cat.BRAND_SECOND), len(cat.BRAND_QUALIFIER)
    for i, c in zip(index.tolist(), country.tolist(), strict=True):
        p = (i * _MULTIPLIER + offset) % NAME_SPACE
        a, b, q = p // (n_second * n_qual), (p // n_qual) % n_second, p % n_qual
        lap = i // NAME_SPACE
        words = [cat.BRAND_FIRST[a], cat.BRAND_SECOND[b]] + ([cat.BRAND_QUALIFIER[q]] if q else [])
        parts = [_FIRST_SLUGS[a], _SECOND_SLUGS[b]] + ([_QUALIFIER_SLUGS[q]] if q else [])
        if lap:
            words.append(str(lap + 1))
            parts.append(str(lap + 1))
        names.append(" ".join(words))
        domains.append("-".join(parts) + "." + cat.COUNTRIES[c].tld)
    return names, domains


def contact_name_parts(pool: int, first0: int, first_step: int, last0: int, last_step: int, k: int) -> tuple[str, str]:
    """First and last name of contact ``k``: distinct first names within an account."""
    firsts, lasts = cat.NAME_POOLS[pool]
    return firsts[(first0 + k * first_step) % len(firsts)], lasts[(last0 + k * last_step) % len(lasts)]


def coprime_steps(n: int) -> tuple[int, ...]:
    """Steps that visit every residue modulo ``n``."""
    return tuple(s for s in range(1, n) if math.gcd(s, n) == 1)
