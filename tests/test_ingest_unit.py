import gzip
import time

import pytest

from helpers import TEST_PROJECT
from tblocal.errors import BadRequest, TooLarge
from tblocal.ingest import _columns, _is_csv_header, _one_object_line, count_lines, decode_body, gunzip_limited, read_limited
from tblocal.project import load_project

MB = 1024 * 1024


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9)


def test_gunzip_roundtrip():
    assert gunzip_limited(gz(b'{"a": 1}\n' * 1000), MB) == b'{"a": 1}\n' * 1000
    assert gunzip_limited(gz(b""), MB) == b""


def test_gzip_bomb_stops_at_the_limit():
    bomb = gz(b"\0" * (200 * MB))  # ~200 KB on the wire
    assert len(bomb) < MB
    start = time.monotonic()
    with pytest.raises(TooLarge) as e:
        gunzip_limited(bomb, 10 * MB)
    assert time.monotonic() - start < 2  # stopped early, not after inflating 200 MB
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


def test_read_limited():
    assert read_limited([b"ab", b"cd"], 4) == b"abcd"
    with pytest.raises(TooLarge, match="The body is larger than the 0 MB limit"):
        read_limited([b"ab", b"cde"], 4)
    with pytest.raises(TooLarge, match="The body is larger than the 10 MB limit"):
        read_limited(iter([b"x" * MB] * 11), 10 * MB)


def test_columns_staging_types_and_defaults():
    cols = {c.name: c for c in _columns(load_project(TEST_PROJECT).datasources["clicks"])}
    assert [(c.key, c.type, c.stage_type, c.default, c.nullable) for c in cols.values()] == [
        ("id", "String", "Nullable(String)", None, False),
        ("user", "String", "Nullable(String)", None, False),
        ("kind", "LowCardinality(String)", "Nullable(String)", "'click'", False),
        ("ts", "DateTime", "Nullable(DateTime)", None, False),
        ("value", "UInt32", "Nullable(Int128)", "0", False),
        ("tags", "String", "Nullable(String)", "'{}'", False),
    ]


def test_one_object_line_and_csv_header():
    assert _one_object_line(b' {"a": 1} \n')
    assert not _one_object_line(b'{"a": 1}\n{"a": 2}')
    assert not _one_object_line(b'{"a": 1}{"a": 2}')
    assert not _one_object_line(b"[1]")
    ds = load_project(TEST_PROJECT).datasources["clicks"]
    assert _is_csv_header(b'"id","user","kind"', ds)
    assert _is_csv_header(b"id,user", ds)
    assert not _is_csv_header(b"c1,u1,click", ds)
