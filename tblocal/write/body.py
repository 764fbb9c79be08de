"""Request bodies: Content-Encoding within limits, draining what is refused, counting announced rows."""

import zlib

from ..errors import BadRequest, TooLarge

EVENTS_DOCS = "https://www.tinybird.co/docs/api-reference/events-api"


# An over-limit body is read and thrown away up to this many bytes before the 413 (or 414) is sent: a
# client that writes its whole body before reading (Python's urllib) then reads the JSON error instead
# of a reset connection. Past it the server answers at once and the connection is closed.
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024


async def drain(receive, already: int = 0) -> int:
    """Read and discard the rest of an ASGI request body, up to DRAIN_LIMIT_BYTES in all; bytes read."""
    seen = already
    while seen <= DRAIN_LIMIT_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            break
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return seen


def gunzip_limited(body: bytes, limit: int) -> bytes:
    """Decompress gzip as a stream, stopping with 413 as soon as the output passes limit."""
    gunzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out, size, data = [], 0, body
    try:
        while data:
            piece = gunzip.decompress(data, 1024 * 1024)
            size += len(piece)
            if size > limit:
                raise TooLarge(f"The decompressed body is larger than the {limit // (1024 * 1024)} MB limit", EVENTS_DOCS)
            out.append(piece)
            data = gunzip.unconsumed_tail
            if gunzip.eof:
                break
        if not gunzip.eof:
            raise BadRequest("The gzip body is truncated", EVENTS_DOCS)
    except zlib.error as e:
        raise BadRequest(f"The body is not valid gzip: {e}", EVENTS_DOCS) from None
    return b"".join(out)


def decode_body(body: bytes, content_encoding: str, limit: int) -> bytes:
    """The request body after Content-Encoding, within limit bytes."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return gunzip_limited(body, limit)
    raise BadRequest(f"Unsupported Content-Encoding '{content_encoding[:40]}': use gzip or none", EVENTS_DOCS)


def count_lines(body: bytes) -> int:
    """Rows a body announces: lines that open a JSON object (a pretty-printed object counts once)."""
    return sum(1 for line in body.split(b"\n") if line.lstrip(b" \t\r\xef\xbb\xbf").startswith(b"{"))

