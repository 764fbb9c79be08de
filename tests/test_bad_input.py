"""Bad-input battery: every hostile body or URL gets its documented status, or its bad lines are
quarantined with a reason while the good lines land; the server stays healthy after each case."""

import gzip
import json
import zlib

import pytest
import requests

from tblocal.launcher import ROOT, ServerProcess

pytestmark = pytest.mark.e2e

TS = "2024-03-01 10:00:00"
LIMIT = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """tblocal on tests/project with an empty data dir of its own (bulk appends capped at 10 MB too, for the bomb)."""
    env = {"TBLOCAL_MAX_APPEND_BYTES": str(LIMIT)}
    proc = ServerProcess(ROOT / "tests" / "project", tmp_path_factory.mktemp("bad-input") / "data", env=env).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def admin(server):
    return server.admin_token


def good(case: str, n: int = 0) -> bytes:
    return json.dumps({"id": f"{case}-{n}", "user": f"u-{case}", "ts": TS, "value": 1}).encode()


def row(case: str, **fields) -> bytes:
    return json.dumps({"id": f"{case}-bad", "user": f"u-{case}", "ts": TS, **fields}).encode()


def sql(server, token: str, q: str) -> list[dict]:
    r = requests.get(server.url + "/v0/sql", params={"q": q + " FORMAT JSON", "token": token}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def landed(server, token: str, case: str) -> int:
    return int(sql(server, token, f"SELECT count() AS n FROM clicks WHERE startsWith(id, '{case}-')")[0]["n"])


def quarantine_total(server, token: str) -> tuple[int, int]:
    """(rows in clicks_quarantine, rows among them without a reason)."""
    r = sql(server, token, "SELECT count() AS n, countIf(empty(c__error) OR c__error[1] = '') AS blank FROM clicks_quarantine")[0]
    return int(r["n"]), int(r["blank"])


def healthy(server) -> None:
    r = requests.get(server.url + "/v0/health", timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def assert_error(r: requests.Response, status: int) -> None:
    assert r.status_code == status, (r.status_code, r.text[:300])
    body = r.json()
    assert set(body) >= {"error", "documentation"} and body["error"], body
    assert "Traceback" not in r.text


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


# (case id, body, expected successful_rows, expected quarantined_rows, extra headers)
INGEST_CASES = [
    ("non-json-line", good("nj") + b"\nthis is not json\n" + good("nj", 1), 2, 1, {}),
    ("json-array-line", good("ja") + b"\n[1, 2, 3]\n", 1, 1, {}),
    ("json-array-of-objects", good("jo") + b"\n" + b"[" + good("jo", 9) + b"]", 1, 1, {}),
    ("json-scalars", good("js") + b'\n3\n"text"\nnull\ntrue\n-1.5', 1, 5, {}),
    ("wrong-type-uint", good("wt") + b"\n" + row("wt", value="abc"), 1, 1, {}),
    ("negative-uint", good("nu") + b"\n" + row("nu", value=-5), 1, 1, {}),
    ("uint32-overflow", good("uo") + b"\n" + row("uo", value=2**40), 1, 1, {}),
    ("bad-datetime", good("bd") + b"\n" + json.dumps({"id": "bd-x", "user": "u", "ts": "yesterday"}).encode(), 1, 1, {}),
    ("missing-required", good("mr") + b"\n" + json.dumps({"id": "mr-x", "ts": TS}).encode(), 1, 1, {}),
    ("null-required", good("nr") + b"\n" + row("nr", user=None), 1, 1, {}),
    ("object-for-string", good("os") + b"\n" + row("os", tags={"a": [1, {"b": 2}]}), 2, 0, {}),
    ("one-mb-string", good("mb") + b"\n" + row("mb", tags="x" * 1024 * 1024), 2, 0, {}),
    ("one-mb-unknown-field", good("mu") + b"\n" + row("mu", junk="y" * 1024 * 1024), 2, 0, {}),
    ("deep-nesting-in-value", good("dn") + b"\n" + row("dn")[:-1] + b', "tags": ' + nested(5000).encode() + b"}", 2, 0, {}),
    ("deep-nesting-array-line", good("da") + b"\n" + b"[" * 100_000, 1, 1, {}),
    ("deep-nesting-object-line", good("do") + b"\n" + b'{"id":' * 100_000, 1, 1, {}),
    ("invalid-utf8", good("iu") + b'\n{"id": "iu-bad\xff\xfe", "user": "u", "ts": "' + TS.encode() + b'"}', 1, 1, {}),
    ("invalid-utf8-junk-line", good("ij") + b"\n\xc3\x28\xa0\xa1", 1, 1, {}),
    ("nul-escaped", good("ne") + b"\n" + row("ne", tags="a\u0000b"), 2, 0, {}),
    ("nul-raw-outside-strings", good("nb") + b"\n\x00\x00\x00", 1, 1, {}),
    ("crlf-lines", good("cr") + b"\r\n" + good("cr", 1) + b"\r\n" + good("cr", 2) + b"\r\n", 3, 0, {}),
    ("empty-lines", b"\n\n" + good("el") + b"\n\n\n" + good("el", 1) + b"\n   \n\t\n", 2, 0, {}),
    ("bom", b"\xef\xbb\xbf" + good("bo") + b"\n" + good("bo", 1), 2, 0, {}),
    ("bom-single-line", b"\xef\xbb\xbf" + good("bs"), 1, 0, {}),
    ("gzip-good", gzip.compress(good("gz") + b"\nnot json\n" + good("gz", 1)), 2, 1, {"Content-Encoding": "gzip"}),
    ("concatenated-objects", good("co") + good("co", 1), 2, 0, {}),
]


KEYS = {c[0]: c[1].lstrip(b"\xef\xbb\xbf").split(b'"id": "', 1)[1].split(b"-", 1)[0].decode() for c in INGEST_CASES if c[0] != "gzip-good"}
KEYS["gzip-good"] = "gz"


@pytest.mark.parametrize("case, body, ok, bad, headers", INGEST_CASES, ids=[c[0] for c in INGEST_CASES])
def test_bad_lines_are_quarantined_and_good_lines_land(server, admin, case, body, ok, bad, headers):
    key = KEYS[case]
    before, _ = quarantine_total(server, admin)
    landed_before = landed(server, admin, key)
    r = requests.post(
        server.url + "/v0/events", params={"name": "clicks", "wait": "true"}, data=body,
        headers={"Authorization": f"Bearer {admin}", **headers}, timeout=120,
    )
    assert r.status_code == 200, r.text[:300]
    assert r.json() == {"successful_rows": ok, "quarantined_rows": bad}
    after, blank = quarantine_total(server, admin)
    assert after - before == bad, "every quarantined row is in clicks_quarantine"
    assert blank == 0, "every quarantined row has a reason"
    assert landed(server, admin, key) - landed_before == ok, "the good rows are queryable once wait=true answers"
    healthy(server)


def test_stored_values_survive_as_sent(server, admin):
    """Big strings, NUL characters and objects-as-strings are stored byte for byte, not cut or mangled."""
    rows = {r["id"]: r for r in sql(server, admin, "SELECT id, length(tags) AS n, tags FROM clicks WHERE id IN ('mb-bad', 'ne-bad', 'os-bad', 'dn-bad')")}
    assert rows["mb-bad"]["n"] == 1024 * 1024
    assert rows["ne-bad"]["tags"] == "a\u0000b"
    assert json.loads(rows["os-bad"]["tags"]) == {"a": [1, {"b": 2}]}
    assert rows["dn-bad"]["tags"] == nested(5000)


def test_quarantine_reasons_name_the_problem(server, admin):
    reasons = {
        r["id"]: (r["c__error_column"], r["c__error"])
        for r in sql(server, admin, "SELECT id, c__error_column, c__error FROM clicks_quarantine WHERE id IN ('wt-bad', 'mr-x', 'nr-bad', 'nu-bad', 'bd-x')")
    }
    assert reasons["wt-bad"][0] == ["value"]
    assert reasons["mr-x"][0] == ["user"] and "required" in reasons["mr-x"][1][0]
    assert reasons["nr-bad"][0] == ["user"]
    assert reasons["nu-bad"][0] == ["value"]
    assert all(errs and errs[0] for _, errs in reasons.values())


def gzip_bomb() -> bytes:
    """About 10 KB of gzip that inflates to 11 MB of newlines."""
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"\n" * (1024 * 1024)
    return b"".join([c.compress(chunk) for _ in range(11)] + [c.flush()])


# (case id, method, path, params, body, headers, expected status)
REJECT_CASES = [
    ("body-10mb-plus-1", "POST", "/v0/events", {"name": "clicks"}, (good("big") + b"\n") * (LIMIT // 60) + b"x" * (LIMIT + 1 - (LIMIT // 60) * 61), {}, 413),
    ("gzip-bomb", "POST", "/v0/events", {"name": "clicks"}, gzip_bomb(), {"Content-Encoding": "gzip"}, 413),
    ("gzip-bomb-bulk-append", "POST", "/v0/datasources", {"name": "clicks", "mode": "append", "format": "ndjson"}, gzip_bomb(), {"Content-Encoding": "gzip"}, 413),
    ("gzip-bomb-v1-append", "POST", "/v1/datasources/clicks/append", {"format": "ndjson"}, gzip_bomb(), {"Content-Encoding": "gzip"}, 413),
    ("wrong-content-encoding", "POST", "/v0/events", {"name": "clicks"}, good("ce"), {"Content-Encoding": "br"}, 400),
    ("gzip-header-plain-body", "POST", "/v0/events", {"name": "clicks"}, good("ce"), {"Content-Encoding": "gzip"}, 400),
    ("truncated-gzip", "POST", "/v0/events", {"name": "clicks"}, gzip.compress(good("ce") * 100)[:-20], {"Content-Encoding": "gzip"}, 400),
    ("empty-body", "POST", "/v0/events", {"name": "clicks"}, b"", {}, 400),
    ("blank-body", "POST", "/v0/events", {"name": "clicks"}, b"\n \r\n\t\n", {}, 400),
    ("missing-name", "POST", "/v0/events", {}, good("nn"), {}, 400),
    ("unknown-datasource", "POST", "/v0/events", {"name": "nope"}, good("nn"), {}, 404),
    ("repeated-name-last-wins", "POST", "/v0/events", [("name", "clicks"), ("name", "nope")], good("rn"), {}, 404),
    ("very-long-url-events", "POST", "/v0/events", {"name": "clicks", "junk": "a" * 200_000}, good("lu"), {}, 414),
    ("very-long-url-pipe", "GET", "/v0/pipes/top_users.json", {"junk": "a" * 1_000_000}, None, {}, 414),
    ("very-long-url-sql", "GET", "/v0/sql", {"q": "SELECT 1 AS " + "a" * 100_000}, None, {}, 414),
    ("pipe-bad-int", "GET", "/v0/pipes/top_users.json", {"limit": "abc"}, None, {}, 400),
    ("pipe-bad-datetime", "GET", "/v0/pipes/top_users.json", {"start": "not a date"}, None, {}, 400),
    ("pipe-template-error", "GET", "/v0/pipes/top_users.json", {"limit": "0"}, None, {}, 400),
    ("pipe-nul-param", "GET", "/v0/pipes/top_users.json", {"kind": "cl\x00ick"}, None, {}, 400),
    ("pipe-json-body-not-object", "POST", "/v0/pipes/top_users.json", {}, b"[1, 2]", {"Content-Type": "application/json"}, 400),
    ("pipe-json-body-invalid", "POST", "/v0/pipes/top_users.json", {}, b"{nope", {"Content-Type": "application/json"}, 400),
    ("pipe-json-body-deep", "POST", "/v0/pipes/top_users.json", {}, b"[" * 100_000, {"Content-Type": "application/json"}, 400),
    ("pipe-unknown-format", "GET", "/v0/pipes/top_users.xml", {}, None, {}, 400),
    ("pipe-unknown", "GET", "/v0/pipes/nope.json", {}, None, {}, 404),
    ("sql-empty-q", "GET", "/v0/sql", {"q": ""}, None, {}, 400),
    ("sql-garbage", "GET", "/v0/sql", {"q": "\x00\xff SELEC"}, None, {}, 400),
    ("sql-invalid-utf8-form-body", "POST", "/v0/sql", {}, b"q=SELECT%20%FF%FE", {"Content-Type": "application/x-www-form-urlencoded"}, 400),
    ("bulk-append-bad-mode", "POST", "/v0/datasources", {"name": "clicks", "mode": "create"}, good("bm"), {}, 400),
    ("unknown-route", "GET", "/v0/nothing-here", {}, None, {}, 404),
    ("wrong-method", "DELETE", "/v0/events", {"name": "clicks"}, None, {}, 405),
]


@pytest.mark.parametrize("case, method, path, params, body, headers, status", REJECT_CASES, ids=[c[0] for c in REJECT_CASES])
def test_rejected_requests_get_their_documented_status(server, admin, case, method, path, params, body, headers, status):
    before = landed(server, admin, "big")
    r = requests.request(
        method, server.url + path, params=params, data=body,
        headers={"Authorization": f"Bearer {admin}", **headers}, timeout=120,
    )
    assert_error(r, status)
    if case == "body-10mb-plus-1":
        assert landed(server, admin, "big") == before, "nothing of a refused body lands"
    healthy(server)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "5", "unknown": "x", "another": ""},
        [("limit", "5"), ("limit", "7"), ("kind", "click"), ("kind", "click")],
        {"limit": "5", "token2": "x" * 10_000},
    ],
    ids=["unknown-params", "repeated-params", "long-unknown-param"],
)
def test_unknown_and_repeated_query_parameters_are_harmless(server, admin, params):
    r = requests.get(server.url + "/v0/pipes/top_users.json", params=params, headers={"Authorization": f"Bearer {admin}"}, timeout=30)
    assert r.status_code == 200, r.text[:300]
    body = r.json()
    assert set(body) >= {"meta", "data", "rows", "statistics"}
    healthy(server)


def test_repeated_and_unknown_params_on_events(server, admin):
    r = requests.post(
        server.url + "/v0/events", params=[("name", "clicks"), ("name", "clicks"), ("wait", "true"), ("wait", "true"), ("x", "1")],
        data=good("rp"), headers={"Authorization": f"Bearer {admin}"}, timeout=30,
    )
    assert r.status_code == 200 and r.json() == {"successful_rows": 1, "quarantined_rows": 0}
    assert landed(server, admin, "rp") == 1
    healthy(server)


def test_value_outside_an_enum_is_a_quoted_string(server, admin):
    """As on Tinybird, enum=[...] documents a parameter; an unknown value is a quoted literal matching nothing."""
    r = requests.get(server.url + "/v0/pipes/top_users.json", params={"kind": "swipe' OR 1=1 --"}, headers={"Authorization": f"Bearer {admin}"}, timeout=30)
    assert r.status_code == 200, r.text[:300]
    assert r.json()["data"] == []
    healthy(server)
