"""The engagement dashboard (dashboard/ at the repo root) and the CORS headers its page needs."""

import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .errors import NotFound

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "dashboard"
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

# CORS: only Tinybird's API paths. Tinybird Local's /tokens bootstrap (the admin token) must
# never be readable by another site's page, so it gets no CORS header at all.
CORS_PREFIX = "/v0/"
CORS_METHODS = "GET, POST, OPTIONS"
CORS_DEFAULT_HEADERS = "Authorization, Content-Type, Content-Encoding"


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


ROUTES = [
    Route("/dashboard", dashboard_redirect, methods=["GET"]),
    Route("/dashboard/", dashboard_index, methods=["GET"]),
    Route("/dashboard/{name}", dashboard_asset, methods=["GET"]),
]


class Cors:
    """Answers CORS preflights and adds Access-Control-Allow-Origin: * on /v0/ API paths, as Tinybird's API does."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(CORS_PREFIX):
            return await self.app(scope, receive, send)
        headers = {k.lower(): v for k, v in scope.get("headers") or []}
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            # No credentials are ever allowed (tokens travel in a header or the query string),
            # so echoing the requested headers and a wildcard origin is safe.
            requested = headers.get(b"access-control-request-headers", b"").decode("latin-1")
            preflight = Response(
                status_code=204,
                headers={
                    "Access-Control-Allow-Origin": "*",
                    "Access-Control-Allow-Methods": CORS_METHODS,
                    "Access-Control-Allow-Headers": requested or CORS_DEFAULT_HEADERS,
                    "Access-Control-Max-Age": "600",
                },
            )
            return await preflight(scope, receive, send)

        async def send_with_cors(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"access-control-allow-origin", b"*")]
            await send(message)

        await self.app(scope, receive, send_with_cors)
