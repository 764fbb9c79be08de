"""tblocal.api.http: reading a request's body (bounded, gunzipped) and parameters, on real starlette Requests."""

import asyncio
import gzip
import json

import pytest
from starlette.requests import Request

from tblocal.api.http import flag, json_response, read_body, read_params
from tblocal.errors import BadRequest, TooLarge


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


def test_read_params_from_query_form_and_json():
    assert run(read_params(request(method="GET", query="a=1&b=x"))) == {"a": "1", "b": "x"}
    form = request(b"b=2&c=", query="a=1&b=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert run(read_params(form)) == {"a": "1", "b": "2", "c": ""}
    body = json.dumps({"b": "3", "n": 4, "l": [1, 2]}).encode()
    assert run(read_params(request(body, query="a=1", headers={"Content-Type": "application/json"}))) == \
        {"a": "1", "b": "3", "n": "4", "l": "[1, 2]"}


def test_a_bare_body_is_the_raw_key_parameter():
    """The Forward CLI POSTs SQL longer than 4 KB to /v0/sql as the bare body, with no content type."""
    sql = "SELECT a, b FROM t WHERE x = 'y&z=1' FORMAT JSON"
    assert run(read_params(request(sql.encode(), query="release_replacements=true"), raw_key="q")) == \
        {"release_replacements": "true", "q": sql}
    assert run(read_params(request(b"q=SELECT+1"), raw_key="q")) == {"q": "SELECT 1"}  # a form holding it: as usual


@pytest.mark.parametrize("body, kind, message", [
    (b"{not json", "application/json", "The body is not valid JSON"),
    (b"[1, 2]", "application/json", "The JSON body must be an object of parameters"),
    (b"a=%00", "application/x-www-form-urlencoded", "Parameter 'a' contains a NUL character"),
])
def test_read_params_refuses_bad_bodies(body, kind, message):
    with pytest.raises(BadRequest) as e:
        run(read_params(request(body, headers={"Content-Type": kind})))
    assert e.value.message == message


def test_flag_reads_true_or_1_in_any_case_and_a_default_when_absent():
    assert [flag({"x": v}, "x") for v in ("true", "TRUE", "1", "false", "0", "yes", "")] == [True, True, True, False, False, False, False]
    assert (flag({}, "x"), flag({}, "x", default=True), flag({"x": "false"}, "x", default=True)) == (False, True, False)
