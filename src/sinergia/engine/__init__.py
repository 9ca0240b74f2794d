"""The analytics engine: canonical tables in the workspace's DuckDB file, reached through Ibis."""

from sinergia.engine.tables import TABLE_NAMES, ensure_engine_schema

__all__ = ["TABLE_NAMES", "ensure_engine_schema"]
