"""One request-parameter model for every route: the query string and a form, JSON or multipart body, merged.

Precedence: a parameter's values are the query string's, then the body's, and a parameter is its last value, so
the body wins over the query string (as a Tornado handler's `get_argument` reads them; Tinybird documents no
order). An Array parameter of an endpoint takes every value, joined by commas (the SDKs send lists so).

A route says how its body is read with `@body(...)`: parameters (the default), rows (events, appends and
replaces: the body is data unless it is multipart, or a form that holds `url=`), or one raw parameter (the
Query API's `q`, which the Forward CLI and the SDKs POST bare).
"""

import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.requests import Request

from .. import write
from ..errors import BadRequest
from ..settings import truthy
from .http import read_body, refuse_declared

MAX_PARTS = 10_000  # multipart parts a request may hold (a build sends one per datafile)
MAX_URL_FORM = 64 * 1024  # a url= form is small: a longer form-typed body on a rows route is rows
PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ROW_FORMATS = {"ndjson": "ndjson", "jsonl": "ndjson", "json": "ndjson", "csv": "csv", "parquet": "parquet"}


@dataclass
class Part:
    """A file sent as a multipart part."""

    field: str
    filename: str
    data: bytes


@dataclass
class Params:
    """What a request says: its merged parameters, its files, and its body when that is data."""

    lists: dict[str, list[str]] = field(default_factory=dict)  # name -> values: the query string's, then the body's
    files: list[Part] = field(default_factory=list)
    body: bytes = b""  # a body of rows (or anything not parameters); b"" when the body held parameters
    json: dict | None = None  # a JSON object body as sent (a JWT's scopes keep their shape)

    @property
    def values(self) -> dict[str, str]:
        """Every parameter's last value."""
        return {k: v[-1] for k, v in self.lists.items()}

    @property
    def repeated(self) -> bool:
        """Whether some parameter was sent more than once."""
        return any(len(v) > 1 for v in self.lists.values())

    def with_lists(self, names) -> dict[str, str]:
        """values, with the parameters called names (Array parameters) holding every value, joined by commas."""
        return {**self.values, **{k: ",".join(v) for k, v in self.lists.items() if k in names}}

    def get(self, name: str, default: str | None = None) -> str | None:
        """A parameter's last value, or default when absent."""
        values = self.lists.get(name)
        return default if values is None else values[-1]

    def getlist(self, name: str) -> list[str]:
        """Each value of a repeated parameter."""
        return list(self.lists.get(name, []))

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean parameter (true/1/yes/on, any case); default when absent."""
        value = self.get(name)
        return default if value is None else truthy(value)

    def merge(self, pairs: list[tuple[str, str]]) -> None:
        """A source's parameters after the ones read so far (the body's after the query string's)."""
        for key, value in pairs:
            self.lists.setdefault(key, []).append(value)


def body(kind: str = "params", limit: str = "max_body_bytes", raw_param: str | None = None):
    """How a route's body is read: kind "params" or "rows", bounded by the setting called limit; raw_param: a body
    that is not a form or JSON is that one parameter whole."""

    def mark(handler):
        handler.body_kind, handler.body_limit, handler.raw_param = kind, limit, raw_param
        return handler

    return mark


async def read_params(request: Request) -> Params:
    """The request's parameters, read once (the token and the handler share them)."""
    cached = request.scope.get("tblocal.params")
    if cached is None:
        cached = request.scope["tblocal.params"] = await _read(request)
    return cached


async def _read(request: Request) -> Params:
    handler = request.scope.get("endpoint")
    kind, raw_param = getattr(handler, "body_kind", "params"), getattr(handler, "raw_param", None)
    limit = getattr(request.app.state.workspaces.settings, getattr(handler, "body_limit", "max_body_bytes"))
    params = Params()
    params.merge(request.query_params.multi_items())
    if request.method in ("POST", "PUT", "DELETE"):
        content_type = request.headers.get("content-type", "").lower()
        if content_type.startswith("multipart/form-data"):
            await _multipart(request, params, limit)
        else:
            raw = await read_body(request, limit)
            if raw:
                _body(params, raw, content_type, kind, raw_param)
    for key, values in params.lists.items():
        if "\x00" in key or any("\x00" in v for v in values):
            raise BadRequest(f"Parameter '{key[:40]}' contains a NUL character")
    return params


def _body(params: Params, raw: bytes, content_type: str, kind: str, raw_param: str | None) -> None:
    if kind == "rows":
        small_url_form = content_type.startswith("application/x-www-form-urlencoded") and len(raw) <= MAX_URL_FORM and b"url=" in raw
        form = _form(raw) if small_url_form else None  # rows sent with curl -d are never parsed as a form
        if form and "url" in dict(form) and all(PARAM_NAME.match(k) for k, _ in form):
            params.merge(form)  # append or replace from a URL (the SDKs send url= as a form)
        else:
            params.body = raw
    elif "json" in content_type or (not content_type.startswith("application/x-www-form-urlencoded") and raw.lstrip()[:1] == b"{"):
        # a JSON object with no content type too: the Forward CLI sends a JWT's scopes so
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's parser goes
            raise BadRequest("The body is not valid JSON") from None
        if not isinstance(data, dict):
            raise BadRequest("The JSON body must be an object of parameters")
        params.json = data
        # A JSON body's "token" is no token: Tinybird reads tokens as arguments (query string, form fields).
        params.merge([(k, v if isinstance(v, str) else json.dumps(v)) for k, v in data.items() if k != "token"])
    else:
        form = _form(raw)
        if raw_param and raw_param not in dict(form) and raw_param not in params.lists:
            params.body = raw
            form = [(raw_param, raw.decode("utf-8", errors="replace"))]
        params.merge(form)


def _form(raw: bytes) -> list[tuple[str, str]]:
    return parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True)


async def _multipart(request: Request, params: Params, limit: int) -> None:
    await refuse_declared(request, limit)
    form = await request.form(max_files=MAX_PARTS, max_fields=MAX_PARTS, max_part_size=limit)  # a bad one: starlette's 400
    fields = []
    try:
        for name, part in form.multi_items():
            if isinstance(part, str):
                fields.append((name, part))
            else:
                data = await part.read()
                params.files.append(Part(name, part.filename or "", write.decode_body(data, "gzip" if data[:2] == b"\x1f\x8b" else "", limit)))
    finally:
        await form.close()
    params.merge(fields)


def file_format(params: Params, part: Part | None, content_type: str = "") -> str:
    """The format of rows sent: the format parameter, else the file's extension, else the part's field name (a raw
    body: its content type), else CSV; "ndjson", "csv" or "parquet"."""
    named = (params.get("format") or "").lower()
    if named:
        if named not in ROW_FORMATS:
            raise BadRequest(f"Unsupported format '{named[:20]}': use ndjson, csv or parquet")
        return ROW_FORMATS[named]
    if part is not None:
        extension = part.filename.lower().removesuffix(".gz").rpartition(".")[2]
        return ROW_FORMATS.get(extension) or ROW_FORMATS.get(part.field.lower(), "csv")
    kind = content_type.lower()
    return "parquet" if "parquet" in kind else "ndjson" if "json" in kind else "csv"
