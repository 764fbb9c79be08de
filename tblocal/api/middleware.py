"""The app's middleware: the URL limit, the retry headers of every 429 and 503, the request log."""

import logging
import time

from .. import write
from ..errors import UriTooLong
from .http import json_response

log = logging.getLogger("tblocal")
MAX_URL_BYTES = 64 * 1024  # longer path + query string: 414, as Tinybird; send long SQL or params in a POST body
# A 429's or 503's retry headers when its refusal gives none: retry in a second (X-RateLimit-Reset: seconds from now).
RETRY_HEADERS = [(b"retry-after", b"1"), (b"x-ratelimit-limit", b"1"), (b"x-ratelimit-remaining", b"0"),
                 (b"x-ratelimit-reset", b"1")]


class UrlLimit:
    """414 for a URL (path and query string) longer than MAX_URL_BYTES, as Tinybird answers."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") > MAX_URL_BYTES:
            await write.drain(receive)  # a body sent with the long URL is read first, so the client reads the 414
            refusal = UriTooLong(f"The URL is longer than {MAX_URL_BYTES // 1024} KB: send the parameters in a POST body")
            return await json_response(refusal.body(), 414)(scope, receive, send)
        await self.app(scope, receive, send)


class RetryHeaders:
    """Every 429 and 503 says when to retry, in the headers the SDKs' retries read: Retry-After and
    X-RateLimit-Limit/Remaining/Reset (the earlier Python SDK waits on a 429 only when Remaining is 0)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_retry(message):
            if message["type"] == "http.response.start" and message["status"] in (429, 503):
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in RETRY_HEADERS if k not in present)]
            await send(message)

        await self.app(scope, receive, send_with_retry)


class RequestLog:
    """One log line per request: method, path (never the query string, which may hold a token), status, ms."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [0]

        async def send_with_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            ms = (time.perf_counter() - start) * 1000
            log.info("%s %s %s %.1fms", scope["method"], scope["path"][:200], status[0], ms)
