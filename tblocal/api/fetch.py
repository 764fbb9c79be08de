"""Appends and replaces from a URL: tblocal downloads the file itself, as Tinybird does (http and https only,
bounded in size and time); any failure is a 400 that names the URL and wrote nothing."""

import asyncio
import time
from urllib.parse import urlsplit

import requests

from .. import write
from ..errors import BadRequest, TooLarge

DOCS = "https://www.tinybird.co/docs/api-reference/datasource-api"
CHUNK_BYTES = 64 * 1024  # small reads, so the deadline is checked often


async def fetch(url: str, limit: int, timeout_s: float) -> bytes:
    """The file at url (gunzipped when it is gzip); 400 when it cannot be had, 413 past limit bytes."""
    if urlsplit(url).scheme.lower() not in ("http", "https") or not urlsplit(url).hostname:
        raise BadRequest(f"The url must be an http:// or https:// URL: '{url[:200]}'", DOCS)
    data = await asyncio.to_thread(_download, url, limit, timeout_s)
    return write.decode_body(data, "gzip", limit) if data[:2] == b"\x1f\x8b" else data


def _download(url: str, limit: int, timeout_s: float) -> bytes:
    deadline = time.monotonic() + timeout_s
    shown = url[:200]
    too_large = TooLarge(f"The file at '{shown}' is larger than the {limit:,} bytes an append takes (TBLOCAL_MAX_APPEND_BYTES)", DOCS)
    try:
        # Redirects are followed only to http(s) (requests has no other adapters); the file's own gzip is kept as sent.
        with requests.get(url, stream=True, timeout=timeout_s, headers={"Accept-Encoding": "identity"}) as response:
            if response.status_code >= 400:
                raise BadRequest(f"The file at '{shown}' could not be downloaded: HTTP {response.status_code}", DOCS)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise too_large
            data = bytearray()
            for chunk in response.raw.stream(CHUNK_BYTES, decode_content=False):
                data += chunk
                if len(data) > limit:
                    raise too_large
                if time.monotonic() > deadline:
                    raise BadRequest(f"The file at '{shown}' took longer than {timeout_s:g} s to download", DOCS)
            return bytes(data)
    except requests.RequestException as e:
        raise BadRequest(f"The file at '{shown}' could not be downloaded: {type(e).__name__}", DOCS) from None
