"""Streaming clients against a real tblocal on loopback: the earlier Python SDK's buffered `Datasource` sink and
`TinybirdLoggingHandler` (tinybird-python-sdk), and @tinybirdco/mockingbird's TinybirdGenerator.

They post to /v0/events without `wait`, so each test polls tblocal until every row it sent is counted.
"""

import json
import subprocess
import time

import pytest

from sdk_helpers import SDK_DIR, earlier_sdk, emptied, sdk_env, sdk_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from sdk_server(tmp_path_factory, "sdk-streams")


@pytest.fixture
def admin(server):
    return emptied(server)


def counted(admin, sql: str, expected: dict) -> dict:
    """The row of sql once it equals expected (rows sent without wait land shortly), else what it was after 30 s."""
    deadline = time.monotonic() + 30
    while True:
        got = {k: int(v) if str(v).isdigit() else v for k, v in admin.rows(sql)[0].items()}
        if got == expected or time.monotonic() > deadline:
            return got


def test_datasource_sink_flushes_every_row(server, admin):
    rows = [{"id": f"s{i}", "user_id": f"u{i % 4}", "kind": "click", "ts": f"2024-01-{1 + i % 28:02d} 10:00:00", "value": i} for i in range(2500)]
    done = earlier_sdk(server, mode="sink", rows=rows, flush_every=1000)
    # 1000, 1000, then 500 at exit; more only if the buffer's 1 s timer fired first on a slow machine
    assert len(done["requests"]) >= 3 and set(done["requests"]) <= {200, 202}, done
    expected = {"n": len(rows), "total": sum(r["value"] for r in rows), "ids": len(rows)}
    assert counted(admin, "SELECT count() AS n, sum(value) AS total, uniqExact(id) AS ids FROM events", expected) == expected


def test_logging_handler_sends_each_record(server, admin):
    messages = [f"message {i}" for i in range(12)]
    done = earlier_sdk(server, mode="logging", messages=messages, app_name="sdk-tests")
    assert len(done["requests"]) == len(messages) and set(done["requests"]) <= {200, 202}, done
    expected = {"n": len(messages), "warnings": len(messages)}
    assert counted(admin, "SELECT count() AS n, countIf(levelname = 'WARNING' AND app_name = 'sdk-tests' AND name = 'sdk_test_app') AS warnings FROM tb_logs",
                   expected) == expected
    logged = [r["message"] for r in admin.rows("SELECT message FROM tb_logs ORDER BY created")]
    assert logged == messages


def test_mockingbird_streams_thousands_of_events_every_one_counted(server, admin):
    eps, limit = 500, 3000  # six batches of 500, one a second
    done = subprocess.run(["node", str(SDK_DIR / "mockingbird.mjs"), server.url, server.admin_token, "events", str(eps), str(limit)],
                          capture_output=True, text=True, timeout=120, cwd=SDK_DIR, env=sdk_env())
    assert done.returncode == 0 and "ERR" not in done.stdout, f"mockingbird exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr}"
    sent = json.loads(done.stdout.strip().splitlines()[-1])
    assert sent["sent"] == limit
    expected = {"n": limit, "total": sent["total"]}
    assert counted(admin, "SELECT count() AS n, sum(value) AS total FROM events", expected) == expected
    per_user = {r["user_id"]: int(r["n"]) for r in admin.rows("SELECT user_id, count() AS n FROM events GROUP BY user_id")}
    assert per_user == sent["users"]
    assert int(admin.rows("SELECT count() AS n FROM events_quarantine")[0]["n"]) == 0
