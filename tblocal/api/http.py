"""A request's body, bounded and gunzipped (params.py reads parameters from it), and JSON answers."""

import json

from starlette.requests import Request
from starlette.responses import Response

from .. import write
from ..errors import TooLarge


def json_response(data, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """data as a JSON response (UTF-8, not ASCII-escaped)."""
    return Response(json.dumps(data, ensure_ascii=False), status, headers=headers, media_type="application/json")


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"The body is larger than the {limit // (1024 * 1024)} MB limit", write.EVENTS_DOCS)


async def refuse_declared(request: Request, limit: int) -> None:
    """413 when the request announces a body larger than limit bytes (read first when small enough to, so every
    client can read the answer)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        if int(declared) <= write.DRAIN_LIMIT_BYTES:
            await write.drain(request.receive)
        raise _too_large(limit)


async def read_body(request: Request, limit: int | None = None) -> bytes:
    """The body, gunzipped when so encoded; 413 past limit bytes (default: the max_body_bytes setting)."""
    limit = limit or request.app.state.workspaces.settings.max_body_bytes
    await refuse_declared(request, limit)
    too_large = _too_large(limit)
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            await write.drain(request.receive, len(raw))
            raise too_large
    return write.decode_body(bytes(raw), request.headers.get("content-encoding", ""), limit)
