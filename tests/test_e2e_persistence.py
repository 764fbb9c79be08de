"""What survives a restart: rows, tokens, schema changes, and acknowledged rows after kill -9."""

import signal
import threading
import time

import pytest
import requests

from helpers import TEST_PROJECT, Client, click, copy_project, ndjson
from tblocal.launcher import ServerProcess

pytestmark = pytest.mark.e2e


def client(server: ServerProcess) -> Client:
    return Client(server.url, server.admin_token)


def test_graceful_restart_keeps_rows_tokens_and_pending_writes(tmp_path):
    data = tmp_path / "data"
    first = ServerProcess(TEST_PROJECT, data).start()
    try:
        api = client(first)
        tokens = api.get("/v0/tokens").json()
        assert api.events([click(i, user=f"u{i % 3}", value=i) for i in range(30)]).status_code == 200
        # wait=false rows are still queued when SIGTERM arrives: shutdown must write them
        r = api.events([click(100 + i, user="late") for i in range(10)], wait=False)
        assert r.status_code == 202
    finally:
        # uvicorn re-raises SIGTERM once its graceful shutdown (and our flush) is done
        assert first.stop() in (0, -signal.SIGTERM)
    second = ServerProcess(TEST_PROJECT, data).start()
    try:
        api = client(second)
        assert api.get("/v0/tokens").json() == tokens
        assert api.rows("SELECT user, count() AS n, sum(value) AS v FROM clicks GROUP BY user ORDER BY user") == [
            {"user": "late", "n": 10, "v": 10},
            {"user": "u0", "n": 10, "v": 135},
            {"user": "u1", "n": 10, "v": 145},
            {"user": "u2", "n": 10, "v": 155},
        ]
        assert api.rows("SELECT sum(clicks) AS n FROM clicks_daily_mv") == [{"n": 40}]
        # the materialized view still feeds after a restart, without populating twice
        assert api.events([click(200, user="after")]).status_code == 200
        assert api.rows("SELECT sum(clicks) AS n FROM clicks_daily_mv") == [{"n": 41}]
        assert {d["name"]: d["statistics"]["row_count"] for d in api.get("/v0/datasources").json()["datasources"]}["clicks"] == 41
    finally:
        second.stop()


def test_schema_changes_across_restart(tmp_path):
    root = copy_project(tmp_path / "project")
    data = tmp_path / "data"
    datafile = root / "datasources" / "clicks.datasource"
    with ServerProcess(root, data) as server:
        assert client(server).events([click(1, value=4)]).json() == {"successful_rows": 1, "quarantined_rows": 0}

    # a column added at the end is applied, old rows read its default
    datafile.write_text(datafile.read_text().replace(
        "`tags` String `json:$.tags` DEFAULT '{}'",
        "`tags` String `json:$.tags` DEFAULT '{}',\n    `country` LowCardinality(String) `json:$.country` DEFAULT 'ZZ'",
    ))
    with ServerProcess(root, data) as server:
        api = client(server)
        assert api.events([click(2, value=5, country="ES"), {**click(3, country="FR"), "value": "abc"}]).json() == {
            "successful_rows": 1, "quarantined_rows": 1}
        assert api.rows("SELECT id, value, country FROM clicks ORDER BY id") == [
            {"id": "c1", "value": 4, "country": "ZZ"},
            {"id": "c2", "value": 5, "country": "ES"},
        ]
        assert api.rows("SELECT id, country FROM clicks_quarantine") == [{"id": "c3", "country": "FR"}]

    # a changed column type is refused at start, naming the change; the data dir is left as it was
    datafile.write_text(datafile.read_text().replace("`value` UInt32", "`value` Int64"))
    refused = ServerProcess(root, data)
    with pytest.raises(RuntimeError) as e:
        refused.start()
    assert refused.proc.returncode != 0
    message = str(e.value)
    assert "the datafiles changed in ways tblocal will not apply silently" in message
    assert "data source 'clicks': columns changed or removed: `value` UInt32 DEFAULT 0" in message
    assert "Traceback" not in message

    datafile.write_text(datafile.read_text().replace("`value` Int64", "`value` UInt32"))
    with ServerProcess(root, data) as server:
        assert client(server).rows("SELECT count() AS n FROM clicks") == [{"n": 2}]


def test_acknowledged_rows_survive_kill_9_exactly_once(tmp_path):
    data = tmp_path / "data"
    server = ServerProcess(TEST_PROJECT, data).start()
    url, token = server.url, server.admin_token
    acked: list[str] = []
    sent: list[str] = []
    wrong: list = []  # answers other than a full acknowledgement, while the server was up
    lock = threading.Lock()
    stop, killing = threading.Event(), threading.Event()
    batch = 20

    def writer(n: int) -> None:
        session = requests.Session()
        k = 0
        while not stop.is_set():
            ids = [f"w{n}-b{k}-r{i}" for i in range(batch)]
            k += 1
            with lock:
                sent.extend(ids)
            try:
                r = session.post(f"{url}/v0/events", params={"name": "clicks", "wait": "true", "token": token},
                                 data=ndjson([{"id": i, "user": f"w{n}", "ts": "2024-01-01 00:00:00"} for i in ids]), timeout=10)
                answer = r.json()
            except (requests.RequestException, ValueError) as e:
                if not killing.is_set():
                    with lock:
                        wrong.append(("no full answer", repr(e)[:200]))
                return  # after the kill: the server died under this request (maybe mid-answer), not acknowledged
            with lock:
                if r.status_code == 200 and answer == {"successful_rows": batch, "quarantined_rows": 0}:
                    acked.extend(ids)
                else:
                    wrong.append((r.status_code, r.text[:200]))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 20
        while len(acked) < 30 * batch and time.monotonic() < deadline:
            time.sleep(0.01)
        killing.set()
        server.kill()  # SIGKILL while the writers still have requests in flight
    finally:
        stop.set()
        for t in threads:
            t.join(15)
        server.kill()
    assert wrong == []
    assert len(acked) >= 30 * batch, f"only {len(acked)} rows acknowledged in 20 s"

    with ServerProcess(TEST_PROJECT, data) as restarted:
        api = client(restarted)
        stored = {r["id"]: r["n"] for r in api.rows("SELECT id, count() AS n FROM clicks GROUP BY id")}
    missing = set(acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged rows lost, e.g. {sorted(missing)[:5]}"
    assert {i: n for i, n in stored.items() if n != 1} == {}, "rows stored more than once"
    assert set(stored) <= set(sent)
