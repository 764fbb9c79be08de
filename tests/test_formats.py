import pytest

from tblocal import formats
from tblocal.errors import BadRequest


@pytest.mark.parametrize(
    "ext, expected",
    [
        ("json", ("JSON", "application/json")),
        ("csv", ("CSVWithNames", "text/csv; charset=utf-8")),
        ("ndjson", ("JSONEachRow", "application/x-ndjson; charset=utf-8")),
        ("parquet", ("Parquet", "application/octet-stream")),
    ],
)
def test_by_extension(ext, expected):
    assert formats.by_extension(ext) == expected


def test_unknown_extension_is_400():
    with pytest.raises(BadRequest) as e:
        formats.by_extension("xml")
    assert (e.value.status, e.value.message) == (400, "Unsupported format 'xml': use one of csv, json, ndjson, parquet")


@pytest.mark.parametrize(
    "name, expected",
    [
        (None, ("JSON", "application/json")),
        ("json", ("JSON", "application/json")),
        ("CSVWithNames", ("CSVWithNames", "text/csv; charset=utf-8")),
        ("ndjson", ("JSONEachRow", "application/x-ndjson; charset=utf-8")),
        ("JSONEachRow", ("JSONEachRow", "application/x-ndjson; charset=utf-8")),
        ("TabSeparated", ("TabSeparated", "text/tab-separated-values; charset=utf-8")),
        ("parquet", ("Parquet", "application/octet-stream")),
    ],
)
def test_by_name(name, expected):
    assert formats.by_name(name) == expected


def test_unknown_sql_format_is_400():
    with pytest.raises(BadRequest, match=r"^Unsupported format 'Native': use one of JSON, "):
        formats.by_name("Native")


@pytest.mark.parametrize("value, quoted", [(None, 0), ("0", 0), ("1", 1), ("true", 1), (" 1 ", 1), ("yes", 1), ("no", 0), ("2", 0)])
def test_64bit_integers_unquoted_unless_asked(value, quoted):
    params = {} if value is None else {"output_format_json_quote_64bit_integers": value}
    assert formats.output_settings(params) == {
        "output_format_json_quote_64bit_integers": quoted,
        "output_format_json_quote_denormals": 1,
        "output_format_parquet_string_as_string": 1,
    }
