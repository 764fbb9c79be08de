"""Every route the SDKs call, sent as their request code sends it (tinybird_sdk/api/*.py, @tinybirdco/sdk
dist/api/*.js, the earlier SDK's tb/api.py), in-process; appends and replaces from a URL served from loopback."""

import gzip
import http.server
import io
import threading
from urllib.parse import urlencode

import pytest
import requests
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from helpers import click, ndjson, serving
from tblocal.api.middleware import RetryHeaders
from tblocal.launcher import ROOT, ServerProcess

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def tokens(local):
    return local.get("/tokens").json()


@pytest.fixture(scope="module")
def admin(tokens):
    return tokens["workspace_admin_token"]


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def count(local, admin, where: str) -> int:
    r = local.post("/v0/sql", content=f"SELECT count() AS n FROM clicks WHERE {where}", headers={**auth(admin), "Content-Type": "text/plain"})
    return r.json()["data"][0]["n"]


def test_create_local_workspace_with_a_form_body(local, tokens):
    """api/local.py create_local_workspace and local.js: POST /v1/workspaces, form name and assign_to_organization_id."""
    listed = local.get("/v1/user/workspaces", params={"with_organization": "true", "token": tokens["admin_token"]}).json()
    body = urlencode({"name": "sdk_branch", "assign_to_organization_id": listed["organization_id"]})
    r = local.post("/v1/workspaces", content=body, headers={**auth(tokens["user_token"]), **FORM})
    assert (r.status_code, r.json()["name"]) == (200, "sdk_branch")
    r = local.delete(f"/v1/workspaces/{r.json()['id']}", params={"hard_delete_confirmation": "yes"}, headers=auth(tokens["user_token"]))
    assert (r.status_code, r.json()["name"], r.json()["deleted"]) == (200, "sdk_branch", True)


@pytest.mark.parametrize("fmt", ["ndjson", "csv", "parquet"])
def test_append_a_file_in_a_multipart_field_named_csv(local, admin, fmt):
    """api.py append_datasource: multipart field "csv" whatever the file, format=<the file's extension> in the query."""
    user = f"multipart_{fmt}"
    rows = [click(i, user=user) for i in range(5)]
    data = {"ndjson": ndjson(rows), "csv": "".join(f"{r['id']},{user},click,{r['ts']},1,{{}}\n" for r in rows).encode(),
            "parquet": local.post("/v0/sql", params={"token": admin},
                                  data={"q": f"SELECT * FROM clicks WHERE 0 UNION ALL SELECT 'p' || toString(number), '{user}', "
                                             f"'click', toDateTime('2024-01-01 00:00:00'), 1, '{{}}' FROM numbers(5) FORMAT Parquet"}).content}[fmt]
    query = {"name": "clicks", "mode": "append", "format": fmt}
    r = local.post("/v0/datasources", params=query, files={"csv": (f"events.{fmt}", io.BytesIO(data))}, headers=auth(admin))
    assert (r.status_code, r.json()["successful_rows"], r.json()["quarantined_rows"], r.json()["error"]) == (200, 5, 0, False)
    assert count(local, admin, f"user = '{user}'") == 5


def test_append_then_replace_from_a_url(local, admin):
    """api.py / api.js appendDatasource({url}): form body url=, format from the URL's extension, mode=append|replace."""
    first = ndjson([click(i, user="from_url", ts="2023-05-01 00:00:00") for i in range(4)])
    second = ndjson([click(i, user="from_url", ts="2023-05-01 00:00:00") for i in range(2)])
    with serving({"first.ndjson": first, "second.ndjson": second}) as base:
        for mode, name, expected in (("append", "first", 4), ("replace", "second", 2)):
            query = {"name": "clicks", "mode": mode, "format": "ndjson"}
            if mode == "replace":
                query["replace_condition"] = "user = 'from_url'"
            r = local.post("/v0/datasources", params=query, content=urlencode({"url": f"{base}/{name}.ndjson"}),
                           headers={**auth(admin), **FORM})
            assert r.status_code == 200, r.text
            assert (r.json()["successful_rows"], r.json()["quarantined_rows"], r.json()["kind"]) == (expected, 0, "import")
            assert count(local, admin, "user = 'from_url'") == expected


def test_a_url_in_the_query_string_and_a_gzip_csv(local, admin):
    """url= may travel in the query string too (the Data Sources API takes it either way); a .csv.gz is read unzipped."""
    csv = "".join(f"q{i},query_url,click,2023-06-01 00:00:00,1,{{}}\n" for i in range(3)).encode()
    with serving({"rows.csv.gz": gzip.compress(csv)}) as base:
        r = local.post("/v1/datasources/clicks/append", params={"url": f"{base}/rows.csv.gz"}, headers=auth(admin))
        assert (r.status_code, r.json()["statistics"]["row_count"], r.json()["statistics"]["quarantine_rows"]) == (200, 3, 0)
    assert count(local, admin, "user = 'query_url'") == 3


def test_a_url_that_cannot_be_fetched_is_400_and_writes_nothing(local, admin):
    with serving({"big.csv": b"x,y\n" * 3000}) as base:
        before = count(local, admin, "1")
        answers = []
        for url in (f"{base}/missing.ndjson", "ftp://127.0.0.1/x.csv", "http://127.0.0.1:1/x.csv"):
            r = local.post("/v0/datasources", params={"name": "clicks", "mode": "append"}, content=urlencode({"url": url}),
                           headers={**auth(admin), **FORM})
            answers.append((r.status_code, r.json()["error"]))
        assert answers == [
            (400, f"The file at '{base}/missing.ndjson' could not be downloaded: HTTP 404"),
            (400, "The url must be an http:// or https:// URL: 'ftp://127.0.0.1/x.csv'"),
            (400, "The file at 'http://127.0.0.1:1/x.csv' could not be downloaded: ConnectionError"),
        ]
        assert count(local, admin, "1") == before


@pytest.mark.e2e
def test_a_url_too_large_or_too_slow_is_refused_and_writes_nothing(tmp_path):
    """A real server that takes 1,000 bytes in 1 s: a larger file is a 413, a server that never answers a 400."""
    release = threading.Event()

    class Hang(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            release.wait(60)  # answers nothing until the test is over

        def log_message(self, *args):
            pass

    hang = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hang)
    threading.Thread(target=hang.serve_forever, daemon=True).start()
    env = {"TBLOCAL_MAX_APPEND_BYTES": "1000", "TBLOCAL_URL_TIMEOUT": "1"}
    try:
        with serving({"big.csv": b"x,y\n" * 300}) as base, ServerProcess(ROOT / "tests" / "project", tmp_path / "data", env=env) as server:
            slow = f"http://127.0.0.1:{hang.server_address[1]}/slow.csv"
            answers = [requests.post(server.url + "/v0/datasources", params={"name": "clicks", "mode": mode}, data={"url": url},
                                     headers=auth(server.admin_token), timeout=60)
                       for mode, url in (("append", f"{base}/big.csv"), ("replace", slow))]
            assert [(r.status_code, r.json()["error"]) for r in answers] == [
                (413, f"The file at '{base}/big.csv' is larger than the 1,000 bytes an append takes (TBLOCAL_MAX_APPEND_BYTES)"),
                (400, f"The file at '{slow}' could not be downloaded: ReadTimeout"),
            ]
            r = requests.get(server.url + "/v0/datasources/clicks", headers=auth(server.admin_token), timeout=30)
            assert r.json()["statistics"]["row_count"] == 0
    finally:
        release.set()
        hang.shutdown()
        hang.server_close()


def test_query_arrays_as_repeated_parameters(local, admin):
    """api.py query / api.js query send a list as repeated keys: ?users=a&users=b."""
    rows = ndjson([click(i, user=u) for i, u in enumerate(["arr_a", "arr_b", "arr_c"])])
    assert local.post("/v0/events", params={"name": "clicks", "wait": "true"}, content=rows,
                      headers={**auth(admin), "Content-Type": "application/x-ndjson"}).json() == {"successful_rows": 3, "quarantined_rows": 0}
    r = local.get("/v0/pipes/user_clicks.json", params=[("users", "arr_a"), ("users", "arr_c")], headers=auth(admin))
    assert sorted(row["user"] for row in r.json()["data"]) == ["arr_a", "arr_c"]


def test_delete_with_a_form_body_and_the_token_in_it(local, admin):
    """api.py delete_datasource: form delete_condition and dry_run; a token may come in the form too."""
    body = urlencode({"delete_condition": "user = 'nobody_at_all'", "dry_run": "true", "token": admin})
    r = local.post("/v0/datasources/clicks/delete", content=body, headers=FORM)
    assert (r.status_code, r.json()) == (200, {"rows_to_be_deleted": 0})


def test_sql_as_text_plain(local, admin):
    """api.py sql / api.js sql: POST /v0/sql, Content-Type text/plain, the query as the body."""
    r = local.post("/v0/sql", content="SELECT 1 AS one", headers={**auth(admin), "Content-Type": "text/plain"})
    assert (r.status_code, r.json()["data"]) == (200, [{"one": 1}])


@pytest.mark.parametrize("status", [429, 503])
def test_every_429_and_503_says_when_to_retry(status):
    """Both SDKs' retries read Retry-After, else X-RateLimit-Reset; the earlier SDK waits on a 429 only when
    X-Ratelimit-Remaining is 0. Headers a refusal sets itself (a JWT's limits.rps) are kept."""
    routes = [Route("/refused", lambda request: Response(status_code=status)),
              Route("/limited", lambda request: Response(status_code=status, headers={"X-RateLimit-Limit": "5"})),
              Route("/ok", lambda request: Response())]
    client = TestClient(RetryHeaders(Starlette(routes=routes)))
    retry = {"retry-after": "1", "x-ratelimit-limit": "1", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}
    assert {k: v for k, v in client.get("/refused").headers.items() if k in retry} == retry
    assert {k: v for k, v in client.get("/limited").headers.items() if k in retry} == {**retry, "x-ratelimit-limit": "5"}
    assert not set(client.get("/ok").headers) & set(retry)


@pytest.mark.e2e
def test_a_full_ingest_queue_is_a_429_the_sdks_retry_after(tmp_path):
    """A real server whose ingest queue holds 1 KB: a larger batch is refused with the headers the SDKs wait on."""
    with ServerProcess(ROOT / "tests" / "project", tmp_path / "data", env={"TBLOCAL_INGEST_QUEUE_BYTES": "1024"}) as server:
        rows = ndjson([click(i, user="queue_full") for i in range(40)])
        r = requests.post(server.url + "/v0/events", params={"name": "clicks", "wait": "true"}, data=rows,
                          headers={**auth(server.admin_token), "Content-Type": "application/x-ndjson"}, timeout=30)
        assert (r.status_code, r.json()["error"]) == (429, "Too many rows waiting to be written; retry shortly")
        assert {k: r.headers.get(k) for k in ("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")} == \
            {"Retry-After": "1", "X-RateLimit-Limit": "1", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1"}


@pytest.mark.e2e
def test_a_parquet_file_whose_rows_exceed_the_append_limit_is_400(tmp_path):
    """A small Parquet file may hold far more rows than its size: its rows count against TBLOCAL_MAX_APPEND_BYTES."""
    with ServerProcess(ROOT / "tests" / "project", tmp_path / "data", env={"TBLOCAL_MAX_APPEND_BYTES": "100000"}) as server:
        sql = ("SELECT 'p' AS id, 'parquet_bomb' AS user, 'click' AS kind, toDateTime('2024-01-01 00:00:00') AS ts, "
               "1 AS value, '{}' AS tags FROM numbers(200000) FORMAT Parquet")
        parquet = requests.post(server.url + "/v0/sql", data={"q": sql}, headers=auth(server.admin_token), timeout=60).content
        assert len(parquet) < 100000
        r = requests.post(server.url + "/v0/datasources", params={"name": "clicks", "format": "parquet"},
                          files={"csv": ("rows.parquet", parquet)}, headers=auth(server.admin_token), timeout=60)
        assert (r.status_code, r.json()["error"].startswith("The Parquet file could not be read: Limit for result exceeded")) == (400, True), r.text
        r = requests.get(server.url + "/v0/datasources/clicks", headers=auth(server.admin_token), timeout=30)
        assert r.json()["statistics"]["row_count"] == 0
