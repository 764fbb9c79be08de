"""tblocal.write.body: Content-Encoding, limits, counting rows."""

import gzip
import tracemalloc

import pytest

from tblocal.errors import BadRequest, TooLarge
from tblocal.write.body import count_lines, decode_body, gunzip_limited

MB = 1024 * 1024


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9)


def test_gunzip_roundtrip():
    assert gunzip_limited(gz(b'{"a": 1}\n' * 1000), MB) == b'{"a": 1}\n' * 1000
    assert gunzip_limited(gz(b""), MB) == b""


def test_gzip_bomb_stops_at_the_limit():
    bomb = gz(b"\0" * (200 * MB))  # ~200 KB on the wire
    assert len(bomb) < MB
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge) as e:
            gunzip_limited(bomb, 10 * MB)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * MB  # stopped early: inflating all 200 MB would hold over 200 MB
    assert (e.value.status, e.value.message) == (413, "The decompressed body is larger than the 10 MB limit")


def test_exactly_at_the_limit_is_accepted():
    assert len(gunzip_limited(gz(b"x" * MB), MB)) == MB
    with pytest.raises(TooLarge):
        gunzip_limited(gz(b"x" * (MB + 1)), MB)


def test_truncated_and_invalid_gzip_are_400():
    with pytest.raises(BadRequest) as e:
        gunzip_limited(gz(b"hello world" * 100)[:-12], MB)
    assert (e.value.status, e.value.message) == (400, "The gzip body is truncated")
    with pytest.raises(BadRequest, match=r"^The body is not valid gzip: "):
        gunzip_limited(b"not gzip at all", MB)


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", " GZIP "])
def test_decode_body_gzip(encoding):
    assert decode_body(gz(b"abc"), encoding, MB) == b"abc"


@pytest.mark.parametrize("encoding", ["", "identity", None])
def test_decode_body_identity(encoding):
    assert decode_body(b"abc", encoding, MB) == b"abc"


def test_decode_body_refuses_other_encodings():
    with pytest.raises(BadRequest) as e:
        decode_body(b"abc", "br", MB)
    assert (e.value.status, e.value.message) == (400, "Unsupported Content-Encoding 'br': use gzip or none")
    with pytest.raises(BadRequest, match="^Unsupported Content-Encoding 'x{40}': use gzip or none$"):
        decode_body(b"abc", "x" * 500, MB)


def test_decode_body_gzip_bomb_is_413():
    with pytest.raises(TooLarge):
        decode_body(gz(b"\0" * (20 * MB)), "gzip", 10 * MB)


@pytest.mark.parametrize(
    "body, n",
    [(b"", 0), (b"\n\n", 0), (b"{}", 1), (b"{}\n", 1), (b"{}\n{}", 2), (b"{}\r\n\r\n{}\r\n", 2), (b"  \n{}\n \t\n", 1), (b"{\n  \"a\": 1\n}\n", 1)],
)
def test_count_lines(body, n):
    assert count_lines(body) == n
