"""A request's body, bounded and gunzipped (params.py reads parameters from it), and JSON answers."""

import json

from starlette.requests import Request
from starlette.responses import Response

from .. import write
from ..errors import TooLarge


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
