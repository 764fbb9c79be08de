"""tblocal.workspace: one project on one database, its reads checked against a token, its writes (real chDB,
tests/project on a database of its own, on the session's engine)."""

import asyncio
import json

import pytest

from helpers import TEST_PROJECT, ndjson
from tblocal.access import Grant
from tblocal.errors import BadRequest, Forbidden, NotFound
from tblocal.settings import Settings
from tblocal.workspace import Workspace

ROWS = [
    {"id": "1", "user": "ann", "kind": "click", "ts": "2024-01-05 10:00:00", "value": 1},
    {"id": "2", "user": "bob", "kind": "click", "ts": "2024-01-06 10:00:00", "value": 2},
    {"id": "3", "user": "ann", "kind": "view", "ts": "2024-02-01 10:00:00", "value": 3},
    {"id": "4", "user": "cid", "kind": "click", "ts": "2024-02-02 10:00:00", "value": 4},
]
ADMIN = Grant("admin", "a", ("ADMIN",))
PIPE_READER = Grant("pipe reader", "p", ("PIPES:READ:top_users",))
CLICKS_READER = Grant("clicks reader", "c", ("DATASOURCES:READ:clicks",))
ANN_ONLY = Grant("ann only", "f", ("DATASOURCES:READ:clicks",), filters={"clicks": "user = 'ann'"})


@pytest.fixture
def ws(engine, tmp_path, request):
    """A workspace of tests/project on its own database, with ROWS (and one bad line) loaded; dropped afterwards."""
    settings = Settings.from_env(environ={}, data_dir=engine.path.parent, project=TEST_PROJECT)
    ws = Workspace(settings, database=f"wsu_{request.node.name.replace('test_', '')[:40]}")
    rows = tmp_path / "clicks.ndjson"
    rows.write_bytes(ndjson([*ROWS, '{"id": "bad"}']))
    assert ws.load_file(rows, "clicks") == (4, 1)
    yield ws
    asyncio.run(ws.ingestor.close())
    ws.drop()


def run(ws: Workspace, sql: str) -> list[dict]:
    return json.loads(asyncio.run(ws.run(sql, "JSON", {})).data)["data"]


def test_client_sql_reads_the_workspaces_own_tables_and_keeps_its_format(ws):
    sql, fmt = ws.sql(ADMIN, "SELECT user, count() AS n FROM clicks GROUP BY user ORDER BY user FORMAT CSV", {})
    assert fmt == "CSV"
    assert f"{ws.database}.clicks" in sql
    assert run(ws, sql) == [{"user": "ann", "n": 2}, {"user": "bob", "n": 1}, {"user": "cid", "n": 1}]
    sql, fmt = ws.sql(CLICKS_READER, "SELECT count() AS n FROM clicks_quarantine", {})
    assert (fmt, run(ws, sql)) == (None, [{"n": 1}])


def test_a_filtered_token_reads_only_its_rows_and_never_the_quarantine(ws):
    sql, _ = ws.sql(ANN_ONLY, "SELECT id FROM clicks ORDER BY id", {})
    assert run(ws, sql) == [{"id": "1"}, {"id": "3"}]
    with pytest.raises(Forbidden) as e:
        ws.sql(ANN_ONLY, "SELECT * FROM clicks_quarantine", {})
    assert e.value.message == "The token you have provided doesn't have access to 'clicks_quarantine'"


@pytest.mark.parametrize("grant, q, error, message", [
    (PIPE_READER, "SELECT * FROM clicks", Forbidden, "The token you have provided doesn't have access to 'clicks'"),
    (ADMIN, "SELECT * FROM tb.clicks", Forbidden, "[Error] Resource 'tb.clicks' not found"),
    (ADMIN, "SELECT * FROM system.one", Forbidden, "[Error] Resource 'system.one' not found"),
    (ADMIN, "SELECT * FROM nowhere", NotFound, "[Error] Resource 'nowhere' not found"),
    (ADMIN, "  ", BadRequest, "The q parameter is required"),
    (CLICKS_READER, "SELECT * FROM top_users", Forbidden, "The token you have provided doesn't have access to 'top_users'"),
])
def test_client_sql_naming_what_the_token_cannot_read_is_refused(ws, grant, q, error, message):
    with pytest.raises(error) as e:
        ws.sql(grant, q, {})
    assert type(e.value) is error and e.value.message == message


def test_an_endpoint_renders_with_its_parameters_and_q_runs_over_it(ws):
    assert run(ws, ws.pipe_sql(PIPE_READER, "top_users", {"limit": "2"})) == [
        {"user": "ann", "clicks": 2, "total_value": 4}, {"user": "bob", "clicks": 1, "total_value": 2}]
    q = "SELECT sum(clicks) AS c FROM _"
    assert run(ws, ws.pipe_sql(PIPE_READER, "top_users", {"q": q})) == [{"c": 4}]
    with pytest.raises(Forbidden) as e:
        ws.pipe_sql(CLICKS_READER, "top_users", {})
    assert e.value.message == "The token you have provided doesn't have access to the pipe 'top_users'"
    with pytest.raises(Forbidden):  # q may not reach past the pipe to a data source the token cannot read
        ws.pipe_sql(PIPE_READER, "top_users", {"q": "SELECT * FROM clicks"})


@pytest.mark.parametrize("grant, name, error, message", [
    (ADMIN, "", BadRequest, "The 'name' parameter is required"),
    (CLICKS_READER, "clicks", Forbidden, "The token you have provided doesn't have access to append to 'clicks'"),
    (ADMIN, "nowhere", NotFound, "Data Source 'nowhere' not found"),
])
def test_a_write_names_a_data_source_the_token_may_append_to(ws, grant, name, error, message):
    with pytest.raises(error) as e:
        ws.datasource(name, grant)
    assert type(e.value) is error and e.value.message == message
    assert ws.datasource("clicks", Grant("appender", "w", ("DATASOURCES:APPEND:clicks",))).name == "clicks"


def test_rows_counted_and_a_truncate_leaves_the_views_rows(ws):
    assert ws.row_counts()["clicks"] == 4
    rows, size = ws.table_sizes()["clicks"]
    assert rows == 4 and size > 0
    asyncio.run(ws.truncate("clicks"))
    assert ws.row_counts()["clicks"] == 0
    assert run(ws, f"SELECT sum(clicks) AS c FROM {ws.database}.clicks_daily_mv") == [{"c": 4}]


def test_loading_a_file_for_an_unknown_data_source_is_a_404(ws, tmp_path):
    with pytest.raises(NotFound, match="Data Source 'nowhere' not found"):
        ws.load_file(tmp_path / "nowhere.ndjson", "nowhere")


def test_drop_removes_every_database_and_file_of_the_workspace(engine, tmp_path):
    settings = Settings.from_env(environ={}, data_dir=engine.path.parent, project=TEST_PROJECT)
    ws = Workspace(settings, database="wsu_dropped")
    asyncio.run(ws.ingestor.close())
    assert ws.paths.tokens("wsu_dropped").exists()
    ws.drop()
    assert engine.rows("SELECT name FROM system.databases WHERE name LIKE 'wsu_dropped%'") == []
    assert [p for p in ws.paths.database_files("wsu_dropped") if p.exists()] == []
