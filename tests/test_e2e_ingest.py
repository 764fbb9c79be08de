"""Ingestion through a real server: Events API, quarantine, bulk append."""

import gzip

import pytest

from helpers import HANG_S, TEST_PROJECT, Client, click, ndjson, wait_until
from tblocal.launcher import ServerProcess

pytestmark = pytest.mark.e2e
EVENTS_DOCS = "https://www.tinybird.co/docs/api-reference/events-api"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    server = ServerProcess(
        TEST_PROJECT,
        tmp_path_factory.mktemp("ingest") / "data",
        env={"TBLOCAL_MAX_BODY_BYTES": str(1024 * 1024)},
    ).start()
    yield Client(server.url, server.admin_token)
    server.stop()


def count(api, user):
    return api.rows(f"SELECT count() AS n FROM clicks WHERE user = '{user}'")[0]["n"]


def test_wait_true_answers_exact_counts_and_rows_are_queryable(api):
    rows = [click(i, user="w1", value=i) for i in range(100)]
    r = api.events(rows)
    assert (r.status_code, r.json()) == (200, {"successful_rows": 100, "quarantined_rows": 0})
    assert r.headers["content-type"] == "application/json"
    assert api.rows("SELECT count() AS n, sum(value) AS s FROM clicks WHERE user = 'w1'") == [{"n": 100, "s": 4950}]
    assert api.rows("SELECT clicks, total_value FROM clicks_daily_mv FINAL WHERE user = 'w1'") == [{"clicks": 100, "total_value": 4950}]


def test_defaults_apply_to_absent_optional_columns(api):
    api.events([{"id": "d1", "user": "defaults", "ts": "2024-03-04T05:06:07Z"}])
    assert api.rows("SELECT id, user, kind, ts, value, tags FROM clicks WHERE user = 'defaults'") == [
        {"id": "d1", "user": "defaults", "kind": "click", "ts": "2024-03-04 05:06:07", "value": 0, "tags": "{}"}
    ]


def test_gzip_body(api):
    body = gzip.compress(ndjson([click(i, user="gz") for i in range(50)]))
    r = api.post("/v0/events", body, headers={"Content-Encoding": "gzip"}, name="clicks", wait="true")
    assert (r.status_code, r.json()) == (200, {"successful_rows": 50, "quarantined_rows": 0})
    assert count(api, "gz") == 50


def test_wait_false_is_202_and_its_rows_land(api):
    # How soon they land is a figure for make bench; here a deadline only stops a hang.
    r = api.events([click(i, user="async") for i in range(20)], wait=False)
    assert (r.status_code, r.json()) == (202, {"successful_rows": 20, "quarantined_rows": 0})
    wait_until(lambda: count(api, "async") == 20, HANG_S, "wait=false rows to land")


def test_bad_rows_are_quarantined_with_reasons_and_good_rows_land(api):
    body = [
        click(1, user="q1"),
        {"id": "bad-ts", "user": "q1", "ts": "yesterday"},
        {"id": "no-ts", "user": "q1"},
        {"id": "neg", "user": "q1", "ts": "2024-01-01 00:00:00", "value": -5},
        {"id": "text", "user": "q1", "ts": "2024-01-01 00:00:00", "value": "abc"},
        "[1, 2]",
        "not json",
        click(2, user="q1"),
    ]
    r = api.events(body)
    assert (r.status_code, r.json()) == (200, {"successful_rows": 2, "quarantined_rows": 6})
    assert api.rows("SELECT id FROM clicks WHERE user = 'q1' ORDER BY id") == [{"id": "c1"}, {"id": "c2"}]
    got = api.rows(
        "SELECT id, ts, value, c__error_column, c__error FROM clicks_quarantine "
        "WHERE user = 'q1' OR user IS NULL ORDER BY ifNull(id, '~'), c__error"
    )
    reasons = {row["id"]: (row["c__error_column"], row["c__error"]) for row in got if row["id"]}
    assert sorted(reasons) == ["bad-ts", "neg", "no-ts", "text"]
    assert reasons["neg"] == (["value"], ["Value -5 of column value is out of range for UInt32"])
    assert reasons["no-ts"] == (["ts"], ["Column 'ts' is required and missing or null"])
    assert reasons["bad-ts"][0] == ["ts"] and "DateTime" in reasons["bad-ts"][1][0]
    assert reasons["text"][0] == ["value"]
    not_objects = sorted(row["c__error"][0] for row in got if row["id"] is None)
    assert not_objects == ["the line is not a JSON object: [1, 2]", "the line is not a JSON object: not json"]
    import_ids = api.rows("SELECT DISTINCT c__import_id FROM clicks_quarantine WHERE user = 'q1'")
    assert len(import_ids) == 1 and len(import_ids[0]["c__import_id"]) == 36


def test_quarantine_has_tinybirds_columns(api):
    meta = api.sql("SELECT * FROM clicks_quarantine LIMIT 0 FORMAT JSON").json()["meta"]
    assert meta == [
        {"name": "id", "type": "Nullable(String)"},
        {"name": "user", "type": "Nullable(String)"},
        {"name": "kind", "type": "Nullable(String)"},
        {"name": "ts", "type": "Nullable(String)"},
        {"name": "value", "type": "Nullable(String)"},
        {"name": "tags", "type": "Nullable(String)"},
        {"name": "c__error_column", "type": "Array(String)"},
        {"name": "c__error", "type": "Array(String)"},
        {"name": "c__import_id", "type": "Nullable(String)"},
        {"name": "insertion_date", "type": "DateTime"},
    ]


def test_append_token_can_write_but_not_read(api):
    append = api.tokens()["clicks_append"]
    r = api.events([click(1, user="tok")], token=append)
    assert (r.status_code, r.json()) == (200, {"successful_rows": 1, "quarantined_rows": 0})
    r = api.sql("SELECT count() FROM clicks", token=append)
    assert r.status_code == 403 and set(r.json()) == {"error", "documentation"}
    r = api.get("/v0/pipes/top_users.json", token=append)
    assert r.status_code == 403


def test_bulk_append_ndjson(api):
    r = api.post("/v0/datasources", ndjson([click(i, user="bulk_nd") for i in range(30)] + ['{"id": "x"}']),
                 headers={"Content-Type": "application/x-ndjson"}, name="clicks", mode="append")
    assert r.status_code == 200
    body = r.json()
    job = api.get(f"/v0/jobs/{body['id']}").json()  # the answer is the import job and the counts the SDKs read
    assert body == {**job, "successful_rows": 30, "quarantined_rows": 1, "quarantine_rows": 1, "invalid_lines": 0, "error": False}
    assert len(job["id"]) == 36 and job["id"] == job["job_id"] == job["import_id"]
    assert (job["status"], job["datasource"]["name"]) == ("done", "clicks")
    assert job["blocks"] == [{"process_return": [{"lines": 30, "quarantine": 1, "bytes": len(r.request.body)}], "processing_time": 0}]
    assert count(api, "bulk_nd") == 30


def test_bulk_append_csv_with_and_without_header(api):
    with_header = b"id,user,kind,ts,value,tags\nk1,bulk_csv,tap,2024-01-01 00:00:00,7,{}\nk2,bulk_csv,click,2024-01-02 00:00:00,8,{}\n"
    r = api.post("/v0/datasources", with_header, headers={"Content-Type": "text/csv"}, name="clicks", mode="append")
    assert (r.status_code, r.json()["successful_rows"], r.json()["quarantined_rows"]) == (200, 2, 0)
    r = api.post("/v0/datasources", b'k3,bulk_csv,click,2024-01-03 00:00:00,9,"{}"\nk4,bulk_csv,click,not a date,1,{}\n',
                 name="clicks", mode="append", format="csv")
    assert (r.status_code, r.json()["successful_rows"], r.json()["quarantined_rows"]) == (200, 1, 1)
    assert api.rows("SELECT id, kind, value FROM clicks WHERE user = 'bulk_csv' ORDER BY id") == [
        {"id": "k1", "kind": "tap", "value": 7}, {"id": "k2", "kind": "click", "value": 8}, {"id": "k3", "kind": "click", "value": 9}
    ]


@pytest.mark.parametrize(
    "params, body, headers, status, error",
    [
        ({}, b'{"a": 1}', {}, 400, "The 'name' parameter is required"),
        ({"name": "clicks"}, b"  \n", {}, 400, "The body is empty: send one JSON object per line"),
        ({"name": "nope"}, b'{"a": 1}', {}, 404, "Data Source 'nope' not found"),
        ({"name": "clicks"}, b"x" * (1024 * 1024 + 1), {}, 413, "The body is larger than the 1 MB limit"),
        ({"name": "clicks"}, gzip.compress(b"\n" * (3 * 1024 * 1024)), {"Content-Encoding": "gzip"}, 413,
         "The decompressed body is larger than the 1 MB limit"),
        ({"name": "clicks"}, b"abc", {"Content-Encoding": "gzip"}, 400, None),
        ({"name": "clicks"}, b"abc", {"Content-Encoding": "br"}, 400, "Unsupported Content-Encoding 'br': use gzip or none"),
    ],
)
def test_events_errors(api, params, body, headers, status, error):
    r = api.post("/v0/events", body, headers=headers, wait="true", **params)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    got = r.json()
    assert set(got) == {"error", "documentation"}
    if error:
        assert got["error"] == error


@pytest.mark.parametrize("token, error", [(None, "Authentication is required"), ("p.wrong", "Invalid token")])
def test_events_without_a_valid_token_is_403(api, token, error):
    import requests

    params = {"name": "clicks"} if token is None else {"name": "clicks", "token": token}
    r = requests.post(api.url + "/v0/events", params=params, data=b'{"id": "1"}', timeout=10)
    assert r.status_code == 403 and r.json()["error"].startswith(error)


def test_read_token_cannot_append(api):
    r = api.events([click(1, user="nope")], token=api.tokens()["top_users_read"])
    assert (r.status_code, r.json()["error"]) == (403, "The token you have provided doesn't have access to append to 'clicks'")
    assert count(api, "nope") == 0


def test_many_refused_rows_cost_one_parse_and_keep_every_good_row(api):
    """200 rows of which 100 do not convert: all 100 good rows land, all 100 bad ones are quarantined,
    the first 64 with ClickHouse's exact reason and the rest with the generic one."""
    rows = [click(i, user="mixed", value=i if i % 2 else "abc") for i in range(200)]
    r = api.events(rows)
    assert (r.status_code, r.json()) == (200, {"successful_rows": 100, "quarantined_rows": 100})
    assert count(api, "mixed") == 100
    reasons = api.rows(
        "SELECT startsWith(c__error[1], 'ClickHouse could not convert') AS generic, count() AS n "
        "FROM clicks_quarantine WHERE user = 'mixed' GROUP BY generic ORDER BY generic"
    )
    assert reasons == [{"generic": 0, "n": 64}, {"generic": 1, "n": 36}]
