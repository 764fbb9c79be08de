import pytest

from helpers import TEST_PROJECT, copy_project
from tblocal.ddl import create_quarantine, desired_state, plan, view_name
from tblocal.pipes import Renderer
from tblocal.project import load_project

MV = "mv__clicks_daily__aggregate_per_day"
MV_SQL = "SELECT\n    toDate(ts) AS day,\n    user,\n    count() AS clicks,\n    sum(value) AS total_value\nFROM db.clicks\nGROUP BY\n    day,\n    user"


def renderer(root=TEST_PROJECT) -> Renderer:
    return Renderer(load_project(root), "db")


def edit(root, rel, old, new):
    path = root / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new))


@pytest.fixture
def state():
    """What a data dir made from tests/project records."""
    r = renderer()
    return desired_state(r.project, r)


def test_new_data_dir_creates_tables_quarantines_and_views():
    r = renderer()
    p = plan(r.project, r, None)
    assert p.problems == []
    assert [s.split("(")[0].strip() for s in p.statements[:4]] == [
        "CREATE TABLE IF NOT EXISTS db.`clicks`",
        "CREATE TABLE IF NOT EXISTS db.`clicks_quarantine`",
        "CREATE TABLE IF NOT EXISTS db.`clicks_daily_mv`",
        "CREATE TABLE IF NOT EXISTS db.`clicks_daily_mv_quarantine`",
    ]
    assert len(p.statements) == 5
    assert p.statements[0] == (
        "CREATE TABLE IF NOT EXISTS db.`clicks` (\n  `id` String,\n  `user` String,\n"
        "  `kind` LowCardinality(String) DEFAULT 'click',\n  `ts` DateTime,\n  `value` UInt32 DEFAULT 0,\n"
        "  `tags` String DEFAULT '{}'\n) ENGINE = MergeTree() PARTITION BY (toYYYYMM(ts)) ORDER BY (user, ts)"
    )
    assert p.statements[-1] == f"CREATE MATERIALIZED VIEW db.`{MV}` TO db.`clicks_daily_mv` AS {MV_SQL}"
    assert p.populate == [("clicks_daily_mv", MV_SQL)]
    assert p.state["views"] == {MV: {"target": "clicks_daily_mv", "sql": MV_SQL}}


def test_quarantine_has_tinybirds_shape():
    ds = load_project(TEST_PROJECT).datasources["clicks"]
    assert create_quarantine("db", ds) == (
        "CREATE TABLE IF NOT EXISTS db.`clicks_quarantine` (\n  `id` Nullable(String),\n  `user` Nullable(String),\n"
        "  `kind` Nullable(String),\n  `ts` Nullable(String),\n  `value` Nullable(String),\n  `tags` Nullable(String),\n"
        "  `c__error_column` Array(String),\n  `c__error` Array(String),\n  `c__import_id` Nullable(String),\n"
        "  `insertion_date` DateTime DEFAULT now()\n) ENGINE = MergeTree ORDER BY insertion_date"
    )


def test_unchanged_project_needs_nothing(state):
    r = renderer()
    p = plan(r.project, r, state)
    assert (p.statements, p.populate, p.problems) == ([], [], [])


def test_added_column_at_the_end_is_an_alter(tmp_path, state):
    root = copy_project(tmp_path / "p")
    edit(root, "datasources/clicks.datasource", "`tags` String `json:$.tags` DEFAULT '{}'",
         "`tags` String `json:$.tags` DEFAULT '{}',\n    `country` String `json:$.country` DEFAULT ''")
    r = renderer(root)
    p = plan(r.project, r, state)
    assert p.problems == []
    assert p.statements == [
        "ALTER TABLE db.`clicks` ADD COLUMN `country` String DEFAULT ''",
        "ALTER TABLE db.`clicks_quarantine` ADD COLUMN `country` Nullable(String) AFTER `tags`",
    ]
    assert p.populate == []


def test_changed_column_type_is_refused_naming_the_column(tmp_path, state):
    root = copy_project(tmp_path / "p")
    edit(root, "datasources/clicks.datasource", "`value` UInt32", "`value` UInt64")
    r = renderer(root)
    p = plan(r.project, r, state)
    assert p.statements == []
    assert p.problems == [
        "data source 'clicks': columns changed or removed: `value` UInt32 DEFAULT 0; add new columns at the end "
        "instead, or export the data with /v0/sql and load it into a new data dir"
    ]


def test_removed_column_is_refused(tmp_path, state):
    root = copy_project(tmp_path / "p")
    edit(root, "datasources/clicks.datasource", ",\n    `tags` String `json:$.tags` DEFAULT '{}'", "")
    r = renderer(root)
    assert plan(r.project, r, state).problems == [
        "data source 'clicks': columns changed or removed: `tags` String DEFAULT '{}'; add new columns at the end "
        "instead, or export the data with /v0/sql and load it into a new data dir"
    ]


def test_changed_engine_is_refused(tmp_path, state):
    root = copy_project(tmp_path / "p")
    edit(root, "datasources/clicks.datasource", "ENGINE_SORTING_KEY user, ts", "ENGINE_SORTING_KEY ts, user")
    r = renderer(root)
    assert plan(r.project, r, state).problems == [
        "data source 'clicks': engine changed from MergeTree() PARTITION BY (toYYYYMM(ts)) ORDER BY (user, ts) to "
        "MergeTree() PARTITION BY (toYYYYMM(ts)) ORDER BY (ts, user); add new columns at the end instead, "
        "or export the data with /v0/sql and load it into a new data dir"
    ]


def test_removed_data_source_is_refused(tmp_path, state):
    r = renderer()
    state["datasources"]["gone"] = {"columns": ["`a` String"], "engine": "MergeTree() ORDER BY tuple()"}
    problems = plan(r.project, r, state).problems
    assert problems == [
        "data source 'gone' is in the data dir but its datafile is gone; tblocal never drops data: "
        "restore datasources/gone.datasource, or export it with /v0/sql and start from an empty data dir"
    ]


def test_changed_view_is_refused_unless_rebuilt(tmp_path, state):
    root = copy_project(tmp_path / "p")
    edit(root, "pipes/clicks_daily.pipe", "sum(value) AS total_value", "sum(value) * 2 AS total_value")
    r = renderer(root)
    refused = plan(r.project, r, state)
    assert refused.problems == [
        f"materialized view '{MV}' changed; restart with --rebuild-views to drop 'clicks_daily_mv' and rebuild it from its source tables"
    ]
    rebuilt = plan(r.project, r, state, rebuild_views=True)
    assert rebuilt.problems == []
    new_sql = MV_SQL.replace("sum(value) AS total_value", "sum(value) * 2 AS total_value")
    assert rebuilt.statements == [
        f"DROP VIEW IF EXISTS db.`{MV}` SYNC",
        "TRUNCATE TABLE db.`clicks_daily_mv`",
        f"CREATE MATERIALIZED VIEW db.`{MV}` TO db.`clicks_daily_mv` AS {new_sql}",
    ]
    assert rebuilt.populate == [("clicks_daily_mv", new_sql)]


def test_changed_view_target_schema_is_rebuilt_only_on_request(tmp_path, state):
    root = copy_project(tmp_path / "p")
    edit(root, "datasources/clicks_daily_mv.datasource", "`total_value` UInt64", "`total_value` Int64")
    r = renderer(root)
    assert plan(r.project, r, state).problems == [
        "data source 'clicks_daily_mv': columns changed or removed: `total_value` UInt64; "
        "restart with --rebuild-views to rebuild it from its sources"
    ]
    p = plan(r.project, r, state, rebuild_views=True)
    assert p.problems == []
    assert p.statements[0] == "DROP TABLE db.`clicks_daily_mv` SYNC"
    assert p.statements[1].startswith("CREATE TABLE IF NOT EXISTS db.`clicks_daily_mv` (")
    assert "`total_value` Int64" in p.statements[1]
    assert p.statements[2:] == [f"DROP VIEW IF EXISTS db.`{MV}` SYNC", f"CREATE MATERIALIZED VIEW db.`{MV}` TO db.`clicks_daily_mv` AS {MV_SQL}"]
    assert p.populate == [("clicks_daily_mv", MV_SQL)]


def test_removed_view_is_dropped(tmp_path, state):
    root = copy_project(tmp_path / "p")
    (root / "pipes" / "clicks_daily.pipe").unlink()
    r = renderer(root)
    p = plan(r.project, r, state)
    assert (p.statements, p.problems) == ([f"DROP VIEW IF EXISTS db.`{MV}` SYNC"], [])


def test_view_name():
    assert view_name("p", "n") == "mv__p__n"
