"""What every route reads from a request: its body (bounded), its parameters; and how it answers JSON."""

import json

from starlette.requests import Request
from starlette.responses import Response

from .. import write
from ..errors import BadRequest, TooLarge


def json_response(data, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """data as a JSON response (UTF-8, not ASCII-escaped)."""
    return Response(json.dumps(data, ensure_ascii=False), status, headers=headers, media_type="application/json")


async def read_body(request: Request, limit: int | None = None) -> bytes:
    """The body, gunzipped when so encoded; 413 past limit bytes (default: the max_body_bytes setting)."""
    limit = limit or request.app.state.workspaces.settings.max_body_bytes
    too_large = TooLarge(f"The body is larger than the {limit // (1024 * 1024)} MB limit", write.EVENTS_DOCS)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        if int(declared) <= write.DRAIN_LIMIT_BYTES:  # read it all first, so every client can read the 413
            await write.drain(request.receive)
        raise too_large
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            await write.drain(request.receive, len(raw))
            raise too_large
    return write.decode_body(bytes(raw), request.headers.get("content-encoding", ""), limit)


async def read_params(request: Request, raw_key: str | None = None) -> dict:
    """Query string, then a form or JSON body of a POST, as Tinybird reads pipe parameters.
    raw_key: a body that is not a form holding raw_key is that parameter whole (the CLI POSTs long SQL bare)."""
    params = dict(request.query_params)
    if request.method == "POST":
        body = await read_body(request)
        kind = request.headers.get("content-type", "")
        if body and "json" in kind:
            try:
                data = json.loads(body)
            except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's parser goes
                raise BadRequest("The body is not valid JSON") from None
            if not isinstance(data, dict):
                raise BadRequest("The JSON body must be an object of parameters")
            params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()})
        elif body:
            from urllib.parse import parse_qsl

            form = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
            if raw_key and raw_key not in form and raw_key not in params:
                form = {raw_key: body.decode("utf-8", errors="replace")}
            params.update(form)
    for key, value in params.items():
        if "\x00" in key or "\x00" in value:
            raise BadRequest(f"Parameter '{key[:40]}' contains a NUL character")
    return params


def flag(values, name: str, default: bool = False) -> bool:
    """A boolean parameter as Tinybird reads it: true or 1 (any case); default when absent."""
    return str(values.get(name, "true" if default else "false")).lower() in ("true", "1")
