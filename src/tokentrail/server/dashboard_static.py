"""Static files of the dashboard, and plotly.js from the installed `plotly` package (no CDN, works offline).

Files are read once and kept in memory with a content hash as ETag; templates link them as
``/static/<name>?v=<hash>`` so they can be cached for a year. Clients that accept gzip get a copy
compressed once (plotly.min.js shrinks from ~4.8 MB to ~1.4 MB).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.resources
from importlib import metadata

from fastapi import APIRouter, Request, Response

router = APIRouter()

PLOTLY = "plotly.min.js"
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
CACHE = "public, max-age=31536000, immutable"


@functools.cache
def _own_files() -> dict[str, bytes]:
    folder = importlib.resources.files("tokentrail") / "web" / "static"
    return {entry.name: entry.read_bytes() for entry in folder.iterdir() if entry.is_file()}


@functools.cache
def _plotly() -> bytes:
    return (importlib.resources.files("plotly") / "package_data" / PLOTLY).read_bytes()


@functools.cache
def _asset(name: str) -> tuple[bytes, bytes, str] | None:
    """(body, gzipped body, etag) of a static file, or None when there is no such file."""
    if name == PLOTLY:
        body = _plotly()
    else:
        found = _own_files().get(name)
        if found is None:
            return None
        body = found
    etag = hashlib.sha256(body).hexdigest()[:16]
    return body, gzip.compress(body, compresslevel=6, mtime=0), etag


def static_url(name: str) -> str:
    """The cache-busting URL of a static file."""
    if name == PLOTLY:
        return f"/static/{PLOTLY}?v={metadata.version('plotly')}"
    asset = _asset(name)
    if asset is None:
        raise KeyError(f"no static file {name!r}")
    return f"/static/{name}?v={asset[2]}"


@router.get("/static/{name}", include_in_schema=False)
def static_file(name: str, request: Request) -> Response:
    """Sync, so the one-off gzip of a large file runs in the thread pool, off the event loop."""
    asset = _asset(name)
    if asset is None:
        return Response("not found", status_code=404, media_type="text/plain")
    body, zipped, etag = asset
    headers = {"Cache-Control": CACHE, "ETag": f'"{etag}"', "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match", "").strip('W/"') == etag:
        return Response(status_code=304, headers=headers)
    media = MEDIA_TYPES.get(name[name.rfind(".") :], "application/octet-stream")
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(zipped, media_type=media, headers={**headers, "Content-Encoding": "gzip"})
    return Response(body, media_type=media, headers=headers)
