"""Building Arrow columns from numpy arrays, with the canonical types of each entity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sinergia.demo._types import I64, Bool
from sinergia.schema.entities import ENTITIES

_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "double": pa.float64(),
    "money": pa.decimal128(18, 2),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us"),
    "date": pa.date32(),
    "json": pa.string(),
}


def arrow_schema(entity: str, columns: Sequence[str]) -> pa.Schema:
    """Arrow schema of ``columns`` of a canonical entity, typed as the canonical model says."""
    spec = ENTITIES[entity]
    return pa.schema([pa.field(name, _ARROW_TYPES[spec.field(name).type]) for name in columns])


def table(schema: pa.Schema, columns: Mapping[str, pa.Array]) -> pa.Table:
    """A table with exactly the schema's columns, in its order."""
    if set(columns) != set(schema.names):
        raise ValueError(f"columns {sorted(columns)} do not match {schema.names}")
    return pa.Table.from_arrays([columns[name] for name in schema.names], schema=schema)


def timestamps(seconds: I64, valid: Bool | None = None) -> pa.Array:
    """Naive UTC microsecond timestamps from epoch seconds; ``valid`` False gives nulls."""
    mask = None if valid is None else ~valid
    return pa.array(seconds.astype(np.int64) * 1_000_000, type=pa.timestamp("us"), mask=mask)


def money(cents: I64) -> pa.Array:
    """DECIMAL(18,2) from integer cents, exactly (no float rounding)."""
    cents = np.ascontiguousarray(cents, np.int64)
    words = np.empty((len(cents), 2), np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63  # sign extension to 128 bits, little endian
    return pa.Array.from_buffers(pa.decimal128(18, 2), len(cents), [None, pa.py_buffer(words.tobytes())])


def padded(values: I64, width: int) -> pa.Array:
    """Zero-padded decimal strings."""
    return pc.utf8_lpad(pc.cast(pa.array(values, pa.int64()), pa.string()), width=width, padding="0")


def join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise ``'_'``-join of string arrays and literals (``join('acc', numbers)``)."""
    return pc.binary_join_element_wise(*parts, "_")


def take(values: Sequence[str] | pa.Array, index: I64, valid: Bool | None = None) -> pa.Array:
    """Strings ``values[index]``; ``valid`` False gives nulls."""
    source = values if isinstance(values, pa.Array) else pa.array(list(values), pa.string())
    mask = None if valid is None else ~valid
    return pc.take(source, pa.array(np.asarray(index, np.int64), mask=mask))


def floats(values: np.ndarray, valid: Bool | None = None) -> pa.Array:
    """DOUBLE column; ``valid`` False (or NaN when ``valid`` is None) gives nulls."""
    arr = np.asarray(values, np.float64)
    mask = np.isnan(arr) if valid is None else ~valid
    return pa.array(arr, pa.float64(), mask=mask)


def ints(values: np.ndarray, valid: Bool | None = None) -> pa.Array:
    """BIGINT column; ``valid`` False gives nulls."""
    mask = None if valid is None else ~valid
    return pa.array(np.asarray(values, np.int64), pa.int64(), mask=mask)


def group_rank(group: I64) -> I64:
    """Position of each row within its run of equal ``group`` values (rows sorted by group)."""
    n = len(group)
    if n == 0:
        return np.zeros(0, np.int64)
    starts = np.flatnonzero(np.concatenate([[True], group[1:] != group[:-1]]))
    run_start = np.repeat(starts, np.diff(np.concatenate([starts, [n]])))
    return (np.arange(n) - run_start).astype(np.int64)
