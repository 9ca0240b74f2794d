"""Per-chunk context shared by the table builders: profile, history, ids and contact rosters."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from sinergia.demo import _catalog as cat
from sinergia.demo._arrow import join, padded
from sinergia.demo._profile import Profile
from sinergia.demo._rand import row_choice
from sinergia.demo._sim import History
from sinergia.demo._text import EN, PT
from sinergia.demo._types import F64, I64
from sinergia.demo._window import Window

ID_WIDTH = 6


@dataclass
class Context:
    """Everything a table builder needs about a chunk of accounts."""

    profile: Profile
    hist: History
    window: Window
    seed: int
    account_number: pa.Array  # '000123' (1-based, zero-padded)
    account_id: pa.Array  # 'acc_000123'
    contact_offset: I64  # first contact row of each account
    contact_id: pa.Array  # every contact of the chunk, account by account
    role: I64  # (n, MAX_CONTACTS) role of contact k, -1 past the roster
    usage_weight: F64  # (n, MAX_CONTACTS) how much each contact uses the product
    lang: I64  # (n,) PT or EN

    @property
    def n(self) -> int:
        """Number of accounts."""
        return self.profile.n

    def contact_ids(self, account: I64, k: I64) -> pa.Array:
        """Ids of contact ``k`` of accounts ``account`` (chunk rows)."""
        return self.contact_id.take(pa.array(self.contact_offset[account] + k))

    def pick_contact(self, account: I64, u: F64, weights: F64 | None = None) -> I64:
        """Contact index drawn for each row by the account's usage weights (or ``weights``)."""
        k = row_choice(self.usage_weight if weights is None else weights, account, u)
        return np.asarray(np.minimum(k, self.profile.n_contacts[account] - 1), np.int64)


def roles(n_contacts: I64) -> I64:
    """Role of each contact slot: decision maker, admin, champion, billing, then users."""
    k = np.arange(cat.MAX_CONTACTS)[None, :]
    base = np.minimum(k, cat.USER)
    return np.where(k < n_contacts[:, None], base, -1).astype(np.int64)


def build_context(profile: Profile, hist: History, window: Window, seed: int) -> Context:
    """Ids and rosters of a chunk."""
    number = padded(profile.index + 1, ID_WIDTH)
    role = roles(profile.n_contacts)
    k = np.arange(cat.MAX_CONTACTS)[None, :]
    jitter = 0.6 + 0.8 * np.modf(k * 0.618 + profile.index[:, None] * 0.377)[0]
    weight = np.where(role >= 0, np.array(cat.ROLE_USAGE)[np.maximum(role, 0)] * jitter, 0.0)
    offset = np.concatenate([[0], np.cumsum(profile.n_contacts)[:-1]]).astype(np.int64)
    owner = np.repeat(np.arange(profile.n), profile.n_contacts)
    slot = np.arange(len(owner)) - offset[owner]
    contact_id = join("con", number.take(pa.array(owner)), padded(slot + 1, 2))
    return Context(
        profile=profile,
        hist=hist,
        window=window,
        seed=seed,
        account_number=number,
        account_id=join("acc", number),
        contact_offset=offset,
        contact_id=contact_id,
        role=role,
        usage_weight=weight,
        lang=np.where(profile.english, EN, PT).astype(np.int64),
    )
