"""The REST API (FastAPI) under ``/api/v1``: ``create_app(workspace)`` builds the whole app."""

from sinergia.api.app import API_PREFIX, create_app

__all__ = ["API_PREFIX", "create_app"]
