"""tblocal.api.http: reading a request's body (bounded, gunzipped) and answering JSON, on real starlette Requests."""

import asyncio
import gzip

import pytest
from starlette.requests import Request

from tblocal.api.http import json_response, read_body
from tblocal.errors import TooLarge


class App:
    class state:
        class workspaces:
            class settings:
                max_body_bytes = 1024


def request(body: bytes = b"", method: str = "POST", query: str = "", headers: dict | None = None, chunk: int = 100) -> Request:
    """A Request whose body arrives in chunks of chunk bytes, as from a socket."""
    pieces = [body[i:i + chunk] for i in range(0, len(body), chunk)] or [b""]
    messages = [{"type": "http.request", "body": p, "more_body": i < len(pieces) - 1} for i, p in enumerate(pieces)]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    scope = {"type": "http", "method": method, "path": "/", "query_string": query.encode(), "app": App,
             "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]}
    return Request(scope, receive)


def run(coroutine):
    return asyncio.run(coroutine)


def test_json_response_is_utf8_not_ascii_escaped():
    r = json_response({"name": "café"}, 201)
    assert (r.status_code, r.body, r.media_type) == (201, '{"name": "café"}'.encode(), "application/json")


def test_read_body_plain_and_gzip():
    assert run(read_body(request(b"x" * 1024))) == b"x" * 1024
    assert run(read_body(request(gzip.compress(b"y" * 1000), headers={"Content-Encoding": "gzip"}))) == b"y" * 1000


@pytest.mark.parametrize("headers", [{}, {"Content-Length": "1025"}])
def test_read_body_over_the_limit_is_413(headers):
    with pytest.raises(TooLarge) as e:
        run(read_body(request(b"x" * 1025, headers=headers)))
    assert e.value.message == "The body is larger than the 0 MB limit"


def test_read_body_gzip_bomb_is_413():
    with pytest.raises(TooLarge) as e:
        run(read_body(request(gzip.compress(b"\0" * 4096), headers={"Content-Encoding": "gzip"})))
    assert e.value.message == "The decompressed body is larger than the 0 MB limit"
