"""Delete and replace over HTTP (tblocal/rewrite.py and its routes), on a real server over tests/project."""

import json

import pytest
import requests

from tblocal import rewrite
from tblocal.errors import Unavailable
from tblocal.launcher import ServerProcess

from helpers import TEST_PROJECT, datafiles, ndjson, scratch_workspace

ROWS = [
    {"id": "1", "user": "ann", "kind": "click", "ts": "2024-01-05 10:00:00", "value": 1},
    {"id": "2", "user": "bob", "kind": "click", "ts": "2024-01-06 10:00:00", "value": 2},
    {"id": "3", "user": "ann", "kind": "view", "ts": "2024-02-01 10:00:00", "value": 3},
    {"id": "4", "user": "cid", "kind": "click", "ts": "2024-02-02 10:00:00", "value": 4},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = ServerProcess(TEST_PROJECT, tmp_path_factory.mktemp("lifecycle") / "data").start()
    yield server
    server.stop()


@pytest.fixture
def admin(server):
    token = server.admin_token
    requests.post(f"{server.url}/v0/datasources/clicks/truncate", params={"token": token}).raise_for_status()
    requests.post(f"{server.url}/v0/datasources/clicks_daily_mv/truncate", params={"token": token}).raise_for_status()
    append(server, token, ROWS)
    return token


def append(server, token, rows):
    r = requests.post(f"{server.url}/v0/events", params={"name": "clicks", "token": token, "wait": "true"}, data=ndjson(rows))
    assert r.status_code == 200, r.text


def sql(server, token, q):
    r = requests.get(f"{server.url}/v0/sql", params={"q": q + " FORMAT JSON", "token": token})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def ids(server, token):
    return [r["id"] for r in sql(server, token, "SELECT id FROM clicks ORDER BY id")]


def daily(server, token):
    return [(r["day"], r["user"], int(r["clicks"]), int(r["total_value"])) for r in sql(
        server, token, "SELECT day, user, sum(clicks) AS clicks, sum(total_value) AS total_value FROM clicks_daily_mv "
                       "GROUP BY day, user ORDER BY day, user")]


def test_dry_run_counts_and_changes_nothing(server, admin):
    r = requests.post(f"{server.url}/v0/datasources/clicks/delete", params={"token": admin},
                      data={"delete_condition": "user = 'ann'", "dry_run": "true"})
    assert r.status_code == 200 and r.json() == {"rows_to_be_deleted": 2}
    assert ids(server, admin) == ["1", "2", "3", "4"]


def test_delete_is_a_done_job_and_does_not_cascade(server, admin):
    before = daily(server, admin)
    r = requests.post(f"{server.url}/v0/datasources/clicks/delete", params={"token": admin}, data={"delete_condition": "user = 'ann'"})
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "done" and job["kind"] == "delete_data" and job["rows_affected"] == 2
    assert requests.get(job["job_url"], params={"token": admin}).json()["status"] == "done"
    assert ids(server, admin) == ["2", "4"]
    assert daily(server, admin) == before  # as on Tinybird: the views keep the deleted rows


def test_lightweight_delete_answers_rows_affected(server, admin):
    r = requests.post(f"{server.url}/v1/datasources/clicks/delete", params={"token": admin},
                      data={"delete_condition": "value >= 3", "wait": "true"})
    assert r.json() == {"rows_affected": 2, "mutation": {"partitions_scanned": 1, "partitions_done": 1, "partitions_in_progress": 0}}
    assert ids(server, admin) == ["1", "2"]


def test_lightweight_delete_in_one_partition(server, admin):
    r = requests.post(f"{server.url}/v1/datasources/clicks/delete", params={"token": admin},
                      data={"delete_condition": "user = 'ann'", "partition": "202402"})
    assert r.json()["rows_affected"] == 1
    assert ids(server, admin) == ["1", "2", "4"]


@pytest.mark.parametrize("condition, status, message", [
    ("no_such_column = 1", 400, "no_such_column"),
    ("user = 'ann') OR (1", 400, "not one SQL expression"),
    ("1 -- comment", 400, "not one SQL expression"),
    ("user IN (SELECT user FROM clicks_daily_mv)", 403, "clicks_daily_mv"),
    ("user IN (SELECT name FROM system.tables)", 403, "system.tables"),
    ("", 400, "delete_condition"),
])
def test_a_bad_condition_is_refused_and_nothing_changes(server, admin, condition, status, message):
    for route in ("/v0/datasources/clicks/delete", "/v1/datasources/clicks/delete"):
        r = requests.post(server.url + route, params={"token": admin}, data={"delete_condition": condition})
        assert r.status_code == status, r.text
        assert message in r.json()["error"]
    assert ids(server, admin) == ["1", "2", "3", "4"]


def test_deletes_need_the_admin_token(server, admin):
    tokens = requests.get(f"{server.url}/v0/tokens", params={"token": admin}).json()["tokens"]
    append_token = next(t["token"] for t in tokens if t["name"] == "clicks_append")
    r = requests.post(f"{server.url}/v0/datasources/clicks/delete", params={"token": append_token}, data={"delete_condition": "1"})
    assert r.status_code == 403
    r = requests.post(f"{server.url}/v0/datasources/nope/delete", params={"token": admin}, data={"delete_condition": "1"})
    assert r.status_code == 404


def replace(server, token, rows, **params):
    return requests.post(f"{server.url}/v1/datasources/clicks/replace", params={"token": token, "format": "ndjson", **params},
                         data=ndjson(rows), headers={"Content-Type": "application/x-ndjson"})


def test_full_replace_leaves_only_the_file_and_recomputes_the_views(server, admin):
    r = replace(server, admin, [{"id": "9", "user": "dan", "ts": "2024-03-01 00:00:00", "value": 7}, "not json"])
    assert r.status_code == 200, r.text
    job = r.json()
    assert (job["status"], job["statistics"]["row_count"], job["statistics"]["quarantine_rows"]) == ("done", 1, 1)
    assert ids(server, admin) == ["9"]
    assert daily(server, admin) == [("2024-03-01", "dan", 1, 7)]
    assert int(sql(server, admin, "SELECT count() AS n FROM clicks_quarantine")[0]["n"]) >= 1


def test_replace_with_condition_touches_only_matching_rows(server, admin):
    new = [{"id": "5", "user": "ann", "ts": "2024-01-07 00:00:00", "value": 10},
           {"id": "6", "user": "bob", "ts": "2024-01-07 00:00:00", "value": 20}]  # does not match: dropped
    r = replace(server, admin, new, replace_condition="user = 'ann'")
    assert r.status_code == 200, r.text
    assert ids(server, admin) == ["2", "4", "5"]
    assert daily(server, admin) == [("2024-01-06", "bob", 1, 2), ("2024-01-07", "ann", 1, 10), ("2024-02-02", "cid", 1, 4)]


@pytest.mark.parametrize("condition", ["nope = 1", "throwIf(id = '5', 'boom') = 0"])  # the second fails on the new rows only
def test_a_replace_that_fails_changes_nothing(server, admin, condition):
    before = daily(server, admin)
    r = replace(server, admin, [{"id": "5", "user": "ann", "ts": "2024-01-07 00:00:00"}], replace_condition=condition)
    assert r.status_code == 400 and r.json()["error"].startswith("[Error]")
    assert ids(server, admin) == ["1", "2", "3", "4"]
    assert daily(server, admin) == before
    assert int(sql(server, admin, "SELECT count() AS n FROM clicks_quarantine WHERE id = '5'")[0]["n"]) == 0


def test_a_delete_that_fails_at_run_time_changes_nothing(server, admin):
    r = requests.post(f"{server.url}/v0/datasources/clicks/delete", params={"token": admin},
                      data={"delete_condition": "throwIf(user = 'cid', 'boom') = 0"})
    assert r.status_code == 400 and "boom" in r.json()["error"]
    assert ids(server, admin) == ["1", "2", "3", "4"]


def test_a_swap_cut_short_is_finished_by_rebuilding_the_views(server, admin):
    """A kill -9 during the swap leaves the journal: the next start rebuilds every view from its sources."""
    from tblocal.datadir import DataDir

    requests.post(f"{server.url}/v0/datasources/clicks/delete", params={"token": admin},
                  data={"delete_condition": "user = 'ann'"}).raise_for_status()
    assert len(daily(server, admin)) == 4  # the delete did not cascade
    server.stop()
    DataDir(server.data_dir).journal("tb").write_text(json.dumps({"phase": "rewrite", "datasource": "clicks"}))
    server.start()
    token = server.admin_token
    assert daily(server, token) == [("2024-01-06", "bob", 1, 2), ("2024-02-02", "cid", 1, 4)]
    assert not DataDir(server.data_dir).journal("tb").exists()


def test_v0_mode_replace_takes_a_multipart_file_as_curl_sends_it(server, admin):
    rows = [{"id": "7", "user": "ann", "ts": "2024-02-03 00:00:00", "value": 1}]
    r = requests.post(f"{server.url}/v0/datasources", params={"token": admin, "name": "clicks", "mode": "replace",
                                                               "replace_condition": "toYYYYMM(ts) = 202402"},
                      files={"ndjson": ("rows.ndjson", ndjson(rows))})
    assert r.status_code == 200, r.text
    assert (r.json()["statistics"]["row_count"], r.json()["rows_deleted"]) == (1, 2)
    assert ids(server, admin) == ["1", "2", "7"]
    r = requests.post(f"{server.url}/v0/datasources", params={"token": admin, "name": "clicks", "mode": "create"}, data=b"x")
    assert r.status_code == 400 and "mode=replace" in r.json()["error"]


def test_a_replace_refuses_a_view_target_that_several_views_fill(local):
    """Recomputed from the replaced source's view alone, such a target would lose the other view's rows."""
    second = (TEST_PROJECT / "pipes/clicks_daily.pipe").read_text().replace("aggregate_per_day", "aggregate_again")
    with scratch_workspace(local, "lifecycle_two_feeders", datafiles(**{"pipes/clicks_daily_again.pipe": second})) as token:
        assert local.post("/v0/events", params={"name": "clicks", "wait": "true", "token": token}, content=ndjson(ROWS)).status_code == 200
        refused = local.post("/v1/datasources/clicks/replace", params={"format": "ndjson", "token": token}, content=ndjson(ROWS[:1]))
        assert refused.status_code == 400
        assert "'clicks_daily_mv' is filled by 2 materialized views" in refused.json()["error"]
        count = local.get("/v0/sql", params={"q": "SELECT count() AS n FROM clicks FORMAT JSON", "token": token}).json()["data"]
        assert count == [{"n": 4}]


def test_a_delete_once_the_writer_is_closed_is_a_503_and_changes_nothing(local):
    """A build or deployment closes the writer before it rebuilds the tables: a delete then must not swap partitions."""
    with scratch_workspace(local, "lifecycle_closed", datafiles()) as token:
        assert local.post("/v0/events", params={"name": "clicks", "wait": "true", "token": token}, content=ndjson(ROWS)).status_code == 200
        ws = next(w for w in local.app.state.workspaces.live.values() if w.tokens.find(token))
        local.portal.call(ws.ingestor.close, "A deployment is rebuilding this workspace")
        with pytest.raises(Unavailable, match="A deployment is rebuilding"):
            rewrite.delete(ws, "clicks", "user = 'ann'")
        assert ws.engine.scalar(f"SELECT count() FROM {ws.database}.clicks") == 4
