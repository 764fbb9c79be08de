"""tblocal.write.rows: staging column types, one-line bodies, CSV headers."""

from helpers import TEST_PROJECT
from tblocal.project import load_project
from tblocal.write.rows import _columns, _is_csv_header, _one_object_line


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
