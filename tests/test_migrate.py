"""FORWARD_QUERY and column-name migrations (tblocal/migrate.py, planned by ddl.plan) on the real engine."""

import pytest

from helpers import copy_project
from tblocal.ddl import Schema, desired_state, plan
from tblocal.migrate import check, column_name
from tblocal.pipes import Renderer
from tblocal.project import load_project

DB = "migrate_test"
CLICKS = "tests/project/datasources/clicks.datasource"


@pytest.fixture
def project(tmp_path, engine):
    """tests/project applied to a fresh database with three rows; (folder, schema, renderer)."""
    folder = copy_project(tmp_path / "p")
    engine.execute(f"DROP DATABASE IF EXISTS {DB} SYNC")
    schema = Schema(engine, tmp_path / "schema.json")
    r = Renderer(load_project(folder), DB)
    schema.apply(r.project, r)
    engine.execute(f"INSERT INTO {DB}.clicks (id, user, ts, value) VALUES ('1', 'ann', '2024-01-01 00:00:00', 5), "
                   "('2', 'bob', '2024-01-02 00:00:00', 7), ('3', 'ann', '2024-02-01 00:00:00', 9)")
    engine.execute(f"INSERT INTO {DB}.clicks_daily_mv SELECT toDate(ts), user, count(), sum(value) FROM {DB}.clicks GROUP BY 1, 2")
    return folder, schema


def datasource(folder, old, new, forward_query=""):
    path = folder / "datasources" / "clicks.datasource"
    text = path.read_text().replace(old, new)
    if forward_query:
        text = text.replace("\nENGINE MergeTree", f"\nFORWARD_QUERY >\n    {forward_query}\n\nENGINE MergeTree")
    path.write_text(text)
    return Renderer(load_project(folder), DB)


def test_column_name():
    assert column_name("`duration` UInt32 DEFAULT 0") == "duration"
    assert column_name("`odd name` String") == "odd name"


def test_a_type_change_without_forward_query_is_refused_in_tinybirds_terms(project):
    folder, schema = project
    r = datasource(folder, "`value` UInt32", "`value` UInt64")
    problems = plan(r.project, r, schema.current(), rebuild_views=True).problems
    assert len(problems) == 1 and problems[0].startswith(
        "Error on datasource 'datasources/clicks.datasource': the change of column `value` UInt32 DEFAULT 0 -> UInt64 DEFAULT 0 "
        "is incompatible with the live version")
    assert "FORWARD_QUERY" in problems[0]


def test_forward_query_migrates_rows_and_rebuilds_the_views(project, engine):
    folder, schema = project
    r = datasource(folder, "`value` UInt32", "`value` UInt64",
                   "SELECT id, user, kind, ts, toUInt64(value) * 2 AS value, tags")
    p = plan(r.project, r, schema.current(), rebuild_views=True)
    assert (p.problems, p.migrated) == ([], ["clicks"])
    assert check(engine, DB, r.project.datasources["clicks"], schema.current()["datasources"]["clicks"]) is None
    schema.apply(r.project, r, rebuild_views=True)
    assert engine.rows(f"SELECT id, value, toTypeName(value) AS t FROM {DB}.clicks ORDER BY id") == [
        {"id": "1", "value": 10, "t": "UInt64"}, {"id": "2", "value": 14, "t": "UInt64"}, {"id": "3", "value": 18, "t": "UInt64"}]
    assert int(engine.scalar(f"SELECT sum(total_value) FROM {DB}.clicks_daily_mv")) == 42  # rebuilt from the new rows
    assert engine.scalar(f"SELECT count() FROM system.tables WHERE database = '{DB}' AND name = 'clicks__migrate'") in (0, "0")


def test_removed_and_reordered_columns_need_no_forward_query(project, engine):
    folder, schema = project
    r = datasource(folder, "    `tags` String `json:$.tags` DEFAULT '{}'\n", "")
    r = datasource(folder, "`kind` LowCardinality(String) `json:$.kind` DEFAULT 'click',\n", "")
    r = datasource(folder, "`ts` DateTime `json:$.ts`,", "`ts` DateTime `json:$.ts`,\n    `kind` LowCardinality(String) `json:$.kind` DEFAULT 'click',")
    path = folder / "datasources" / "clicks.datasource"
    path.write_text(path.read_text().replace("DEFAULT 0,\n", "DEFAULT 0\n"))
    r = Renderer(load_project(folder), DB)
    schema.apply(r.project, r, rebuild_views=True)
    cols = [c["name"] for c in engine.rows(f"SELECT name FROM system.columns WHERE database = '{DB}' AND table = 'clicks' ORDER BY position")]
    assert cols == ["id", "user", "ts", "kind", "value"]
    assert int(engine.scalar(f"SELECT count() FROM {DB}.clicks")) == 3


@pytest.mark.parametrize("forward_query, message", [
    ("SELECT id, user, kind, ts, tags", "FORWARD_QUERY columns don't match datasource schema."),
    ("SELECT id, user, kind, ts, toUInt64(value) AS value, tags FROM clicks", "FROM and WHERE clauses aren't supported"),
    ("SELECT id, user, kind, ts, toUInt64(throwIf(value = 7, 'no sevens')) AS value, tags", "no sevens"),
])
def test_a_bad_forward_query_is_refused_before_anything_changes(project, engine, forward_query, message):
    folder, schema = project
    r = datasource(folder, "`value` UInt32", "`value` UInt64", forward_query)
    error = check(engine, DB, r.project.datasources["clicks"], schema.current()["datasources"]["clicks"])
    assert error is not None and message in error
    assert desired_state(load_project(folder), r)["datasources"]["clicks"] != schema.current()["datasources"]["clicks"]
