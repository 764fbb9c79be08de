"""CORS on Tinybird's API paths, so a page on another origin (the dashboard on a hosted host) can call them."""

from starlette.responses import Response

# CORS: only Tinybird's API paths. Tinybird Local's /tokens bootstrap (the admin token) must
# never be readable by another site's page, so it gets no CORS header at all.
CORS_PREFIX = "/v0/"
CORS_METHODS = "GET, POST, OPTIONS"
CORS_DEFAULT_HEADERS = "Authorization, Content-Type, Content-Encoding"


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
