"""Deterministic, streaming generator of a believable B2B SaaS customer base.

``generate`` writes one Parquet file per canonical entity. Accounts are generated in chunks; each chunk is
simulated month by month with vectorised numpy (see ``_sim`` for the causal model), turned into Arrow tables
and appended to one ``ParquetWriter`` per entity, so memory depends on the chunk size, never on the number
of accounts. Every account draws from its own random stream (``SeedSequence(seed, spawn_key=(i,))``): the
same arguments give the same data whatever the chunk size, and nothing reads the clock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sinergia.demo import _catalog as cat
from sinergia.demo._arrow import arrow_schema
from sinergia.demo._context import build_context
from sinergia.demo._core import accounts_table, changes_table, contacts_table, orders_table, subscriptions_table
from sinergia.demo._cx import feedback_table, journey, survey_table, touchpoints_table
from sinergia.demo._profile import build_profile, segment_of_draw
from sinergia.demo._rand import Draws, account_rng, fixed_block_size
from sinergia.demo._sim import simulate
from sinergia.demo._support import TICKET_UNIFORMS, build_tickets, ticket_counts, ticket_survey_columns
from sinergia.demo._usage import USAGE_UNIFORMS, usage_counts, usage_table
from sinergia.demo._window import Window, build_window
from sinergia.schema.entities import ENTITIES

DEFAULT_CHUNK_SIZE = 1000
#: Usage events built and written at a time (the bulk of the data).
USAGE_BATCH = 200_000
DEFAULT_END = dt.date(2026, 10, 31)

#: Columns written per entity (canonical names; system columns are never written).
ENTITY_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": (
        "account_id", "name", "domain", "parent_account_id", "owner", "segment", "industry", "country",
        "region", "plan", "persona", "lifecycle_stage", "employees", "licenses", "created_at", "renewal_at",
        "currency",
    ),
    "contacts": ("contact_id", "account_id", "email", "name", "title", "role", "persona", "language", "created_at"),
    "subscriptions": (
        "subscription_id", "account_id", "plan", "status", "started_at", "ended_at", "mrr", "currency",
        "quantity", "billing_period", "is_trial",
    ),
    "subscription_changes": (
        "change_id", "subscription_id", "account_id", "changed_at", "kind", "mrr_before", "mrr_after",
        "currency", "attributes",
    ),
    "orders": ("order_id", "account_id", "contact_id", "kind", "status", "ordered_at", "amount", "currency",
               "attributes"),
    "usage_events": (
        "event_id", "account_id", "contact_id", "event", "feature", "occurred_at", "quantity",
        "duration_seconds", "properties",
    ),
    "tickets": (
        "ticket_id", "account_id", "contact_id", "subject", "description", "channel", "priority", "status",
        "type", "team", "assignee", "created_at", "first_reply_at", "solved_at", "closed_at", "updated_at",
        "reopens", "replies", "csat_score", "csat_scale", "tags",
    ),
    "ticket_events": (
        "event_id", "ticket_id", "occurred_at", "sequence", "kind", "status", "source_status", "actor", "team",
        "assignee",
    ),
    "survey_responses": (
        "response_id", "account_id", "contact_id", "ticket_id", "survey", "score", "scale_min", "scale_max",
        "comment", "touchpoint", "journey_stage", "channel", "language", "sent_at", "responded_at",
    ),
    "feedback": (
        "feedback_id", "account_id", "contact_id", "kind", "text", "title", "rating", "rating_scale",
        "touchpoint", "journey_stage", "channel", "language", "created_at",
    ),
    "touchpoints": (
        "touchpoint_id", "account_id", "contact_id", "name", "journey_stage", "channel", "occurred_at", "owner",
    ),
}  # fmt: skip


def generate(
    out_dir: Path,
    *,
    accounts: int = 500,
    seed: int = 7,
    months: int = 24,
    end: dt.date = DEFAULT_END,
    progress: Callable[[int], None] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    usage_scale: float = 1.0,
    survey_scale: float = 1.0,
) -> dict[str, Path]:
    """Write one Parquet file per canonical entity into out_dir (file name = '<entity>.parquet'),
    return {entity_name: path}. progress(n) is called with the number of accounts just finished.

    The window is the ``months`` calendar months ending with the month of ``end`` (up to ``end`` included);
    ``chunk_size`` accounts are held in memory at a time and never change the data.

    ``usage_scale`` and ``survey_scale`` (benchmarks, default 1.0 = the demo) scale each account's usage
    events and survey answers, deterministically and per account (see :func:`_thin`), so a large workspace
    can have other volumes per account than the demo's; every other table is unchanged.
    """
    if accounts < 0:
        raise ValueError("accounts must not be negative")
    if not (0.0 <= usage_scale <= 1.0 and 0.0 <= survey_scale <= 1.0):
        raise ValueError("usage_scale and survey_scale must be between 0 and 1")
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    window = build_window(end, months)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    schemas = {name: arrow_schema(name, cols) for name, cols in ENTITY_COLUMNS.items()}
    final = {name: out_dir / f"{name}.parquet" for name in ENTITY_COLUMNS}
    tmp = {name: out_dir / f"{name}.parquet.tmp" for name in ENTITY_COLUMNS}
    writers: dict[str, pq.ParquetWriter] = {}
    try:
        for name, schema in schemas.items():
            writers[name] = _writer(tmp[name], name, schema)
        for start in range(0, accounts, chunk_size):
            stop = min(accounts, start + chunk_size)
            for name, chunk_table in _chunk(start, stop, seed, window, schemas, usage_scale, survey_scale):
                if chunk_table.num_rows:
                    writers[name].write_table(chunk_table)
            if progress is not None:
                progress(stop - start)
    except BaseException:
        _close_all(writers, quiet=True)
        for path in tmp.values():
            path.unlink(missing_ok=True)
        raise
    _close_all(writers)
    for name in ENTITY_COLUMNS:
        tmp[name].replace(final[name])
    return final


def _writer(path: Path, entity: str, schema: pa.Schema) -> pq.ParquetWriter:
    """A zstd Parquet writer; the unique key column gets neither a dictionary nor min/max statistics."""
    key = set(ENTITIES[entity].key)
    others = [name for name in schema.names if name not in key]
    return pq.ParquetWriter(path, schema, compression="zstd", use_dictionary=others, write_statistics=others)


def _close_all(writers: dict[str, pq.ParquetWriter], *, quiet: bool = False) -> None:
    """Close every writer; when already failing (``quiet``), a writer that cannot close does not stop the rest."""
    for writer in writers.values():
        if quiet:
            with contextlib.suppress(Exception):
                writer.close()
        else:
            writer.close()


@functools.lru_cache(maxsize=8192)
def _segment(seed: int, index: int) -> int:
    """Segment of account ``index``: its first static uniform (used to find parents outside a chunk)."""
    return int(segment_of_draw(account_rng(seed, index).random(1))[0])


def _thin(counts: np.ndarray, scale: float) -> np.ndarray:
    """``counts`` (accounts x steps) scaled by ``scale`` per account, by error diffusion along each row.

    The running total of every row is rounded (``⌊Σ·scale + ½⌋``), so each account keeps about ``scale`` of
    its rows, spread like the original, and the result depends on nothing but the account's own counts.
    """
    kept = np.floor(np.cumsum(counts, axis=1) * scale + 0.5).astype(np.int64)
    return np.diff(kept, axis=1, prepend=0)


def _thin_answers(answers: pa.Table, scale: float) -> pa.Table:
    """Every account's answers (sorted by account) thinned to about ``scale`` of them (:func:`_thin`)."""
    ids = answers.column("account_id").to_numpy(zero_copy_only=False)
    n = len(ids)
    if n == 0:
        return answers
    starts = np.flatnonzero(np.concatenate([[True], ids[1:] != ids[:-1]]))
    rank = np.arange(n) - np.repeat(starts, np.diff(np.concatenate([starts, [n]])))
    keep = np.floor((rank + 1) * scale + 0.5) > np.floor(rank * scale + 0.5)
    return answers.filter(pa.array(keep))


def _chunk(
    start: int,
    stop: int,
    seed: int,
    window: Window,
    schemas: dict[str, pa.Schema],
    usage_scale: float = 1.0,
    survey_scale: float = 1.0,
) -> Iterator[tuple[str, pa.Table]]:
    """All tables of accounts [start, stop), usage events in batches of about USAGE_BATCH rows."""
    index = np.arange(start, stop, dtype=np.int64)
    n_feat = len(cat.FEATURES)
    rngs = [account_rng(seed, int(i)) for i in index]
    size = fixed_block_size(window.months, n_feat)
    blocks = np.empty((len(index), size))
    for row, rng in enumerate(rngs):
        blocks[row] = rng.random(size)
    draws = Draws(blocks, window.months, n_feat)
    segments = segment_of_draw(draws.s("segment"))

    def lookup(j: int) -> int:
        return int(segments[j - start]) if start <= j < stop else _segment(seed, j)

    profile = build_profile(index, draws, window, lookup)
    hist = simulate(profile, draws, window)
    n_drawn = np.asarray(hist.n_usage.sum(axis=1), np.int64)  # uniforms drawn: thinning keeps tickets the same
    if usage_scale != 1.0:
        hist.n_usage = _thin(hist.n_usage, usage_scale)
    ctx = build_context(profile, hist, window, seed)
    n_usage, n_tickets = usage_counts(ctx), ticket_counts(ctx)
    u_tickets = np.empty((int(n_tickets.sum()), TICKET_UNIFORMS))
    ticket_start = np.concatenate([[0], np.cumsum(n_tickets)]).astype(np.int64)
    for rows in _batches(n_usage, USAGE_BATCH):
        u_usage = _event_draws(rngs, rows, n_usage, n_tickets, u_tickets, ticket_start, n_drawn)
        yield "usage_events", usage_table(ctx, rows, u_usage, schemas["usage_events"])
        del u_usage
    tickets, ticket_events = build_tickets(ctx, u_tickets, schemas["tickets"], schemas["ticket_events"])
    yield "tickets", tickets.table
    yield "ticket_events", ticket_events
    trip = journey(ctx, draws)
    yield "accounts", accounts_table(ctx, schemas["accounts"])
    yield "contacts", contacts_table(ctx, draws, schemas["contacts"])
    yield "subscriptions", subscriptions_table(ctx, schemas["subscriptions"])
    yield "subscription_changes", changes_table(ctx, schemas["subscription_changes"])
    yield "orders", orders_table(ctx, draws, schemas["orders"])
    ticket_surveys = ticket_survey_columns(ctx, tickets)
    answers = survey_table(ctx, draws, trip, ticket_surveys, schemas["survey_responses"])
    yield "survey_responses", answers if survey_scale == 1.0 else _thin_answers(answers, survey_scale)
    yield "feedback", feedback_table(ctx, draws, schemas["feedback"])
    yield "touchpoints", touchpoints_table(ctx, draws, trip, schemas["touchpoints"])


def _batches(counts: np.ndarray, limit: int) -> Iterator[range]:
    """Consecutive account rows whose counts add up to about ``limit`` (at least one row each)."""
    first, total = 0, 0
    for row, count in enumerate(counts.tolist()):
        if total and total + count > limit:
            yield range(first, row)
            first, total = row, 0
        total += count
    if first < len(counts):
        yield range(first, len(counts))


def _event_draws(
    rngs: list[np.random.Generator],
    rows: range,
    n_usage: np.ndarray,
    n_tickets: np.ndarray,
    u_tickets: np.ndarray,
    ticket_start: np.ndarray,
    n_drawn: np.ndarray,
) -> np.ndarray:
    """Each account's second draw: uniforms for its usage events (returned), then for its tickets (stored).

    ``n_drawn`` is the unthinned number of events: their uniforms are always drawn, so a ``usage_scale``
    leaves the tickets unchanged (the first ``n_usage`` blocks are used).
    """
    u_usage = np.empty((int(n_usage[rows.start : rows.stop].sum()), USAGE_UNIFORMS))
    pos = 0
    for row in rows:
        nu, nd, nt, t0 = int(n_usage[row]), int(n_drawn[row]), int(n_tickets[row]), int(ticket_start[row])
        block = rngs[row].random(nd * USAGE_UNIFORMS + nt * TICKET_UNIFORMS)
        u_usage[pos : pos + nu] = block[: nu * USAGE_UNIFORMS].reshape(nu, USAGE_UNIFORMS)
        u_tickets[t0 : t0 + nt] = block[nd * USAGE_UNIFORMS :].reshape(nt, TICKET_UNIFORMS)
        pos += nu
    return u_usage
