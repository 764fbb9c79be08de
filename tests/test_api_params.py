"""tblocal.api.params: the one request-parameter model (query string, form, JSON, multipart; the token), on real
starlette Requests, with the body kinds the routes declare."""

import asyncio
import json

import pytest
from starlette.requests import Request

from tblocal.api.auth import token_of
from tblocal.api.params import Params, Part, body, file_format, read_params
from tblocal.errors import BadRequest


class App:
    class state:
        class workspaces:
            class settings:
                max_body_bytes = 1024
                max_append_bytes = 4096


@body()
async def params_route(request): ...


@body("rows", limit="max_append_bytes")
async def rows_route(request): ...


@body(raw_param="q")
async def sql_route(request): ...


def request(body: bytes = b"", method: str = "POST", query: str = "", headers: dict | None = None, endpoint=params_route) -> Request:
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    scope = {"type": "http", "method": method, "path": "/", "query_string": query.encode(), "app": App, "endpoint": endpoint,
             "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]}
    return Request(scope, receive)


def read(*args, **kwargs) -> Params:
    return asyncio.run(read_params(request(*args, **kwargs)))


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


def test_query_string_form_and_json_merge_and_the_body_wins():
    assert read(method="GET", query="a=1&b=x").values == {"a": "1", "b": "x"}
    assert read(b"b=2&c=", query="a=1&b=x", headers=FORM).values == {"a": "1", "b": "2", "c": ""}
    sent = {"b": "3", "n": 4, "l": [1, 2], "o": {"k": True}}
    assert read(json.dumps(sent).encode(), query="a=1&b=x", headers=JSON).values == \
        {"a": "1", "b": "3", "n": "4", "l": "[1, 2]", "o": '{"k": true}'}


def test_a_json_object_without_a_content_type_is_json_and_keeps_its_shape():
    """The Forward CLI sends a JWT's scopes as a JSON body with no content type; the SDKs send name too."""
    sent = {"name": "jwt", "scopes": [{"type": "PIPES:READ", "resource": "p", "fixed_params": {"u": 1}}]}
    params = read(json.dumps(sent).encode(), query="expiration_time=9&name=q")
    assert (params.json, params.get("name"), params.get("expiration_time")) == (sent, "jwt", "9")


def test_a_repeated_parameter_is_its_last_value_or_every_value_for_an_array():
    """The SDKs send an array parameter as repeated values; a scalar sent twice is its last value."""
    params = read(b"scope=C&limit=9", query="ids=1&ids=2&scope=A&scope=B&limit=5", headers=FORM)
    assert (params.get("ids"), params.get("limit"), params.getlist("scope"), params.getlist("none")) == ("2", "9", ["A", "B", "C"], [])
    assert params.with_lists({"ids"}) == {"ids": "1,2", "scope": "C", "limit": "9"}
    assert (params.repeated, read(method="GET", query="a=1&b=1").repeated) == (True, False)


def test_flags_are_one_parser():
    params = read(method="GET", query="a=true&b=TRUE&c=1&d=yes&e=on&f=false&g=0&h=&i=no")
    assert [params.flag(k) for k in "abcdefghi"] == [True, True, True, True, True, False, False, False, False]
    assert (params.flag("absent"), params.flag("absent", default=True), params.flag("f", default=True)) == (False, True, False)


def test_the_token_comes_from_the_header_else_the_query_string_else_a_form():
    def token(*args, **kwargs):
        return asyncio.run(token_of(request(*args, **kwargs)))

    assert token(method="GET", query="token=p.q", headers={"Authorization": "Bearer  p.h "}) == "p.h"
    assert token(method="GET", headers={"Authorization": "bearer p.h"}) == "p.h"
    assert token(method="GET", query="token=p.q") == "p.q"
    assert token(b"token=p.f", query="token=p.q", headers=FORM) == "p.q"
    assert token(b"token=p.f&a=1", headers=FORM) == "p.f"
    assert token(b'{"token": "p.j"}', headers=JSON) is None  # not an argument, as on Tinybird
    assert token(method="GET", headers={"Authorization": "Basic xyz"}) is None


def test_a_rows_body_is_data_unless_multipart_or_a_url_form():
    ndjson = b'{"a": "x&url=y"}\n{"a": 2}\n'
    for headers in ({}, FORM, {"Content-Type": "application/x-ndjson"}):
        params = read(ndjson, query="name=ds&format=ndjson", headers=headers, endpoint=rows_route)
        assert (params.body, params.values) == (ndjson, {"name": "ds", "format": "ndjson"})
    params = read(b"url=http%3A%2F%2Fh%2Ff.csv", query="name=ds", headers=FORM, endpoint=rows_route)
    assert (params.body, params.values) == (b"", {"name": "ds", "url": "http://h/f.csv"})


def test_multipart_fields_are_parameters_and_files_are_parts():
    boundary = "XyZ"
    sent = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"mode\"\r\n\r\nappend\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"csv\"; filename=\"events.ndjson\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n{{\"a\": 1}}\n\r\n--{boundary}--\r\n").encode()
    params = read(sent, query="name=ds&mode=replace", headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
                  endpoint=rows_route)
    assert (params.values, params.files) == ({"name": "ds", "mode": "append"}, [Part("csv", "events.ndjson", b'{"a": 1}\n')])


def test_a_bare_body_is_the_raw_parameter():
    """The Forward CLI POSTs SQL longer than 4 KB to /v0/sql as the bare body; the SDKs send it as text/plain."""
    sql = "SELECT a, b FROM t WHERE x = 'y&z=1' FORMAT JSON"
    assert read(sql.encode(), query="release_replacements=true", endpoint=sql_route).values == \
        {"release_replacements": "true", "q": sql}
    assert read(sql.encode(), headers={"Content-Type": "text/plain"}, endpoint=sql_route).values == {"q": sql}
    assert read(b"q=SELECT+1", endpoint=sql_route).values == {"q": "SELECT 1"}  # a form holding it: as usual


@pytest.mark.parametrize("sent, headers, message", [
    (b"{not json", JSON, "The body is not valid JSON"),
    (b"[1, 2]", JSON, "The JSON body must be an object of parameters"),
    (b"a=%00", FORM, "Parameter 'a' contains a NUL character"),
])
def test_bad_bodies_are_400(sent, headers, message):
    with pytest.raises(BadRequest) as e:
        read(sent, headers=headers)
    assert e.value.message == message


def test_a_files_format_is_the_format_parameter_else_its_extension_else_the_field():
    def fmt(query="", part=None, content_type=""):
        return file_format(read(method="GET", query=query), part, content_type)

    assert fmt("format=ndjson", Part("csv", "events.csv", b"")) == "ndjson"  # the Python SDK: field csv, format=ndjson
    assert fmt("format=Parquet", None) == "parquet"
    assert fmt("", Part("csv", "events.ndjson.gz", b"")) == "ndjson"
    assert fmt("", Part("file", "events.jsonl", b"")) == "ndjson"
    assert fmt("", Part("ndjson", "blob", b"")) == "ndjson"
    assert fmt("", Part("file", "blob", b"")) == "csv"
    assert (fmt("", None, "application/x-ndjson"), fmt("", None, "text/csv"), fmt()) == ("ndjson", "csv", "csv")
    with pytest.raises(BadRequest) as e:
        fmt("format=xml")
    assert e.value.message == "Unsupported format 'xml': use ndjson, csv or parquet"
