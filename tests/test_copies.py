"""Copy pipes in-process (tblocal/copies.py): runs and their jobs, all or nothing, the schedule, what a build refuses."""

import time

import pytest

from tblocal.access import resolve
from tblocal.copies import Copies

from helpers import scratch_workspace

SALES = "SCHEMA >\n    `user` String `json:$.user`,\n    `value` Int32 `json:$.value`\n\nENGINE MergeTree\nENGINE_SORTING_KEY user\n"
TARGET = "SCHEMA >\n    `value` Int64,\n    `user` String\n\nENGINE MergeTree\nENGINE_SORTING_KEY user\n"
TOTALS = "SCHEMA >\n    `user` String,\n    `total` Int64\n\nENGINE SummingMergeTree\nENGINE_SORTING_KEY user\n"
TOTALS_MV = "NODE t\nSQL >\n    SELECT user, sum(value) AS total FROM copied GROUP BY user\n\nTYPE materialized\nDATASOURCE copied_totals\n"
# throwIf fails the copy while it runs, once a row holds the marker value
COPY = ("TOKEN \"copy_reader\" READ\n\nNODE c\nSQL >\n    SELECT user, throwIf(value = 666, 'refused') + value AS value FROM sales\n\n"
        "TYPE COPY\nTARGET_DATASOURCE copied\n")
REPLACE = ("NODE c\nSQL >\n    %\n    SELECT user, throwIf(value = 666, 'refused') + value AS value FROM sales\n"
           "    WHERE value >= {{ Int32(min_value, 0, description=\"Smallest value\") }}\n\n"
           "TYPE COPY\nTARGET_DATASOURCE latest\nCOPY_MODE replace\nCOPY_SCHEDULE 0 * * * *\n")
FILES = {"datasources/sales.datasource": SALES, "datasources/copied.datasource": TARGET, "datasources/latest.datasource": TARGET,
         "datasources/copied_totals.datasource": TOTALS, "pipes/totals_mv.pipe": TOTALS_MV,
         "copies/copy_sales.pipe": COPY, "copies/replace_sales.pipe": REPLACE}


def parts(files: dict) -> list[tuple]:
    return [("context://", ("cli-version", b"1.0.0", "text/plain"))] + [
        ("data_project://", (name, body.encode(), "text/plain")) for name, body in files.items() if body is not None]


@pytest.fixture()
def ws(local, request):
    """A new workspace with FILES built into it; (admin token, user token)."""
    with scratch_workspace(local, f"copies_{request.node.name[:40]}", parts(FILES)) as token:
        yield token


def build(local, token: str, **changes) -> dict:
    files = {**FILES, **{k.replace("__", "/").replace("_dot_", "."): v for k, v in changes.items()}}
    return local.post("/v1/build", files=parts(files), headers={"Authorization": f"Bearer {token}"}).json()


def send(local, token: str, rows: str) -> None:
    r = local.post("/v0/events", params={"name": "sales", "token": token, "wait": "true"}, content=rows.encode())
    assert r.status_code == 200, r.text


def rows(local, token: str, q: str) -> list[dict]:
    r = local.get("/v0/sql", params={"q": q + " FORMAT JSON", "token": token})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def finished(local, token: str, job_id: str) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = local.get(f"/v0/jobs/{job_id}", params={"token": token}).json()
        if job["status"] in ("done", "error"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def run(local, token: str, pipe: str, **params) -> dict:
    r = local.post(f"/v0/pipes/{pipe}/copy", params={"token": token, **params})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["job"]["job_id"] == body["id"] and body["kind"] == "copy"
    assert local.get(f"/v0/datasources/{body['tags']['copy_target_datasource']}", params={"token": token}).json()["name"] == body["datasource"]["name"]
    return finished(local, token, body["id"])


def test_a_copy_appends_by_column_name_and_feeds_the_views_downstream(local, ws):
    send(local, ws, '{"user": "a", "value": 1}\n{"user": "b", "value": 2}\n')
    job = run(local, ws, "copy_sales")
    assert (job["status"], job["statistics"], job["pipe_name"], job["datasource"]["name"]) == ("done", {"total_rows": 2}, "copy_sales", "copied")
    assert "error" not in job  # the CLI reads any "error" key as a failure
    run(local, ws, "copy_sales")
    assert rows(local, ws, "SELECT user, value FROM copied ORDER BY user, value") == [
        {"user": "a", "value": 1}, {"user": "a", "value": 1}, {"user": "b", "value": 2}, {"user": "b", "value": 2}]
    assert rows(local, ws, "SELECT user, sum(total) AS total FROM copied_totals GROUP BY user ORDER BY user") == [
        {"user": "a", "total": 2}, {"user": "b", "total": 4}]
    listed = local.get("/v0/jobs", params={"token": ws}).json()["jobs"]
    assert [j["kind"] for j in listed if j["id"] == job["id"]] == ["copy"]


def test_a_failing_copy_writes_nothing_anywhere(local, ws):
    send(local, ws, '{"user": "a", "value": 1}\n{"user": "z", "value": 666}\n')
    job = run(local, ws, "copy_sales")
    assert job["status"] == "error" and "refused" in job["error"]
    assert rows(local, ws, "SELECT count() AS n FROM copied") == [{"n": 0}]
    assert rows(local, ws, "SELECT count() AS n FROM copied_totals") == [{"n": 0}]
    send(local, ws, '{"user": "b", "value": 5}\n')  # the write path goes on after a failed copy
    assert rows(local, ws, "SELECT count() AS n FROM sales") == [{"n": 3}]


def test_replace_swaps_the_whole_target_or_keeps_it(local, ws):
    send(local, ws, '{"user": "a", "value": 1}\n{"user": "b", "value": 2}\n')
    assert run(local, ws, "replace_sales")["statistics"] == {"total_rows": 2}
    assert run(local, ws, "replace_sales", min_value="2", _mode="replace")["statistics"] == {"total_rows": 1}
    assert rows(local, ws, "SELECT user, value FROM latest") == [{"user": "b", "value": 2}]
    assert run(local, ws, "replace_sales", _mode="append", min_value="2")["status"] == "done"  # the run's mode wins
    assert rows(local, ws, "SELECT user, value FROM latest") == [{"user": "b", "value": 2}] * 2
    send(local, ws, '{"user": "z", "value": 666}\n')
    assert run(local, ws, "replace_sales")["status"] == "error"
    assert rows(local, ws, "SELECT user, value FROM latest") == [{"user": "b", "value": 2}] * 2  # the last good copy stays


def test_copy_routes_refuse_what_tinybird_refuses(local, ws):
    post = lambda path, **p: local.post(path, params={"token": ws, **p})  # noqa: E731
    r = post("/v0/pipes/totals_mv/copy")
    assert (r.status_code, r.json()["error"]) == (404, "The pipe 'totals_mv' is not a copy pipe")
    assert post("/v0/pipes/nope/copy").status_code == 404
    r = post("/v0/pipes/copy_sales/copy", _mode="upsert")
    assert (r.status_code, r.json()["error"]) == (400, "Copy mode must be append or replace, not 'upsert'")
    r = post("/v0/pipes/replace_sales/copy", min_value="x")
    assert (r.status_code, r.json()["error"]) == (400, "[Error] Invalid value for parameter 'min_value': 'x' is not a valid Int32")
    reader = next(t["token"] for t in local.get("/v0/tokens", params={"token": ws}).json()["tokens"] if t["name"] == "copy_reader")
    r = local.post("/v0/pipes/copy_sales/copy", params={"token": reader})
    assert (r.status_code, r.json()["error"]) == (403, "The token you have provided doesn't have access to append to 'copied'")
    types = {p["name"]: p["type"] for p in local.get("/v0/pipes", params={"token": ws}).json()["pipes"]}
    assert (types["copy_sales"], types["totals_mv"]) == ("copy", "materialized")


def test_the_schedule_runs_due_copies_unless_paused(local, ws):
    copies = Copies(local.app.state.workspaces)  # not started: this test tells it the time (the server's runs on)
    workspace = resolve(local.app.state.workspaces, ws)[0]
    pipe = workspace.project.pipes["replace_sales"]
    send(local, ws, '{"user": "a", "value": 1}\n')
    start = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC; "0 * * * *" is next due at 23:00:00
    assert local.portal.call(copies.tick, start) == []
    assert local.portal.call(copies.tick, start + 2000) == []
    started = local.portal.call(copies.tick, start + 2800)
    assert [(j["pipe_name"], j["mode"]) for j in started] == [("replace_sales", "replace")]
    assert finished(local, ws, started[0]["id"])["status"] == "done"
    assert rows(local, ws, "SELECT user, value FROM latest") == [{"user": "a", "value": 1}]
    copies.pause(workspace, pipe)
    assert local.portal.call(copies.tick, start + 2800 + 3600) == []
    copies.resume(workspace, pipe)
    assert local.portal.call(copies.tick, start + 2800 + 3600) == []  # resumed: due again at the next hour
    again = local.portal.call(copies.tick, start + 2800 + 7200)
    assert finished(local, ws, again[0]["id"])["status"] == "done"


def test_pause_and_resume_answer_the_schedule_state(local, ws):
    key = (resolve(local.app.state.workspaces, ws)[0].database, "replace_sales")
    r = local.post("/v0/pipes/replace_sales/copy/pause", params={"token": ws})
    assert (r.status_code, r.json()["name"], r.json()["schedule"]) == (200, "replace_sales", {"status": "paused"})
    assert key in local.app.state.copies.paused
    r = local.post("/v0/pipes/replace_sales/copy/resume", params={"token": ws})
    assert (r.status_code, r.json()["schedule"]) == (200, {"status": "running"})
    assert key not in local.app.state.copies.paused


@pytest.mark.parametrize("name, body, error", [
    ("copies/copy_sales.pipe", COPY + "\nNODE e\nSQL >\n    SELECT 1 AS x\n\nTYPE endpoint\n",
     "Multiple non-standard nodes in pipe. There can only be one"),
    ("copies/copy_sales.pipe", COPY.replace("TARGET_DATASOURCE copied", "TARGET_DATASOURCE nowhere"),
     "node c copies into unknown data source 'nowhere'"),
    ("copy_sales.pipe", COPY.replace("AS value FROM", "AS value, 1 AS extra FROM"),
     "The copy node c outputs columns that data source 'copied' does not have: extra"),
    ("copies/replace_sales.pipe", REPLACE.replace("0 * * * *", "every hour"),
     "COPY node schedule must be @on-demand or a valid cron expression."),
    ("copies/replace_sales.pipe", REPLACE.replace("COPY_MODE replace", "COPY_MODE upsert"), "COPY node mode must be append or replace"),
    ("copies/copy_sales.pipe", COPY.replace("TARGET_DATASOURCE copied\n", ""), "Some copy node params have been provided, but the following required ones are missing: ['target_datasource']"),
    ("replace_sales.pipe", REPLACE.replace("TARGET_DATASOURCE latest", "TARGET_DATASOURCE copied"),
     "COPY_MODE replace into 'copied', which materialized views read: tblocal cannot replace a view's source all at once; use COPY_MODE append"),
])
def test_a_build_refuses_a_bad_copy_pipe_naming_the_file(local, ws, name, body, error):
    sent = name if "/" in name else f"copies/{name}"  # errors found running the SQL name the file without its folder
    result = local.post("/v1/build", files=parts({**FILES, sent: body}), headers={"Authorization": f"Bearer {ws}"}).json()
    assert result["result"] == "failed"
    assert [(e["filename"], e["error"]) for e in result["errors"]] == [(name, error)]


def test_a_copy_run_is_in_jobs_log_and_datasources_ops_log(local, ws):
    send(local, ws, '{"user": "a", "value": 1}\n{"user": "b", "value": 2}\n')
    job = run(local, ws, "copy_sales")
    assert rows(local, ws, "SELECT job_id, job_type, status, pipe_id, datasource_id FROM tinybird.jobs_log") == [
        {"job_id": job["id"], "job_type": "copy", "status": "done", "pipe_id": job["pipe_id"], "datasource_id": job["datasource"]["id"]}]
    assert rows(local, ws, "SELECT event_type, datasource_name, pipe_name, result, rows, job_id FROM tinybird.datasources_ops_log "
                           "WHERE event_type = 'copy'") == [
        {"event_type": "copy", "datasource_name": "copied", "pipe_name": "copy_sales", "result": "ok", "rows": 2, "job_id": job["id"]}]
