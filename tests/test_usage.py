"""Service data sources (tblocal/usage.py) in-process: what each call and operation records, and who may read it.

Each test builds tests/project into a workspace of its own, whose service data sources start empty,
so every answer below is exact.
"""

import dataclasses
import time

import pytest

from helpers import click, datafiles, ndjson
from tblocal import usage
from tblocal.datadir import service_db

CALLS_PIPE = """TOKEN "calls_read" READ

NODE endpoint
SQL >
    SELECT pipe_name, count() AS calls FROM tinybird.pipe_stats_rt GROUP BY pipe_name ORDER BY pipe_name

TYPE ENDPOINT
"""
CALLS_MV = """SCHEMA >
    `pipe_name` String,
    `calls` UInt64

ENGINE SummingMergeTree
ENGINE_SORTING_KEY pipe_name
"""
CALLS_MAT = """NODE counted
SQL >
    SELECT pipe_name, count() AS calls FROM tinybird.pipe_stats_rt GROUP BY pipe_name

TYPE MATERIALIZED
DATASOURCE calls_mv
"""


@pytest.fixture(scope="module")
def user(local) -> str:
    return local.get("/tokens").json()["user_token"]


class Workspace:
    """A workspace built from tests/project (plus extra datafiles), with its tokens by name."""

    def __init__(self, local, user: str, name: str, **extra):
        self.local, self.user, self.name = local, user, name
        made = local.post("/v1/workspaces", params={"name": name, "token": user})
        assert made.status_code == 200, made.text
        self.admin = made.json()["token"]
        self.build = local.post("/v1/build", files=datafiles(**extra), headers={"Authorization": f"Bearer {self.admin}"}).json()
        listed = local.get("/v0/tokens", params={"token": self.admin}).json()["tokens"]
        self.tokens = {t["name"]: t["token"] for t in listed}
        self.pipe_ids = {p["name"]: p["id"] for p in local.get("/v0/pipes", params={"token": self.admin}).json()["pipes"]}

    def get(self, path: str, token: str | None = None, **params):
        return self.local.get(path, params={"token": token or self.admin, **params})

    def rows(self, q: str) -> list[dict]:
        r = self.get("/v0/sql", q=q + " FORMAT JSON")
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def served(self):
        """The Workspace object serving this workspace now."""
        return next(w for w in self.local.app.state.workspaces.live.values() if w.tokens.find(self.admin))

    def delete(self) -> None:
        self.local.delete(f"/v1/workspaces/{self.name}", params={"token": self.user, "hard_delete_confirmation": "yes"})


@pytest.fixture()
def ws(local, user, request):
    w = Workspace(local, user, f"usage_{request.node.name[:40]}", **{"pipes/calls.pipe": CALLS_PIPE})
    assert w.build["result"] == "success", w.build
    yield w
    w.delete()


def test_endpoint_calls_in_pipe_stats_rt_pipe_stats_and_endpoint_errors(ws):
    assert ws.local.post("/v0/events", params={"name": "clicks", "wait": "true", "token": ws.admin},
                         content=ndjson([click(1, "a"), click(2, "a"), click(3, "b")])).status_code == 200
    assert ws.get("/v0/pipes/top_users.json", limit="2").status_code == 200
    assert ws.get("/v0/pipes/top_users.json", ws.tokens["top_users_read"], limit="abc").status_code == 400
    assert ws.get("/v0/pipes/top_users.json", ws.tokens["kinds_read"]).status_code == 403
    assert ws.get("/v0/pipes/nope.json").status_code == 404  # no such pipe: nothing to record

    rows = ws.rows("SELECT pipe_id, pipe_name, token_name, status_code, error, error_message, method, parameters, url, "
                   "result_rows, read_rows, duration > 0 AS timed FROM tinybird.pipe_stats_rt ORDER BY status_code")
    base = "http://127.0.0.1:7181/v0/pipes/top_users.json"
    call = {"pipe_id": ws.pipe_ids["top_users"], "pipe_name": "top_users", "method": "GET", "timed": 1}
    assert rows == [
        {**call, "token_name": "admin token", "status_code": 200, "error": 0, "error_message": None,
         "parameters": {"limit": "2"}, "url": base + "?limit=2", "result_rows": 2, "read_rows": 3},
        {**call, "token_name": "top_users_read", "status_code": 400, "error": 1,
         "error_message": "[Error] Invalid value for parameter 'limit': 'abc' is not a valid Int32",
         "parameters": {"limit": "abc"}, "url": base + "?limit=abc", "result_rows": 0, "read_rows": 0},
        {**call, "token_name": "kinds_read", "status_code": 403, "error": 1,
         "error_message": "The token you have provided doesn't have access to the pipe 'top_users'",
         "parameters": {}, "url": base, "result_rows": 0, "read_rows": 0},
    ]
    errors = ws.rows("SELECT pipe_name, status_code, error, params, url FROM tinybird.endpoint_errors ORDER BY status_code")
    assert errors == [{"pipe_name": "top_users", "status_code": r["status_code"], "error": r["error_message"],
                       "params": __import__("json").dumps(r["parameters"]), "url": r["url"]} for r in rows[1:]]
    daily = ws.rows("SELECT pipe_id, pipe_name, sum(view_count) AS views, sum(error_count) AS errors, "
                    "sum(read_rows_sum) AS read_rows, avgMerge(avg_duration_state) = (SELECT avg(duration) FROM "
                    "tinybird.pipe_stats_rt) AS same_latency FROM tinybird.pipe_stats GROUP BY pipe_id, pipe_name")
    assert daily == [{"pipe_id": ws.pipe_ids["top_users"], "pipe_name": "top_users", "views": 3, "errors": 2,
                      "read_rows": 3, "same_latency": 1}]


def test_query_api_calls_are_recorded_as_query_api_unless_they_read_service_data_sources(ws):
    assert ws.get("/v0/sql", q="SELECT count() AS n FROM clicks").status_code == 200
    assert ws.get("/v0/sql", q="SELECT nope FROM clicks").status_code == 400
    ws.rows("SELECT count() FROM tinybird.datasources_ops_log")  # reads of service data sources are not recorded
    rows = ws.rows("SELECT pipe_id, pipe_name, status_code, parameters FROM tinybird.pipe_stats_rt ORDER BY status_code")
    assert rows == [
        {"pipe_id": "query_api", "pipe_name": "query_api", "status_code": 200, "parameters": {"q": "SELECT count() AS n FROM clicks"}},
        {"pipe_id": "query_api", "pipe_name": "query_api", "status_code": 400, "parameters": {"q": "SELECT nope FROM clicks"}},
    ]
    assert ws.rows("SELECT * FROM tinybird.endpoint_errors") == []


def test_client_sql_needs_the_admin_token_and_endpoint_pipes_need_only_theirs(ws):
    read = ws.tokens["top_users_read"]
    refused = {"error": "Services Data Sources like 'tinybird.pipe_stats_rt' can't be directly accessed without an ADMIN token.",
               "documentation": usage.DOCS}
    r = ws.get("/v0/sql", read, q="SELECT count() FROM tinybird.pipe_stats_rt")
    assert (r.status_code, r.json()) == (403, refused)
    r = ws.get("/v0/pipes/top_users.json", read, q="SELECT count() FROM tinybird.pipe_stats_rt")
    assert (r.status_code, r.json()) == (403, refused)
    r = ws.get("/v0/sql", q=f"SELECT count() FROM {service_db('tb')}.pipe_stats_rt")  # another workspace's, by name
    assert r.status_code == 403
    assert ws.get("/v0/pipes/top_users.json", read).status_code == 200
    assert ws.get("/v0/pipes/top_users.json", read).status_code == 200
    r = ws.get("/v0/pipes/calls.json", ws.tokens["calls_read"])
    assert r.status_code == 200, r.text
    # Refused calls count too (the two Query API ones and the endpoint's q): who tried what is worth seeing.
    assert r.json()["data"] == [{"pipe_name": "query_api", "calls": 2}, {"pipe_name": "top_users", "calls": 3}]
    assert ws.get("/v0/pipes/calls.json", read).status_code == 403


def test_a_materialized_view_over_a_service_data_source_is_refused(local, user):
    w = Workspace(local, user, "usage_mv", **{"datasources/calls_mv.datasource": CALLS_MV, "pipes/calls_mat.pipe": CALLS_MAT})
    try:
        assert w.build["result"] == "failed"
        assert [e["error"] for e in w.build["errors"]] == [
            "[Error] Service data sources cannot be used in materialized views: 'tinybird.pipe_stats_rt'"]
    finally:
        w.delete()


def test_data_operations_in_datasources_ops_log_block_log_and_jobs_log(ws):
    bad = {"id": "x", "user": "u", "ts": "yesterday"}
    r = ws.local.post("/v0/events", params={"name": "clicks", "wait": "true", "token": ws.admin}, content=ndjson([click(1), click(2), bad]))
    assert r.json() == {"successful_rows": 2, "quarantined_rows": 1}
    r = ws.local.post("/v0/events", params={"name": "clicks", "token": ws.admin}, content=ndjson([click(3), click(4), click(5)]))
    assert r.status_code == 202
    job = ws.local.post("/v1/datasources/clicks/append", params={"format": "ndjson", "token": ws.admin},
                        content=ndjson([click(i) for i in range(10, 14)])).json()
    assert ws.local.post("/v0/datasources/clicks/truncate", params={"token": ws.admin}).status_code == 200

    ops = ws.rows("SELECT event_type, datasource_id, datasource_name, result, error, rows, rows_quarantine, job_id, "
                  "elapsed_time >= 0 AS timed FROM tinybird.datasources_ops_log ORDER BY event_type, rows_quarantine")
    ds = {"datasource_id": job["datasource"]["id"], "datasource_name": "clicks", "result": "ok", "error": None, "timed": 1}
    assert ops == [
        {**ds, "event_type": "append", "rows": 4, "rows_quarantine": 0, "job_id": job["id"]},
        {**ds, "event_type": "append-hfi", "rows": 3, "rows_quarantine": 0, "job_id": None},
        {**ds, "event_type": "append-hfi", "rows": 2, "rows_quarantine": 1, "job_id": None},
        {**ds, "event_type": "truncate", "rows": None, "rows_quarantine": None, "job_id": None},
    ]
    blocks = ws.rows("SELECT source, status, datasource_name, rows, quarantine_lines FROM tinybird.block_log ORDER BY source, rows")
    assert blocks == [
        {"source": "append", "status": "done", "datasource_name": "clicks", "rows": 4, "quarantine_lines": 0},
        {"source": "append-hfi", "status": "done", "datasource_name": "clicks", "rows": 2, "quarantine_lines": 1},
        {"source": "append-hfi", "status": "done", "datasource_name": "clicks", "rows": 3, "quarantine_lines": 0},
    ]
    jobs = ws.rows("SELECT job_id, job_type, status, error, datasource_id, pipe_id, job_metadata FROM tinybird.jobs_log")
    assert jobs == [{"job_id": job["id"], "job_type": "import", "status": "done", "error": None,
                     "datasource_id": job["datasource"]["id"], "pipe_id": None, "job_metadata": '{"rows": 4, "quarantine_rows": 0}'}]


def test_deletes_and_replaces_in_datasources_ops_log(ws):
    rows = ndjson([click(1, user="u1"), click(2, user="u2"), click(3, user="u2")])
    assert ws.local.post("/v0/events", params={"name": "clicks", "wait": "true", "token": ws.admin}, content=rows).status_code == 200
    deleted = ws.local.post("/v0/datasources/clicks/delete", params={"token": ws.admin}, data={"delete_condition": "user = 'u2'"})
    assert deleted.status_code == 200, deleted.text
    replaced = ws.local.post("/v1/datasources/clicks/replace", params={"format": "ndjson", "token": ws.admin},
                             content=ndjson([click(7), click(8)]))
    assert replaced.status_code == 200, replaced.text

    ops = ws.rows("SELECT event_type, datasource_name, result, rows, rows_quarantine, Options.Names AS asked "
                  "FROM tinybird.datasources_ops_log WHERE event_type != 'append-hfi' ORDER BY event_type")
    assert ops == [
        {"event_type": "delete_data", "datasource_name": "clicks", "result": "ok", "rows": 2, "rows_quarantine": 0, "asked": ["condition"]},
        {"event_type": "replace", "datasource_name": "clicks", "result": "ok", "rows": 2, "rows_quarantine": 0, "asked": []},
    ]


def test_nothing_is_recorded_when_recording_is_off(ws):
    served = ws.served()
    served.settings = dataclasses.replace(served.settings, record_usage=False)
    try:
        assert ws.get("/v0/pipes/top_users.json").status_code == 200
        assert ws.get("/v0/sql", q="SELECT 1").status_code == 200
        assert ws.local.post("/v0/datasources/clicks/truncate", params={"token": ws.admin}).status_code == 200
    finally:
        served.settings = dataclasses.replace(served.settings, record_usage=True)
    assert ws.rows("SELECT (SELECT count() FROM tinybird.pipe_stats_rt) AS calls, "
                   "(SELECT count() FROM tinybird.datasources_ops_log) AS ops") == [{"calls": 0, "ops": 0}]


def test_a_deleted_workspace_takes_its_service_data_sources_along(local, user, engine):
    w = Workspace(local, user, "usage_deleted")
    assert w.get("/v0/pipes/top_users.json").status_code == 200
    database = service_db(w.served().database)
    assert engine.scalar(f"SELECT count() FROM system.tables WHERE database = '{database}' AND name = 'pipe_stats_rt'") == 1
    w.delete()
    assert engine.scalar(f"SELECT count() FROM system.databases WHERE name = '{database}'") == 0


def test_the_recorder_is_bounded_and_writes_everything_queued_on_close(engine):
    engine.execute("CREATE DATABASE IF NOT EXISTS usage_unit")
    engine.execute("CREATE TABLE IF NOT EXISTS usage_unit.t (n UInt32) ENGINE = MergeTree ORDER BY n")
    rec = usage.Recorder(engine, max_rows=3, flush_s=3600)
    rec.add("usage_gone", lambda: [("t", {"n": 99})])  # a database that is gone: its row is lost, never the others
    for n in range(4):
        rec.add("usage_unit", lambda n=n: [("t", {"n": n})])
    assert rec.dropped == 2
    rec.close()
    assert engine.rows("SELECT n FROM usage_unit.t ORDER BY n") == [{"n": 0}, {"n": 1}]
    rec.add("usage_unit", lambda: [("t", {"n": 7})])  # after close, the next row starts the writer again
    rec.flush()
    assert engine.scalar("SELECT max(n) FROM usage_unit.t") == 7
    rec.close()
    engine.execute("DROP DATABASE usage_unit SYNC")


def test_a_jwt_call_is_recorded_under_the_jwt_name(ws):
    exp = int(time.time()) + 300
    body = '{"scopes": [{"type": "PIPES:READ", "resource": "top_users", "fixed_params": {"limit": "1"}}]}'
    minted = ws.local.post("/v0/tokens", params={"name": "user_alice", "expiration_time": exp, "token": ws.admin}, content=body)
    assert minted.status_code == 200, minted.text
    assert ws.get("/v0/pipes/top_users.json", minted.json()["token"]).status_code == 200
    assert ws.rows("SELECT token_name, pipe_name, status_code FROM tinybird.pipe_stats_rt") == [
        {"token_name": "user_alice", "pipe_name": "top_users", "status_code": 200}]


def test_rows_are_stamped_when_the_operation_happened_never_in_a_later_second(ws):
    """Each stamp is the operation's moment cut to its column's precision: DateTime to the second, DateTime64(3) to the ms."""
    before = time.time()
    r = ws.local.post("/v0/events", params={"name": "clicks", "wait": "true", "token": ws.admin}, content=ndjson([click(1)]))
    job = ws.local.post("/v1/datasources/clicks/append", params={"format": "ndjson", "token": ws.admin},
                        content=ndjson([click(2)])).json()
    assert ws.get("/v0/pipes/top_users.json").status_code == 200
    after = time.time()
    assert r.status_code == 200 and job["status"] == "done"
    stamps = ws.rows("SELECT toUnixTimestamp(timestamp) AS s FROM tinybird.datasources_ops_log "
                     "UNION ALL SELECT toUnixTimestamp(timestamp) FROM tinybird.block_log "
                     "UNION ALL SELECT toUnixTimestamp(start_datetime) FROM tinybird.pipe_stats_rt")
    assert len(stamps) == 5 and all(int(before) <= row["s"] <= int(after) for row in stamps), (before, stamps, after)
    jobs = ws.rows("SELECT toUnixTimestamp64Milli(created_at) AS created, toUnixTimestamp64Milli(updated_at) AS updated "
                   "FROM tinybird.jobs_log")
    assert len(jobs) == 1 and int(before * 1000) <= jobs[0]["created"] <= jobs[0]["updated"] <= int(after * 1000), (before, jobs, after)


def test_tb_logs_bounds_find_a_job_stamped_in_the_second_before_them(ws):
    """`tb logs` asks for created_at within whole-second bounds (parseDateTimeBestEffort): a job stamped at x.5 s
    is inside [x, x+1), whatever the engine's index analysis does with a DateTime64 key."""
    job = ws.local.post("/v1/datasources/clicks/append", params={"format": "ndjson", "token": ws.admin},
                        content=ndjson([click(1)])).json()
    created = ws.rows("SELECT toUnixTimestamp(created_at) AS s FROM tinybird.jobs_log")[0]["s"]
    iso = lambda s: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s))  # noqa: E731
    found = ws.rows(f"SELECT job_id FROM tinybird.jobs_log WHERE created_at >= parseDateTimeBestEffort('{iso(created)}') "
                    f"AND created_at < parseDateTimeBestEffort('{iso(created + 1)}')")
    assert found == [{"job_id": job["id"]}]
