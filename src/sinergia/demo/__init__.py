"""Demo data: a deterministic, streaming generator of a believable B2B SaaS customer base.

``generate(out_dir)`` writes one Parquet file per canonical entity (accounts, contacts, subscriptions and
their MRR movements, invoices, usage events, tickets and their history, survey answers, feedback,
touchpoints). Churn and expansion are caused by signals in the same data — falling usage, bad tickets,
detractor answers — so the models built on it have something true to find. See ``docs/demo-data.md``.
"""

from __future__ import annotations

from sinergia.demo.generator import DEFAULT_CHUNK_SIZE, ENTITY_COLUMNS, generate

__all__ = ["DEFAULT_CHUNK_SIZE", "ENTITY_COLUMNS", "generate"]
