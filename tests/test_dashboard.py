"""The dashboard in a real browser: Debian's headless Chromium, driven by Playwright, against tblocal with fixtures/.

Every number the page shows is compared with the endpoint's JSON that the test fetches itself
(requests, same parameters), never with anything the page computed or kept.
"""

import importlib.util
import json
import os
import re
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
import requests

from tblocal.launcher import ROOT, ServerProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 30_000  # two shared cores: endpoints and the browser can be slow
SCREENSHOT = os.environ.get("DASHBOARD_SCREENSHOT")  # e.g. docs/dashboard.png: test_screenshot saves the README's image there

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RECPERF_COLUMNS = ["algorithm", "recommendations", "users", "impressions", "clicks", "likes", "shares", "ctr", "engagement_rate", "avg_duration"]
CONTENT_COLUMNS = ["content_id", "events", "views", "clicks", "likes", "shares", "unique_users", "avg_duration", "ctr", "engagement_rate"]
SESSION_COLUMNS = ["session_id", "user_id", "platform", "device", "session_start", "duration_seconds", "events", "unique_content", "interaction_depth", "content_diversity"]
AFFINITY_TAIL = ["events", "views", "clicks", "likes", "shares", "total_duration", "affinity_score", "last_interaction"]
HEALTH_COLUMNS = ["pipe_name", "requests", "errors", "error_rate", "p50_ms", "p95_ms", "p99_ms", "rows_read", "last_call"]
USERRECS_COLUMNS = ["recommendation_id", "algorithm", "impressions", "clicks", "likes", "shares", "ctr", "engaged_seconds", "first_seen", "last_seen", "converted"]
DURATION_BUCKETS = [("<1m", 60), ("1–5m", 300), ("5–15m", 900), ("15–30m", 1800), ("30–60m", 3600), ("≥1h", float("inf"))]
NO_EVENTS = "No events in this date range for these filters."
WAITING = "Waiting for a read token."

XSS = {
    "user_id": "<script>alert(3)</script>",
    "content_id": "<img src=x onerror=alert(1)>",
    "algorithm": "<svg onload=alert(2)>",
    "session_id": '"><img src=x onerror=alert(4)>',
    "recommendation_id": "<b onmouseover=alert(5)>r</b>",
}
XSS_DAY = ("2024-03-01 00:00:00", "2024-03-01 23:59:59")  # after every fixture event: the filter shows only these


def _unavailable(reason: str):
    """Skip where Chromium cannot be installed; in CI a missing browser is a failure, never a skip."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """tblocal serving this repo's datafiles with fixtures/ loaded."""
    s = ServerProcess(ROOT, tmp_path_factory.mktemp("dashboard") / "data", load_fixtures=ROOT / "fixtures").start(timeout=180)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def tokens(server):
    """(admin token, endpoints_read token)."""
    admin = server.admin_token
    listed = requests.get(server.url + "/v0/tokens", headers={"Authorization": f"Bearer {admin}"}, timeout=10).json()["tokens"]
    return admin, next(t["token"] for t in listed if t["name"] == "endpoints_read")


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, through Playwright's pinned driver."""
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium package")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: `make setup` installs the test extra")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Page:
    """A browser tab on the dashboard, with the dialogs it opened and the requests it made."""

    def __init__(self, browser, server, read_token):
        self.context = browser.new_context(viewport={"width": 1440, "height": 1000})
        self.tab = self.context.new_page()
        self.tab.set_default_timeout(TIMEOUT_MS)
        self.server, self.read = server, read_token
        self.dialogs, self.requests = [], []
        self.tab.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.tab.on("request", lambda r: self.requests.append(r.url))

    def open(self, fragment: str) -> None:
        """Load /dashboard with this #fragment (tokens go there: browsers never send it)."""
        self.tab.goto(f"{self.server.url}/dashboard#{fragment}")

    def panel(self, pipe: str):
        return self.tab.locator(f"#panel-{pipe}")

    def wait(self, pipe: str, params: dict, state: str = "ready") -> None:
        """Wait until the panel shows the call with these params and its answer has been rendered."""
        from playwright.sync_api import expect

        expect(self.panel(pipe).locator(".curl")).to_have_text(curl(self.server, self.read, pipe, params))
        expect(self.panel(pipe)).to_have_attribute("data-state", state)

    def table(self, pipe: str) -> tuple[list[str], list[list[str]]]:
        """The panel's table as the user sees it: header texts and each row's cell texts."""
        p = self.panel(pipe)
        rows = p.locator("tbody tr")
        return p.locator("thead th").all_inner_texts(), [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())]

    def texts(self, selector: str) -> list[str]:
        return self.tab.locator(selector).all_text_contents()

    def close(self):
        self.context.close()


@pytest.fixture
def page(browser, server, tokens):
    p = Page(browser, server, tokens[1])
    yield p
    p.close()


# ---------------------------------------------------------------- what the endpoints answer

def url(server, pipe: str, params: dict, ext: str = "json") -> str:
    return f"{server.url}/v0/pipes/{pipe}.{ext}?{urlencode(params)}"


def curl(server, read: str, pipe: str, params: dict) -> str:
    """The curl line the page must show: the exact URL, the token masked to its first 6 characters."""
    return f"curl -H 'Authorization: Bearer {read[:6]}…' '{url(server, pipe, params)}'"


def endpoint(server, token: str, pipe: str, params: dict) -> list[dict]:
    """The endpoint's rows, fetched by the test itself."""
    res = requests.get(f"{server.url}/v0/pipes/{pipe}.json", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert res.status_code == 200, res.text
    return res.json()["data"]


def shown(value) -> str:
    """A JSON value as JavaScript's String() writes it (1.0 arrives as 1)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def expected_rows(rows: list[dict], columns: list[str]) -> list[list[str]]:
    out = []
    for row in rows:
        out.append([("yes" if row[c] == 1 else "no") if c == "converted" else shown(row[c]) for c in columns])
    return out


def params(*, dates=None, platform=None, device=None, algorithm=None, user_id=None, extra=None, limit=10, offset=0) -> dict:
    """Parameters in the order the page sends them: filters, user, panel controls, paging."""
    out = {}
    if dates:
        out["start_date"], out["end_date"] = dates
    for key, value in (("platform", platform), ("device", device), ("algorithm", algorithm), ("user_id", user_id)):
        if value is not None:
            out[key] = value
    out.update(extra or {})
    out["limit"], out["offset"] = str(limit), str(offset)
    return out


def check_table(page: Page, pipe: str, query: dict, columns: list[str], token: str) -> list[dict]:
    """The panel's visible table equals the endpoint's JSON for query; returns those rows."""
    rows = endpoint(page.server, token, pipe, query)
    assert rows, f"{pipe} {query}: the comparison needs rows"
    headers, cells = page.table(pipe)
    assert headers == columns
    assert cells == expected_rows(rows, columns)
    return rows


def check_links(page: Page, pipe: str, query: dict) -> None:
    """The .json and .csv links are the same call, without the token (the page never writes it into a link)."""
    assert page.panel(pipe).locator("a.json").get_attribute("href") == url(page.server, pipe, query)
    assert page.panel(pipe).locator("a.csv").get_attribute("href") == url(page.server, pipe, query, "csv")
    check_no_token_in_page(page)


def check_no_token_in_page(page: Page) -> None:
    """Neither the markup nor any link holds the token (the #token field's value is a property, not markup)."""
    assert page.read not in page.tab.content()
    assert quote(page.read, safe="") not in page.tab.content()
    assert not [h for h in page.tab.eval_on_selector_all("a[href]", "links => links.map(a => a.href)") if "token=" in h]


def check_recperf_chart(page: Page, rows: list[dict]) -> None:
    base = "#panel-recommendation_performance svg .row"
    assert page.texts(f"{base} text.label") == [r["algorithm"] for r in rows]
    titles = []
    for r in rows:
        titles += [f"{r['algorithm']} — CTR: {shown(r['ctr'])}", f"{r['algorithm']} — Engagement rate: {shown(r['engagement_rate'])}"]
    assert page.texts(f"{base} rect title") == titles


def check_duration_chart(page: Page, rows: list[dict]) -> None:
    counts = [0] * len(DURATION_BUCKETS)
    for r in rows:
        counts[next(i for i, (_, top) in enumerate(DURATION_BUCKETS) if r["duration_seconds"] < top)] += 1
    base = "#panel-session_analysis svg .col"
    assert page.texts(f"{base} text.label") == [label for label, _ in DURATION_BUCKETS]
    assert page.texts(f"{base} text.value") == [str(c) for c in counts]


# ---------------------------------------------------------------- tests

def apply_dates(page, dates: tuple[str, str]) -> None:
    """Type a date range into the shared filters and apply it."""
    page.tab.fill("#filters [name=start_date]", dates[0])
    page.tab.fill("#filters [name=end_date]", dates[1])
    page.tab.click("#filters button[type=submit]")


def test_panels_equal_the_endpoints_json(page, tokens):
    """Default view: each panel's table, chart, curl and links match the endpoint's JSON for the same call."""
    admin, read = tokens
    page.open(f"token={read}")
    recperf_q, content_q, sessions_q = params(limit=50), params(), params()
    page.wait("recommendation_performance", recperf_q)
    page.wait("content_engagement", content_q)
    page.wait("session_analysis", sessions_q)
    assert page.tab.inner_text("#status") == f"Connected to {page.server.url} with token {read[:6]}… (it cannot list tokens: not an admin token)."

    recperf = check_table(page, "recommendation_performance", recperf_q, RECPERF_COLUMNS, read)
    assert page.table("recommendation_performance")[1][0] == ["hybrid", "1993", "421", "1969", "549", "169", "65", "0.2788", "0.3977", "137.28"]
    check_recperf_chart(page, recperf)
    check_table(page, "content_engagement", content_q, CONTENT_COLUMNS, read)
    sessions = check_table(page, "session_analysis", sessions_q, SESSION_COLUMNS, read)
    check_duration_chart(page, sessions)
    for pipe, query in (("recommendation_performance", recperf_q), ("content_engagement", content_q), ("session_analysis", sessions_q)):
        check_links(page, pipe, query)
    # The link answers what the page shows: the same call, saved with the token sent in a header.
    with page.tab.expect_download() as saved:
        page.panel("content_engagement").locator("a.json").click()
    assert saved.value.suggested_filename == "content_engagement.json"
    assert json.loads(Path(saved.value.path()).read_text())["data"] == endpoint(page.server, read, "content_engagement", content_q)
    for pipe in ("user_content_affinity", "user_recommendations"):
        assert page.panel(pipe).get_attribute("data-state") == "idle"
        assert page.panel(pipe).locator(".state").inner_text() == "Look up a user above."
    # The page used the read token only, and reached no other host.
    assert all(u.startswith(page.server.url + "/") for u in page.requests)


def test_filters_change_the_requests_and_the_numbers(page, tokens):
    """Date range, platform, device and algorithm go to the endpoints that take them; numbers follow."""
    admin, read = tokens
    page.open(f"token={read}")
    page.wait("recommendation_performance", params(limit=50))
    unfiltered = endpoint(page.server, read, "recommendation_performance", params(limit=50))
    form = page.tab.locator("#filters")
    dates = ("2024-01-10 00:00:00", "2024-01-20 23:59:59")
    form.locator("[name=start_date]").fill(dates[0])
    form.locator("[name=end_date]").fill(dates[1])
    form.locator("[name=platform]").fill("ios")
    form.locator("[name=device]").fill("mobile")
    form.locator("[name=algorithm]").fill("hybrid")
    page.requests.clear()
    form.locator("button[type=submit]").click()

    recperf_q = params(dates=dates, platform="ios", device="mobile", algorithm="hybrid", limit=50)
    content_q = params(dates=dates, platform="ios", device="mobile")
    sessions_q = params(dates=dates, platform="ios", device="mobile")
    page.wait("recommendation_performance", recperf_q)
    page.wait("content_engagement", content_q)
    page.wait("session_analysis", sessions_q)
    for pipe, query in (("recommendation_performance", recperf_q), ("content_engagement", content_q), ("session_analysis", sessions_q)):
        assert url(page.server, pipe, query) in page.requests
    recperf = check_table(page, "recommendation_performance", recperf_q, RECPERF_COLUMNS, read)
    assert [r["algorithm"] for r in recperf] == ["hybrid"]
    assert recperf[0] != next(r for r in unfiltered if r["algorithm"] == "hybrid")
    check_recperf_chart(page, recperf)
    check_table(page, "content_engagement", content_q, CONTENT_COLUMNS, read)
    sessions = check_table(page, "session_analysis", sessions_q, SESSION_COLUMNS, read)
    check_duration_chart(page, sessions)
    assert {r["platform"] for r in sessions} == {"ios"} and {r["device"] for r in sessions} == {"mobile"}

    # Panel controls: rank content by clicks, then page forward.
    content = page.panel("content_engagement")
    content.locator("select[name=event_type]").select_option("click")
    clicks_q = params(dates=dates, platform="ios", device="mobile", extra={"event_type": "click"})
    page.wait("content_engagement", clicks_q)
    ranked = check_table(page, "content_engagement", clicks_q, CONTENT_COLUMNS, read)
    assert [r["clicks"] for r in ranked] == sorted((r["clicks"] for r in ranked), reverse=True)
    assert content.locator(".range").inner_text() == "rows 1–10"
    content.locator("button.next").click()
    page2_q = params(dates=dates, platform="ios", device="mobile", extra={"event_type": "click"}, offset=10)
    page.wait("content_engagement", page2_q)
    check_table(page, "content_engagement", page2_q, CONTENT_COLUMNS, read)
    assert content.locator(".range").inner_text() == f"rows 11–{10 + len(endpoint(page.server, read, 'content_engagement', page2_q))}"
    check_links(page, "content_engagement", page2_q)

    sessions_panel = page.panel("session_analysis")
    sessions_panel.locator("input[name=min_events]").fill("5")
    sessions_panel.locator("input[name=min_events]").press("Enter")
    deep_q = params(dates=dates, platform="ios", device="mobile", extra={"min_events": "5"})
    page.wait("session_analysis", deep_q)
    deep = check_table(page, "session_analysis", deep_q, SESSION_COLUMNS, read)
    assert min(r["events"] for r in deep) >= 5
    check_duration_chart(page, deep)


def test_user_lookup(page, tokens):
    """A user's affinity (by content, then by content type) and the recommendations they saw."""
    admin, read = tokens
    page.open(f"token={read}")
    page.wait("session_analysis", params())
    page.tab.fill("#user-id", "u_tasha01")
    page.tab.click("#user-form button[type=submit]")
    affinity_q = params(user_id="u_tasha01", extra={"by": "content_id"})
    recs_q = params(user_id="u_tasha01")
    page.wait("user_content_affinity", affinity_q)
    page.wait("user_recommendations", recs_q)
    affinity = check_table(page, "user_content_affinity", affinity_q, ["content_id", *AFFINITY_TAIL], read)
    assert {r["user_id"] for r in affinity} == {"u_tasha01"}
    assert page.texts("#panel-user_content_affinity svg .row text.label") == [r["content_id"] for r in affinity]
    assert page.texts("#panel-user_content_affinity svg .row rect title") == [f"{r['content_id']} — Affinity score: {shown(r['affinity_score'])}" for r in affinity]
    recs = check_table(page, "user_recommendations", recs_q, USERRECS_COLUMNS, read)
    converted = sum(r["converted"] for r in recs)
    assert 0 < converted < len(recs)  # the fixture user has both kinds, so both renderings are checked
    assert page.panel("user_recommendations").locator(".state").inner_text() == f"{len(recs)} rows from user_recommendations. {converted} of {len(recs)} converted."
    check_links(page, "user_recommendations", recs_q)

    page.panel("user_content_affinity").locator("select[name=by]").select_option("content_type")
    by_type_q = params(user_id="u_tasha01", extra={"by": "content_type"})
    page.wait("user_content_affinity", by_type_q)
    by_type = check_table(page, "user_content_affinity", by_type_q, ["content_type", *AFFINITY_TAIL], read)
    assert page.texts("#panel-user_content_affinity svg .row text.label") == [r["content_type"] for r in by_type]

    # A user id in the sessions table looks that user up.
    button = page.panel("session_analysis").locator("tbody tr").first.locator("button.link")
    other = button.inner_text()
    button.click()
    assert page.tab.input_value("#user-id") == other
    page.wait("user_recommendations", params(user_id=other), state=re.compile("ready|empty"))
    page.wait("user_content_affinity", params(user_id=other, extra={"by": "content_type"}))
    check_table(page, "user_content_affinity", params(user_id=other, extra={"by": "content_type"}), ["content_type", *AFFINITY_TAIL], read)


def test_user_lookup_with_a_per_user_jwt(browser, server, tokens):
    """A JWT from scripts/user_token.py: the user panels show its user (fixed, whatever the page sends), and the
    panels it cannot read wait instead of failing."""
    spec = importlib.util.spec_from_file_location("user_token", ROOT / "scripts" / "user_token.py")
    user_token = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(user_token)
    jwt_token = user_token.mint(server.url, tokens[0], "u_tasha01", ttl_s=600)
    page = Page(browser, server, jwt_token)
    try:
        page.open(f"token={jwt_token}")
        recs_q = params(user_id="u_tasha01")
        page.wait("user_recommendations", recs_q)
        assert page.tab.input_value("#user-id") == "u_tasha01"
        assert page.tab.inner_text("#status").endswith("A JWT for user_content_affinity, user_recommendations, fixed to user u_tasha01.")
        recs = check_table(page, "user_recommendations", recs_q, USERRECS_COLUMNS, jwt_token)
        assert recs == endpoint(server, tokens[1], "user_recommendations", recs_q)
        affinity_q = params(user_id="u_tasha01", extra={"by": "content_id"})
        page.wait("user_content_affinity", affinity_q)
        check_table(page, "user_content_affinity", affinity_q, ["content_id", *AFFINITY_TAIL], jwt_token)
        for pipe in ("recommendation_performance", "content_engagement", "session_analysis"):
            assert page.panel(pipe).get_attribute("data-state") == "idle"
            assert page.panel(pipe).locator(".state").inner_text() == f"This token (a JWT) cannot read {pipe}."
        # Another user typed in: the page asks for them, the token answers for its own user only.
        page.tab.fill("#user-id", "u_other")
        page.tab.click("#user-form button[type=submit]")
        page.wait("user_recommendations", params(user_id="u_other"))
        assert page.table("user_recommendations")[1] == expected_rows(recs, USERRECS_COLUMNS)
        check_links(page, "user_recommendations", params(user_id="u_other"))
    finally:
        page.close()


def test_api_health_panel_equals_api_usage(page, tokens):
    """API health shows api_usage: the calls the page itself made, per endpoint, with errors and latencies."""
    admin, read = tokens
    page.open(f"token={read}")
    for pipe, query in (("recommendation_performance", params(limit=50)), ("content_engagement", params()),
                        ("session_analysis", params()), ("api_usage", params())):
        page.wait(pipe, query)
    # Once every other panel has answered, call it again: no call lands between that one and the test's own.
    page.panel("api_usage").locator("select[name=limit]").select_option("25")
    query = params(limit=25)
    page.wait("api_usage", query)
    headers, cells = page.table("api_usage")
    assert headers == HEALTH_COLUMNS
    rows = {r["pipe_name"]: r for r in endpoint(page.server, read, "api_usage", query)}
    assert {"recommendation_performance", "content_engagement", "session_analysis", "api_usage"} <= set(rows)
    shown_rows = {c[0]: c for c in cells}
    assert set(shown_rows) == set(rows)
    for name, row in rows.items():
        if name == "api_usage":  # the test's call saw the page's last call too
            assert [int(shown_rows[name][1]) + 1, int(shown_rows[name][2])] == [row["requests"], row["errors"]]
        else:
            assert shown_rows[name] == expected_rows([row], HEALTH_COLUMNS)[0]
    assert page.texts("#panel-api_usage svg .row text.label") == [c[0] for c in cells]
    assert page.panel("api_usage").locator(".state").inner_text() == f"{len(cells)} rows from api_usage."


def test_empty_range_says_no_events(page, tokens):
    admin, read = tokens
    page.open(f"token={read}")
    page.wait("content_engagement", params())
    dates = ("2030-01-01 00:00:00", "2030-01-31 23:59:59")
    apply_dates(page, dates)
    for pipe, query in (("recommendation_performance", params(dates=dates, limit=50)), ("content_engagement", params(dates=dates)), ("session_analysis", params(dates=dates))):
        page.wait(pipe, query, state="empty")
        assert endpoint(page.server, read, pipe, query) == []
        assert page.panel(pipe).locator(".state").inner_text() == NO_EVENTS
        assert page.panel(pipe).locator("tbody tr").count() == 0


def test_bad_parameter_shows_the_endpoints_message(page, tokens):
    admin, read = tokens
    page.open(f"token={read}")
    page.wait("content_engagement", params())
    dates = ("2024-01-20 00:00:00", "2024-01-10 00:00:00")
    apply_dates(page, dates)
    page.wait("content_engagement", params(dates=dates), state="error")
    res = requests.get(url(page.server, "content_engagement", params(dates=dates)), headers={"Authorization": f"Bearer {read}"}, timeout=60)
    assert res.status_code == 400
    assert page.panel("content_engagement").locator(".state").inner_text() == f"HTTP 400: {res.json()['error']}"


def test_bad_token_shows_the_error(page):
    page.open("token=p.not-a-token")
    from playwright.sync_api import expect

    expect(page.tab.locator("#status")).to_have_text("The host rejected the token: Invalid token.")
    page.read = "p.not-a-token"
    page.wait("recommendation_performance", params(limit=50), state="error")
    for pipe in ("recommendation_performance", "content_engagement", "session_analysis"):
        expect(page.panel(pipe)).to_have_attribute("data-state", "error")
        assert page.panel(pipe).locator(".state").inner_text() == (
            f"HTTP 403: Invalid token. The token is wrong or cannot read {pipe}: use the endpoints_read token of this host."
        )


def test_admin_token_is_refused(page, tokens):
    """An admin token is detected (it can list /v0/tokens), dropped from the page and the URL, and never used on an endpoint."""
    admin, read = tokens
    page.open(f"token={admin}")
    from playwright.sync_api import expect

    expect(page.tab.locator("#status")).to_have_attribute("data-state", "refused")
    assert page.tab.inner_text("#status") == (
        "Refused: this token can list the workspace's tokens (GET /v0/tokens answered 200), so it is an admin token. "
        "This page only uses a read token: use endpoints_read, which can read the six endpoints and nothing else."
    )
    assert page.tab.input_value("#token") == ""
    assert admin not in page.tab.url
    for pipe in ("recommendation_performance", "content_engagement", "session_analysis", "user_content_affinity", "user_recommendations"):
        assert page.panel(pipe).locator(".state").inner_text() == WAITING
        assert page.panel(pipe).locator(".curl").inner_text() == ""
    assert [u for u in page.requests if "/v0/" in u] == [f"{page.server.url}/v0/tokens"]


def test_page_opened_from_disk_reads_another_origin(page, tokens):
    """Unchanged against another host: file:// page, host and token in the fragment, CORS preflight answered."""
    admin, read = tokens
    page.tab.goto(f"{(ROOT / 'dashboard' / 'index.html').as_uri()}#host={page.server.url}&token={read}")
    query = params(limit=50)
    page.wait("recommendation_performance", query)
    check_table(page, "recommendation_performance", query, RECPERF_COLUMNS, read)


def test_cors_preflight_and_headers(server, tokens):
    """Preflight and answers on /v0/ carry CORS headers, as Tinybird's API; Tinybird Local's /tokens never does."""
    admin, read = tokens
    pre = requests.options(
        f"{server.url}/v0/pipes/content_engagement.json",
        headers={"Origin": "null", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"},
        timeout=10,
    )
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "*"
    assert pre.headers["access-control-allow-methods"] == "GET, POST, OPTIONS"
    assert pre.headers["access-control-allow-headers"] == "authorization"
    assert "access-control-allow-credentials" not in pre.headers
    got = requests.get(f"{server.url}/v0/pipes/content_engagement.json", headers={"Origin": "null", "Authorization": f"Bearer {read}"}, timeout=60)
    assert got.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-origin" not in requests.get(f"{server.url}/tokens", headers={"Origin": "https://evil.example"}, timeout=10).headers
    page = requests.get(f"{server.url}/dashboard/", timeout=10)
    assert page.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'")
    assert requests.get(f"{server.url}/dashboard", allow_redirects=False, timeout=10).headers["location"] == "/dashboard/"
    assert requests.get(f"{server.url}/dashboard/..%2Fpyproject.toml", timeout=10).status_code == 404


def test_screenshot(page, tokens, tmp_path):
    """The default view with a user looked up renders; DASHBOARD_SCREENSHOT=docs/dashboard.png saves it for the README."""
    admin, read = tokens
    page.open(f"token={read}&user=u_tasha01")
    page.wait("session_analysis", params())
    page.wait("user_recommendations", params(user_id="u_tasha01"))
    page.wait("user_content_affinity", params(user_id="u_tasha01", extra={"by": "content_id"}))
    for path in [tmp_path / "dashboard.png"] + ([ROOT / SCREENSHOT] if SCREENSHOT else []):
        page.tab.screenshot(path=str(path), full_page=True)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_markup_in_the_data_renders_as_text(page, server, tokens):
    """An event whose ids and algorithm hold markup shows those characters in tables, chart labels and tooltips; nothing runs."""
    admin, read = tokens
    event = {
        "event_id": "e-xss-1", "event_type": "view", "timestamp": "2024-03-01 10:00:00", "device": "mobile", "platform": "ios",
        "duration": 30, "metadata": '{"algorithm": "%s", "content_type": "<i>video</i>"}' % XSS["algorithm"],
        **{k: v for k, v in XSS.items() if k != "algorithm"},
    }
    click = {**event, "event_id": "e-xss-2", "event_type": "click", "timestamp": "2024-03-01 10:01:00"}
    body = "\n".join(json.dumps(e) for e in (event, click))
    res = requests.post(f"{server.url}/v0/events", params={"name": "user_events", "wait": "true"}, data=body, headers={"Authorization": f"Bearer {admin}"}, timeout=60)
    assert res.json() == {"successful_rows": 2, "quarantined_rows": 0}

    page.open(f"token={read}")
    page.wait("session_analysis", params())
    apply_dates(page, XSS_DAY)
    page.tab.fill("#user-id", XSS["user_id"])
    page.tab.click("#user-form button[type=submit]")
    queries = {
        "recommendation_performance": (params(dates=XSS_DAY, limit=50), RECPERF_COLUMNS),
        "content_engagement": (params(dates=XSS_DAY), CONTENT_COLUMNS),
        "session_analysis": (params(dates=XSS_DAY), SESSION_COLUMNS),
        "user_content_affinity": (params(dates=XSS_DAY, user_id=XSS["user_id"], extra={"by": "content_id"}), ["content_id", *AFFINITY_TAIL]),
        "user_recommendations": (params(dates=XSS_DAY, user_id=XSS["user_id"]), USERRECS_COLUMNS),
    }
    for pipe, (query, columns) in queries.items():
        page.wait(pipe, query)
        check_table(page, pipe, query, columns, read)
    assert page.table("recommendation_performance")[1][0][0] == XSS["algorithm"]
    assert page.table("content_engagement")[1][0][0] == XSS["content_id"]
    assert page.table("session_analysis")[1][0][:2] == [XSS["session_id"], XSS["user_id"]]
    assert page.table("user_recommendations")[1][0][:2] == [XSS["recommendation_id"], XSS["algorithm"]]
    # Chart labels and tooltips.
    assert page.texts("#panel-recommendation_performance svg .row text.label") == [XSS["algorithm"]]
    assert page.texts("#panel-recommendation_performance svg .row rect title") == [f"{XSS['algorithm']} — CTR: 1", f"{XSS['algorithm']} — Engagement rate: 1"]
    assert page.texts("#panel-user_content_affinity svg .row text.label") == [XSS["content_id"]]
    assert page.texts("#panel-user_content_affinity svg .row title")[0].startswith(f"{XSS['content_id']} — Affinity score: ")
    assert page.panel("content_engagement").locator("tbody td").first.get_attribute("title") == XSS["content_id"]
    # No element came out of the data: the only elements in cells are the page's own lookup buttons.
    injected = page.tab.evaluate(
        "document.querySelectorAll('main img, main script, main b, main i, td *:not(button.link), svg svg, [onerror], [onload], [onmouseover]').length"
    )
    assert injected == 0
    page.tab.hover("#panel-session_analysis tbody td >> nth=0")
    page.tab.wait_for_timeout(500)  # time for any handler to fire
    assert page.dialogs == []
