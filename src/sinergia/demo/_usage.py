"""Usage events: the monthly counts of the causal model spread over days, hours, features and users."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sinergia.demo import _catalog as cat
from sinergia.demo._arrow import floats, group_rank, join, padded, table, take, timestamps
from sinergia.demo._context import Context
from sinergia.demo._rand import row_choice
from sinergia.demo._types import F64, I64

#: Uniforms per usage event: day, hour, second, feature, event, contact, duration, quantity/platform.
USAGE_UNIFORMS = 8

_EVENT_NAMES = tuple(ev[0] for f in cat.FEATURES for ev in f.events)
_EVENT_MEDIAN = np.array([ev[2] for f in cat.FEATURES for ev in f.events])
_EVENT_FEATURE = np.array([i for i, f in enumerate(cat.FEATURES) for _ in f.events], np.int64)
_FIRST_EVENT = np.concatenate([[0], np.cumsum([len(f.events) for f in cat.FEATURES])[:-1]]).astype(np.int64)
_EVENT_CUM = np.array(
    [
        list(np.cumsum([ev[1] for ev in f.events]) / sum(ev[1] for ev in f.events))
        + [1.0] * (cat.MAX_EVENTS_PER_FEATURE - len(f.events))
        for f in cat.FEATURES
    ]
)
_FEATURE_WEIGHT = np.array([f.weight for f in cat.FEATURES])
_FEATURE_NAMES = tuple(f.name for f in cat.FEATURES)
_API_CALL = _EVENT_NAMES.index("api_call")
_AUTOMATION_RUN = _EVENT_NAMES.index("automation_run")
_MOBILE = _EVENT_NAMES.index("mobile_session")
_PLATFORMS = ('{"platform":"web"}', '{"platform":"mobile"}', '{"platform":"api"}')


def usage_counts(ctx: Context) -> I64:
    """Number of usage events of each account of the chunk."""
    return np.asarray(ctx.hist.n_usage.sum(axis=1), np.int64)


def usage_table(ctx: Context, rows: range, u: F64, schema: pa.Schema) -> pa.Table:
    """Usage events of the chunk's accounts ``rows`` from their uniform blocks ``u`` (events x USAGE_UNIFORMS)."""
    hist, months = ctx.hist, ctx.window.months
    cells = np.arange(rows.start * months, rows.stop * months)
    cell = np.repeat(cells, hist.n_usage[rows.start : rows.stop].ravel())
    account = cell // months
    ts = ctx.window.place(
        hist.lo.ravel()[cell], hist.hi.ravel()[cell], u[:, 0], u[:, 1], u[:, 2], ctx.profile.utc_offset[account]
    )
    feature = _pick_feature(hist.adopted.reshape(-1, len(cat.FEATURES)), cell, u[:, 3])
    event = _FIRST_EVENT[feature] + (u[:, 4][:, None] >= _EVENT_CUM[feature][:, :2]).sum(axis=1)
    contact = ctx.pick_contact(account, u[:, 5])
    duration = np.round(_EVENT_MEDIAN[event] * -np.log1p(-u[:, 6]) / np.log(2) + 0.5, 1)
    quantity = np.where(
        event == _API_CALL,
        np.floor(5 * np.exp(4 * u[:, 7])),
        np.where(event == _AUTOMATION_RUN, 1 + np.floor(u[:, 7] * 20), 1.0),
    )
    platform = np.where(event == _API_CALL, 2, np.where((event == _MOBILE) | (u[:, 7] > 0.88), 1, 0))
    order = np.argsort(account * (1 << 32) + (ts - ctx.window.start), kind="stable")
    account, ts, feature, event = account[order], ts[order], feature[order], event[order]
    contact, duration, quantity, platform = contact[order], duration[order], quantity[order], platform[order]
    number = ctx.account_number.take(pa.array(account))
    return table(
        schema,
        {
            "event_id": join("evt", number, padded(group_rank(account) + 1, 6)),
            "account_id": ctx.account_id.take(pa.array(account)),
            "contact_id": ctx.contact_ids(account, contact),
            "event": take(_EVENT_NAMES, event),
            "feature": take(_FEATURE_NAMES, feature),
            "occurred_at": timestamps(ts),
            "quantity": floats(quantity),
            "duration_seconds": floats(duration),
            "properties": take(_PLATFORMS, platform),
        },
    )


def _pick_feature(adopted: np.ndarray, cell: I64, u: F64) -> I64:
    """Feature of each event, among the features its account adopted that month, by feature weight."""
    weights = adopted * _FEATURE_WEIGHT[None, :]
    weights[:, 0] = np.where(weights.sum(axis=1) == 0, 1.0, weights[:, 0])
    return row_choice(weights, cell, u)
