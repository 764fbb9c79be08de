"""A workspace's resources in-process (tblocal/api/resources.py, rows.py, jobs.py): pipes, data sources, appends and jobs."""

import json
import re

import pytest

from helpers import TEST_PROJECT, click, ndjson

STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")  # the CLI cuts the last 7 characters


@pytest.fixture(scope="module")
def admin(local):
    return local.get("/tokens").json()["workspace_admin_token"]


def get(local, path, token, **params):
    return local.get(path, params={"token": token, **params})


def test_pipe_with_its_nodes(local, admin):
    pipe = get(local, "/v0/pipes/top_users", admin).json()
    assert (pipe["name"], pipe["type"]) == ("top_users", "endpoint")
    assert [(n["name"], n["node_type"]) for n in pipe["nodes"]] == [("filtered", "standard"), ("endpoint", "endpoint")]
    assert pipe["endpoint"] == pipe["nodes"][1]["id"] and STAMP.fullmatch(pipe["updated_at"])
    daily = get(local, "/v0/pipes/clicks_daily", admin).json()
    assert [(n["node_type"], n["materialized"]) for n in daily["nodes"]] == [("materialized", "clicks_daily_mv")]
    assert get(local, "/v0/pipes/nope", admin).status_code == 404


def test_pipe_datafile_is_plain_text(local, admin):
    r = get(local, "/v1/pipes/top_users.pipe", admin)
    assert r.headers["content-type"] == "text/plain"  # exactly: the CLI parses anything else as JSON
    assert r.text == (TEST_PROJECT / "pipes" / "top_users.pipe").read_text()


def test_datasource_with_statistics(local, admin):
    ds = get(local, "/v0/datasources/clicks", admin).json()
    assert (ds["name"], ds["id"][:2], ds["engine"]["engine"]) == ("clicks", "t_", "MergeTree")
    assert set(ds["statistics"]) == {"row_count", "bytes"} and STAMP.fullmatch(ds["created_at"])
    r = get(local, "/v0/datasources/nope", admin)
    assert (r.status_code, r.json()["error"]) == (404, "Data Source 'nope' not found")


def test_v1_append_is_a_finished_job(local, admin):
    before = get(local, "/v0/datasources/clicks", admin).json()["statistics"]["row_count"]
    body = ndjson([click(i, user="v1_append") for i in range(3)] + ['{"id": "no user"}'])
    r = local.post("/v1/datasources/clicks/append", params={"token": admin, "format": "ndjson"}, content=body,
                   headers={"Content-Type": "application/x-ndjson"})
    job = r.json()
    assert "error" not in job  # the CLI fails on the mere presence of the key
    assert (job["kind"], job["status"], job["blocks"]) == ("import", "done", [{"process_return": [{"lines": 3, "quarantine": 1, "bytes": len(body)}], "processing_time": 0}])
    assert get(local, f"/v0/jobs/{job['id']}", admin).json() == job
    assert job in get(local, "/v0/jobs", admin).json()["jobs"]
    assert get(local, "/v0/datasources/clicks", admin).json()["statistics"]["row_count"] == before + 3


def test_v1_append_refuses_a_url_it_cannot_fetch_and_a_bad_parquet_file(local, admin):
    before = get(local, "/v0/datasources/clicks", admin).json()["statistics"]["row_count"]
    r = local.post("/v1/datasources/clicks/append", params={"token": admin, "format": "csv", "url": "file:///etc/passwd"})
    assert (r.status_code, r.json()["error"]) == (400, "The url must be an http:// or https:// URL: 'file:///etc/passwd'")
    r = local.post("/v1/datasources/clicks/append", params={"token": admin, "format": "parquet"}, content=b"PAR1")
    assert (r.status_code, r.json()["error"].startswith("The Parquet file could not be read: ")) == (400, True)
    assert get(local, "/v0/datasources/clicks", admin).json()["statistics"]["row_count"] == before


def test_multipart_append_reads_the_field_not_the_framing(local, admin):
    rows = ndjson([click(i, user="multipart") for i in range(4)])
    r = local.post("/v0/datasources", params={"token": admin, "name": "clicks", "mode": "append"}, files={"ndjson": ("x.ndjson", rows)})
    assert (r.json()["successful_rows"], r.json()["quarantined_rows"]) == (4, 0)
    r = local.post("/v0/datasources", params={"token": admin, "name": "clicks"}, data={"mode": "append"}, files={"x": ("x", b"")})
    assert (r.status_code, r.json()["error"]) == (400, "The body is empty: send NDJSON, CSV or Parquet rows, a file, or url=")


def test_truncate_needs_admin_and_empties_the_table(local, admin):
    tokens = {t["name"]: t for t in get(local, "/v0/tokens", admin).json()["tokens"]}
    r = local.post("/v0/datasources/clicks_daily_mv/truncate", params={"token": tokens["clicks_append"]["token"]})
    assert (r.status_code, r.json()["error"]) == (403, "Truncating a data source needs the admin token")
    assert local.post("/v0/datasources/clicks_daily_mv/truncate", params={"token": admin}).json() == {}
    assert get(local, "/v0/datasources/clicks_daily_mv", admin).json()["statistics"]["row_count"] == 0


def test_example_url_carries_the_token_asked_with(local, admin):
    read = get(local, "/v0/tokens/top_users_read", admin).json()["token"]
    r = local.get("/examples/query.http", params={"format": "json", "pipe": "top_users", "q": "", "token": read})
    assert (r.headers["content-type"], r.text) == ("text/plain", f"http://127.0.0.1:7181/v0/pipes/top_users.json?token={read}")


def test_pipe_list_as_endpoint_ls_reads_it(local, admin):
    pipes = get(local, "/v0/pipes", admin, dependencies="false", attrs="name,updated_at,endpoint,url", node_attrs="name").json()["pipes"]
    assert sorted(p["name"] for p in pipes if p["endpoint"]) == ["kinds", "top_users", "user_clicks"]
    assert all(isinstance(p["nodes"], list) and STAMP.fullmatch(p["updated_at"]) for p in pipes)
    assert json.loads(json.dumps(pipes)) == pipes
