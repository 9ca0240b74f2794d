"""Every ``/api/v1`` router, combined."""

from __future__ import annotations

from fastapi import APIRouter

from . import accounts, ingest, metrics, system

api_router = APIRouter()
api_router.include_router(system.router)
api_router.include_router(accounts.router)
api_router.include_router(metrics.router)
api_router.include_router(ingest.router)
