import pytest

from tblocal.jsonpaths import ALL, JsonPath, JsonPathError, check, column_path, extract_sql, parse


def test_parse_reads_keys_brackets_and_arrays():
    assert parse("$.a") == JsonPath("a", ())
    assert parse("$.a.b.c") == JsonPath("a", ("b", "c"))
    assert parse("$['a b'].c") == JsonPath("a b", ("c",))
    assert parse("$.tags[:]") == JsonPath("tags", (ALL,))
    assert parse("$.items[:].sku") == JsonPath("items", (ALL, "sku"))
    assert parse("$.a['it\\'s']") == JsonPath("a", ("it's",))
    assert column_path({"name": "x", "jsonpath": None}) == JsonPath("x", ())
    assert parse("$") == JsonPath("", ()) and parse("$").whole_row and parse("$").top_level


@pytest.mark.parametrize("path, reason", [
    ("a.b", "must start with \\$"),
    ("$[:]", "must name a key first"),
    ("$.a[0]", "cannot read '\\[0\\]'"),
    ("$.a[:].b[:]", "arrays of arrays"),
    ("$['']", "a key cannot be empty"),
    ("$.a['']", "a key cannot be empty"),
])
def test_parse_refuses_what_it_cannot_read(path, reason):
    with pytest.raises(JsonPathError, match=reason):
        parse(path)


def test_top_level_paths_are_read_by_the_json_parser():
    assert parse("$.a").top_level and parse("$.a[:]").top_level
    assert not parse("$.a.b").top_level and not parse("$.a[:].b").top_level


def test_lookup_follows_the_path_in_a_decoded_object():
    obj = {"a": {"b": 1}, "items": [{"sku": "x"}, {"sku": "y"}, 3], "tags": ["t"]}
    assert parse("$.a.b").lookup(obj) == 1
    assert parse("$.a.zz").lookup(obj) is None
    assert parse("$.items[:].sku").lookup(obj) == ["x", "y", None]
    assert parse("$.tags[:]").lookup(obj) == ["t"]
    assert parse("$.a.b.c").lookup(obj) is None


def test_extract_sql(engine):
    row = "'{\"b\": {\"c\": 7}, \"items\": [{\"sku\": \"x\"}, {\"sku\": \"y\"}]}'"
    assert engine.scalar(f"SELECT {extract_sql(parse('$.r.b.c'), row, 'Nullable(Int128)')}") in (7, "7")
    assert engine.scalar(f"SELECT {extract_sql(parse('$.r.b.zz'), row, 'Nullable(Int128)')}") is None
    skus = engine.rows(f"SELECT {extract_sql(parse('$.r.items[:].sku'), row, 'Array(Nullable(String))')} AS v")
    assert skus == [{"v": ["x", "y"]}]
    with pytest.raises(JsonPathError, match="needs an Array column"):
        extract_sql(parse("$.r.items[:].sku"), row, "Nullable(String)")


def test_check_wants_a_key_read_whole_and_deeper_to_be_a_string():
    check([{"name": "payload", "type": "String", "jsonpath": "$.payload"},
           {"name": "pid", "type": "Int32", "jsonpath": "$.payload.id"}])
    with pytest.raises(JsonPathError, match="column pid reads inside \\$.payload, which column payload reads whole"):
        check([{"name": "payload", "type": "Map(String, String)", "jsonpath": "$.payload"},
               {"name": "pid", "type": "Int32", "jsonpath": "$.payload.id"}])


def test_the_whole_row_or_a_key_read_whole_beside_paths_inside_it_goes_to_a_string_or_json_column():
    """As Tinybird's datafile reference shows: `record JSON `json:$``, `data String `json:$``, beside `json:$.time`."""
    for kind in ("JSON", "String", "JSON(max_dynamic_paths=16)"):
        check([{"name": "at", "type": "DateTime", "jsonpath": "$.time"}, {"name": "record", "type": kind, "jsonpath": "$"}])
        check([{"name": "data", "type": kind, "jsonpath": "$.data"}, {"name": "kind", "type": "String", "jsonpath": "$.data.type"}])
    with pytest.raises(JsonPathError, match="column record reads the whole row"):
        check([{"name": "record", "type": "Int32", "jsonpath": "$"}])
    row = {"time": "2024-01-01", "data": {"type": "click"}}
    assert parse("$").lookup(row) == row and parse("$.data.type").lookup(row) == "click"
