"""The serving store (SQLAlchemy 2 + Alembic): what the app reads, and the app's own state."""
