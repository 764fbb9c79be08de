"""The engagement dashboard: the files of dashboard/ at the repo root, served with a strict Content-Security-Policy."""

import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..errors import NotFound

DASHBOARD_DIR = Path(__file__).resolve().parents[2] / "dashboard"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
ASSET_NAME = re.compile(r"^[a-z][a-z0-9_-]*\.(html|js|css)$")  # flat names only: no path can leave the folder

# Scripts and styles only from this server, no inline code (data is rendered as text, and this
# stops anything that slipped through from running); connect-src * because the page may talk
# to a hosted Tinybird host the user types in.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src *; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

def _asset(name: str) -> Response:
    path = DASHBOARD_DIR / name
    if not ASSET_NAME.match(name) or not path.is_file():
        raise NotFound(f"The dashboard has no file '{name[:80]}'")
    return Response(path.read_bytes(), media_type=CONTENT_TYPES[path.suffix], headers=PAGE_HEADERS)


async def dashboard_redirect(request: Request) -> Response:
    """/dashboard -> /dashboard/, so the page's relative asset URLs resolve (the #fragment is kept by the browser)."""
    return RedirectResponse("/dashboard/", status_code=308)


async def dashboard_index(request: Request) -> Response:
    """The dashboard page."""
    return _asset("index.html")


async def dashboard_asset(request: Request) -> Response:
    """A script or stylesheet of the dashboard."""
    return _asset(request.path_params["name"])
