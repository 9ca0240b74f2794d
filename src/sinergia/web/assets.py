"""Static assets, all served by this app from installed packages: our CSS/JS and plotly.js from the plotly wheel.

No CDN: ``/static/app.css`` and ``/static/app.js`` come from ``sinergia/web/static``; ``/static/vendor/plotly.min.js``
is the file the ``plotly`` package ships in ``plotly/package_data``. URLs carry ``?v=<content hash>`` so browsers
may cache them for a long time.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

OWN_STATIC = Path(__file__).parent / "static"
MEDIA_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def plotly_js_path() -> Path:
    """plotly.min.js inside the installed plotly package (offline by construction)."""
    path = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
    if not path.is_file():
        raise FileNotFoundError(f"plotly.min.js not found in the installed plotly package ({path})")
    return path


def resolve(path: str) -> Path | None:
    """The file behind a static path, or None (never outside the two allowed places)."""
    if path == "vendor/plotly.min.js":
        return plotly_js_path()
    candidate = (OWN_STATIC / path).resolve()
    if OWN_STATIC.resolve() not in candidate.parents or not candidate.is_file():
        return None
    return candidate


@cache
def asset_version(path: str) -> str:
    found = resolve(path)
    if found is None:
        return "0"
    return hashlib.sha256(found.read_bytes()).hexdigest()[:12]


router = APIRouter()


@router.get("/static/{path:path}", name="web_static", include_in_schema=False)
def static(path: str) -> FileResponse:
    found = resolve(path)
    if found is None:
        raise HTTPException(status_code=404, detail=f"no static file {path}")
    return FileResponse(
        found,
        media_type=MEDIA_TYPES.get(found.suffix, "application/octet-stream"),
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )
