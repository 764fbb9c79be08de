"""Conformance: small Forward projects written from Tinybird's datafile reference (conformance/<feature>),
each built with the real `tb --local build` into its own workspace of one shared tblocal, fed a few rows
and queried. Expected values follow ClickHouse's and Tinybird's documented semantics.
"""

import re
import shutil
import time
from pathlib import Path

import pytest

from helpers import Client, build_workspace, ndjson, tb
from tblocal.launcher import ROOT, ServerProcess
from tblocal.project import load_project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PROJECTS = ROOT / "conformance"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One tblocal for every project (each builds into a workspace of its own); idle compaction after 1 s."""
    empty = tmp_path_factory.mktemp("empty-project")
    server = ServerProcess(empty, tmp_path_factory.mktemp("conformance") / "data", env={"TBLOCAL_COMPACT_AFTER": "1"}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def build(server, tmp_path_factory):
    """build(feature) -> (project folder, Client with the workspace's admin token), built once per feature."""
    done: dict[str, tuple[Path, Client]] = {}

    def build_feature(feature: str) -> tuple[Path, Client]:
        if feature not in done:
            folder = tmp_path_factory.mktemp("conformance") / feature
            shutil.copytree(PROJECTS / feature, folder)
            tb(server, folder, "build")
            done[feature] = folder, Client(server.url, build_workspace(server, folder)["token"])
        return done[feature]

    return build_feature


def send(client: Client, datasource: str, rows: list) -> None:
    """Write rows to datasource through the Events API, waiting until they are written."""
    r = client.post("/v0/events", ndjson(rows), name=datasource, wait="true")
    assert r.status_code == 200 and r.json() == {"successful_rows": len(rows), "quarantined_rows": 0}, r.text


def endpoint(client: Client, pipe: str, **params) -> list[dict]:
    r = client.get(f"/v0/pipes/{pipe}.json", **params)
    assert r.status_code == 200, r.text
    return r.json()["data"]


# ---------------------------------------------------------------- data sources

def test_nested_jsonpaths_arrays_defaults_and_nullable(build):
    _, client = build("nested_jsonpaths")
    send(client, "orders", [
        {"id": "o1", "customer": {"id": 7, "vip": 1, "address": {"country": "ES"}},
         "payment": {"method": "card", "coupon": "WELCOME"}, "tags": ["gift", "express"],
         "items": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}],
         "meta": {"created_at": "2024-05-01 10:00:00.123", "attrs": {"channel": "web"}, "point": [40.4, -3.7],
                  "labels": {"team": "growth", "campaign": {"name": "spring"}}}},
        {"id": "o2", "customer": {"id": 8, "address": {"country": "ES"}}, "payment": {"method": "cash"},
         "tags": [], "items": [], "meta": {"created_at": "2024-05-02 11:00:00.000", "attrs": {}, "point": [0, 0]}},
    ])
    rows = endpoint(client, "orders_by_country", country="ES")
    assert rows == [
        {"order_id": "o1", "customer_id": 7, "country": "ES", "vip": 1, "coupon": "WELCOME",
         "payment": '{"method": "card", "coupon": "WELCOME"}', "tags": ["gift", "express"], "skus": ["A", "B"],
         "quantities": [2, 1], "created_at": "2024-05-01 10:00:00.123", "attrs": {"channel": "web"}, "point": [40.4, -3.7],
         "labels": {"team": "growth", "campaign": {"name": "spring"}}},
        # vip is missing: its DEFAULT; coupon is missing: NULL (Nullable); empty arrays stay empty
        {"order_id": "o2", "customer_id": 8, "country": "ES", "vip": 0, "coupon": None,
         "payment": '{"method": "cash"}', "tags": [], "skus": [], "quantities": [],
         "created_at": "2024-05-02 11:00:00.000", "attrs": {}, "point": [0, 0], "labels": {}},
    ]


def test_a_row_missing_required_nested_values_is_quarantined_naming_them(build):
    _, client = build("nested_jsonpaths")
    r = client.post("/v0/events", ndjson([{"id": "o3", "customer": {"address": {"country": "FR"}}, "meta": {}}]),
                    name="orders", wait="true")
    assert r.json() == {"successful_rows": 0, "quarantined_rows": 1}
    assert client.rows("SELECT order_id, c__error_column FROM orders_quarantine") == [
        {"order_id": "o3", "c__error_column": ["customer_id", "payment", "created_at"]}]


def test_replacing_merge_tree_keeps_the_highest_version(build):
    _, client = build("engines")
    send(client, "replacing", [{"id": 1, "state": "new", "updated_at": "2024-01-01 00:00:00"},
                               {"id": 1, "state": "paid", "updated_at": "2024-01-02 00:00:00"},
                               {"id": 2, "state": "new", "updated_at": "2024-01-01 00:00:00"}])
    send(client, "replacing", [{"id": 1, "state": "stale", "updated_at": "2023-12-31 00:00:00"},
                               {"id": 3, "state": "new", "updated_at": "2024-01-01 00:00:00"},
                               {"id": 3, "state": "gone", "updated_at": "2024-01-02 00:00:00", "deleted": 1}])
    assert client.rows("SELECT id, state FROM replacing FINAL ORDER BY id") == [{"id": 1, "state": "paid"}, {"id": 2, "state": "new"}]


def test_summing_merge_tree_adds_up_rows_with_the_same_key(build):
    _, client = build("engines")
    send(client, "summing", [{"key": "a", "hits": 1, "amount": 1.5}, {"key": "b", "hits": 5, "amount": 1}])
    send(client, "summing", [{"key": "a", "hits": 2, "amount": 2.5}])
    assert client.rows("SELECT key, hits, amount FROM summing FINAL ORDER BY key") == [
        {"key": "a", "hits": 3, "amount": 4}, {"key": "b", "hits": 5, "amount": 1}]


def test_aggregating_merge_tree_merges_states_from_a_view(build):
    _, client = build("engines")
    send(client, "payments", [{"user": "u1", "amount": 10}, {"user": "u2", "amount": 1}])
    send(client, "payments", [{"user": "u1", "amount": 30}])
    assert client.rows("SELECT user, countMerge(payments) AS n, sumMerge(total) AS total, max(largest) AS largest "
                       "FROM payments_per_user GROUP BY user ORDER BY user") == [
        {"user": "u1", "n": 2, "total": 40, "largest": 30}, {"user": "u2", "n": 1, "total": 1, "largest": 1}]


def test_collapsing_merge_tree_cancels_opposite_signs(build):
    _, client = build("engines")
    send(client, "collapsing", [{"page": "/a", "views": 5, "sign": 1}, {"page": "/b", "views": 1, "sign": 1}])
    send(client, "collapsing", [{"page": "/a", "views": 5, "sign": -1}, {"page": "/a", "views": 6, "sign": 1}])
    assert client.rows("SELECT page, views FROM collapsing FINAL ORDER BY page") == [{"page": "/a", "views": 6}, {"page": "/b", "views": 1}]
    assert client.rows("SELECT page, sum(views * sign) AS views FROM collapsing GROUP BY page HAVING sum(sign) > 0 ORDER BY page") == [
        {"page": "/a", "views": 6}, {"page": "/b", "views": 1}]


def test_versioned_collapsing_merge_tree_cancels_rows_of_one_version(build):
    _, client = build("engines")
    send(client, "versioned", [{"page": "/a", "views": 6, "sign": 1, "version": 2}])
    send(client, "versioned", [{"page": "/a", "views": 5, "sign": 1, "version": 1}, {"page": "/a", "views": 5, "sign": -1, "version": 1}])
    assert client.rows("SELECT page, views, version FROM versioned FINAL") == [{"page": "/a", "views": 6, "version": 2}]


def test_a_null_data_source_stores_nothing_but_feeds_its_views(build):
    _, client = build("engines")
    send(client, "clicks_null", [{"page": "/a"}, {"page": "/a"}, {"page": "/b"}])
    assert client.rows("SELECT count() AS n FROM clicks_null") == [{"n": 0}]
    assert client.rows("SELECT page, sum(clicks) AS clicks FROM clicks_per_page GROUP BY page ORDER BY page") == [
        {"page": "/a", "clicks": 2}, {"page": "/b", "clicks": 1}]


def test_ttl_removes_expired_rows(build):
    _, client = build("ttl")
    fresh = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    send(client, "sessions", [{"session_id": "old", "started_at": "2000-01-01 00:00:00"}, {"session_id": "new", "started_at": fresh}])
    deadline = time.monotonic() + 30  # ClickHouse drops expired rows when it merges; tblocal merges once idle
    while time.monotonic() < deadline and len(client.rows("SELECT session_id FROM sessions")) > 1:
        time.sleep(0.5)
    assert client.rows("SELECT session_id FROM sessions") == [{"session_id": "new"}]


def test_indexes_are_created_and_used(build):
    _, client = build("indexes")
    send(client, "purchases", [{"ts": f"2024-01-01 00:00:0{i}", "user_id": f"u{i % 3}", "amount": i * 10} for i in range(9)])
    assert [r["amount"] for r in endpoint(client, "purchases_of_user", user_id="u1")] == [10, 40, 70]
    assert client.rows("SELECT count() AS n FROM purchases WHERE amount > 65") == [{"n": 2}]


def test_an_index_on_an_unknown_column_fails_the_build_naming_the_file(build, server, tmp_path):
    folder, _ = build("indexes")
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    path = broken / "datasources" / "purchases.datasource"
    path.write_text(path.read_text().replace("idx_amount amount TYPE", "idx_amount price TYPE"))
    done = tb(server, broken, "build", ok=False)
    assert done.returncode == 1 and "purchases.datasource" in done.stdout and "price" in done.stdout, done.stdout


# ---------------------------------------------------------------- pipes

def test_a_view_matches_its_target_by_column_name(build):
    _, client = build("view_by_name")
    send(client, "requests", [{"ts": "2024-01-01 10:00:00", "path": "/", "status_code": 200},
                              {"ts": "2024-01-01 11:00:00", "path": "/", "status_code": 200},
                              {"ts": "2024-01-02 10:00:00", "path": "/x", "status_code": 404}])
    assert endpoint(client, "status_per_day") == [
        {"day": "2024-01-01", "path": "/", "status_code": 200, "requests": 2},
        {"day": "2024-01-02", "path": "/x", "status_code": 404, "requests": 1}]


def test_a_changed_view_is_backfilled_by_name_on_build_and_deploy(build, server):
    folder, client = build("view_by_name")
    send(client, "requests", [{"ts": "2024-02-01 10:00:00", "path": "/b", "status_code": 500}])
    before = endpoint(client, "status_per_day")
    pipe = folder / "materializations" / "materialize_status_daily.pipe"
    pipe.write_text(pipe.read_text().replace("SELECT toDate(ts) AS day, countState() AS requests, path, status_code",
                                             "SELECT status_code, path, countState() AS requests, toDate(ts) AS day"))
    assert "SELECT status_code, path" in pipe.read_text()
    tb(server, folder, "build")
    assert endpoint(client, "status_per_day") == before  # refilled from requests, every column in its place
    pipe.write_text(pipe.read_text().replace("SELECT status_code, path, countState() AS requests, toDate(ts) AS day",
                                             "SELECT path, toDate(ts) AS day, status_code, countState() AS requests"))
    tb(server, folder, "deploy")
    assert "SELECT path, toDate(ts) AS day" in client.get("/v1/pipes/materialize_status_daily.pipe").text  # deployed here
    assert endpoint(client, "status_per_day") == before  # and on deploy


def copy_run(server, folder: Path, pipe: str, *args: str):
    done = tb(server, folder, "copy", "run", pipe, "--wait", *args)
    assert "✓ Data copied to" in done.stdout, done.stdout
    return done


def test_copy_append_adds_rows_on_every_run(build, server):
    folder, client = build("copies")
    send(client, "sales", [{"ts": "2024-01-01 00:00:00", "user": "u1", "amount": 5},
                           {"ts": "2024-01-01 00:00:01", "user": "u1", "amount": 7},
                           {"ts": "2024-01-01 00:00:02", "user": "u2", "amount": 100}])
    copy_run(server, folder, "totals_append")
    copy_run(server, folder, "totals_append")
    assert client.rows("SELECT user, total, sales, count() AS copies FROM totals_history GROUP BY user, total, sales ORDER BY user") == [
        {"user": "u1", "total": 12, "sales": 2, "copies": 2}, {"user": "u2", "total": 100, "sales": 1, "copies": 2}]


def test_copy_replace_keeps_only_the_last_run(build, server):
    folder, client = build("copies")
    copy_run(server, folder, "totals_replace")
    send(client, "sales", [{"ts": "2024-01-02 00:00:00", "user": "u3", "amount": 1}])
    copy_run(server, folder, "totals_replace")
    rows = client.rows("SELECT user, total, sales FROM totals_latest ORDER BY user")
    assert [r["user"] for r in rows] == ["u1", "u2", "u3"] and rows[2] == {"user": "u3", "total": 1, "sales": 1}


def test_a_parameterised_copy_uses_its_parameters_and_defaults(build, server):
    folder, client = build("copies")
    copy_run(server, folder, "spenders_over", "--param", "min_total=50")
    assert client.rows("SELECT user, total, threshold FROM big_spenders") == [{"user": "u2", "total": 100, "threshold": 50}]
    copy_run(server, folder, "spenders_over")  # min_total's default, 10
    assert client.rows("SELECT user, threshold FROM big_spenders WHERE threshold = 10 ORDER BY user") == [
        {"user": "u1", "threshold": 10}, {"user": "u2", "threshold": 10}]


def test_copy_ls_pause_and_resume(build, server):
    folder, _ = build("copies")
    listed = tb(server, folder, "copy", "ls").stdout
    assert all(name in listed for name in ("totals_append", "totals_replace", "spenders_over"))
    assert "Copy pipe totals_replace paused" in tb(server, folder, "copy", "pause", "totals_replace").stdout.replace("'", "")
    assert "resumed" in tb(server, folder, "copy", "resume", "totals_replace").stdout


def test_a_failing_copy_writes_nothing_and_its_job_says_why(build, server):
    folder, client = build("copies")
    before = client.rows("SELECT count() AS n FROM big_spenders")
    done = tb(server, folder, "copy", "run", "spenders_over", "--wait", "--param", "min_total=not-a-number", ok=False)
    assert done.returncode == 1 and "Invalid value for parameter 'min_total'" in done.stdout + done.stderr
    assert client.rows("SELECT count() AS n FROM big_spenders") == before


def test_the_forward_project_of_the_issue(build, server):
    """Nested JSONPaths, a view selecting in another order than its target, an on-demand copy (`tb create` layout)."""
    folder, client = build("forward_project")
    tracker = client.tokens()["tracker"]
    rows = [{"timestamp": "2024-03-01 10:00:00", "session": {"id": "s1"}, "page": {"path": "/", "referrer": "google"}, "geo": {"country": "ES"}},
            {"timestamp": "2024-03-01 10:01:00", "session": {"id": "s1"}, "page": {"path": "/pricing"}},
            {"timestamp": "2024-03-02 09:00:00", "session": {"id": "s2"}, "page": {"path": "/"}, "geo": {"country": "FR"}}]
    r = client.post("/v0/events", ndjson(rows), token=tracker, name="pageviews", wait="true")
    assert r.json() == {"successful_rows": 3, "quarantined_rows": 0}
    assert client.rows("SELECT pathname, referrer, country FROM pageviews ORDER BY timestamp") == [
        {"pathname": "/", "referrer": "google", "country": "ES"}, {"pathname": "/pricing", "referrer": None, "country": "unknown"},
        {"pathname": "/", "referrer": None, "country": "FR"}]
    assert endpoint(client, "top_pages", token=client.tokens()["dashboard"]) == [
        {"pathname": "/", "views": 2, "visits": 2}, {"pathname": "/pricing", "views": 1, "visits": 1}]
    assert "snapshot_pages" in tb(server, folder, "copy", "ls").stdout
    copy_run(server, folder, "snapshot_pages")
    assert client.rows("SELECT pathname, views FROM pages_snapshot ORDER BY pathname") == [
        {"pathname": "/", "views": 2}, {"pathname": "/pricing", "views": 1}]


def test_template_functions(build):
    _, client = build("templates")
    send(client, "events", [{"ts": "2024-01-01 00:00:00", "user": "a", "kind": "view", "amount": 1},
                            {"ts": "2024-01-02 00:00:00", "user": "a", "kind": "buy", "amount": 10},
                            {"ts": "2024-01-03 00:00:00", "user": "b", "kind": "buy", "amount": 5}])
    assert endpoint(client, "events_by") == [{"user": "a", "events": 2, "total": 11}, {"user": "b", "events": 1, "total": 5}]
    assert endpoint(client, "events_by", group_by="kind", order_by="kind", kinds="buy,view") == [
        {"kind": "buy", "events": 2, "total": 15}, {"kind": "view", "events": 1, "total": 1}]
    assert endpoint(client, "events_by", since="2024-01-02 00:00:00", min_amount="6") == [{"user": "a", "events": 1, "total": 10}]
    assert endpoint(client, "events_by", users="b", group_by="user,kind") == [{"user": "b", "kind": "buy", "events": 1, "total": 5}]
    r = client.get("/v0/pipes/events_by.json", since="yesterday")
    assert r.status_code == 400 and "since" in r.json()["error"]


# ---------------------------------------------------------------- projects with their own `tb test run`

OWN_TESTS = sorted(p.parent.name for p in PROJECTS.glob("*/tests"))


@pytest.mark.parametrize("feature", OWN_TESTS)
def test_a_projects_own_tests_pass_and_cover_every_endpoint(build, server, feature):
    """The project's tests/<endpoint>.yaml (one per endpoint), run by the real `tb --local test run`."""
    folder, _ = build(feature)
    files = {p.stem for p in (folder / "tests").glob("*.yaml")}
    assert files == set(load_project(folder).endpoints)
    done = tb(server, folder, "test", "run")
    passed = re.search(r"✓ (\d+)/(\d+) passed", done.stdout)
    assert passed and passed.groups() == (str(len(files)),) * 2, done.stdout


def test_a_copy_with_a_required_watermark_builds_and_runs_with_it(build, server):
    folder, client = build("shared_pipes")
    done = tb(server, folder, "copy", "run", "exposures_daily_copy", "--wait", ok=False)
    assert done.returncode == 1 and "copy_watermark_ts is required" in done.stdout + done.stderr
    copy_run(server, folder, "exposures_daily_copy", "--param", "copy_watermark_ts=2024-01-03 00:00:00")
    assert endpoint(client, "variant_users_daily") == [  # u3 and u4 were first exposed from then on
        {"day": "2024-01-03", "variant": "A", "users": 1}, {"day": "2024-01-04", "variant": "B", "users": 1}]


def test_json_columns_take_events_and_quarantine_what_is_not_an_object(build):
    _, client = build("json_columns")
    send(client, "events", [{"tinybirdIngestTime": "2024-05-02 08:00:00.000", "data": {"type": "view", "user_id": 9, "client_id": 1}}])
    assert {"user_id": "9", "client_id": "1", "event_type": "view", "events": 1} in endpoint(client, "events_by_user")
    r = client.post("/v0/events", ndjson([{"received_at": "2024-05-02 08:00:00", "data": "refunded"},
                                          {"received_at": "2024-05-02 08:01:00", "data": {"provider": "adyen", "amount": 3}}]),
                    name="payments", wait="true")
    assert r.json() == {"successful_rows": 1, "quarantined_rows": 1}, r.text
    assert client.rows("SELECT c__error_column, c__error FROM payments_quarantine") == [
        {"c__error_column": ["data"], "c__error": ["Value refunded of column data is not a JSON object"]}]
    assert {"provider": "adyen", "payments": 1, "amount": 3} in endpoint(client, "payments_by_provider")
