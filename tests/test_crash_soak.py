"""Crash safety: kill -9 the server again and again under concurrent wait=true ingestion. After every
restart on the same data dir, each acknowledged row is there exactly once, and no row is there twice."""

import json
import random
import threading
import time

import pytest
import requests

from tblocal.launcher import ROOT, ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SEED = 20240601
CYCLES = 8
WRITERS = 6
BUDGET_S = 60


def writer(url: str, token: str, name: str, rng: random.Random, acked: list, stop: threading.Event, errors: list) -> None:
    """POST batches with wait=true until the server dies; keep the ids of every acknowledged batch."""
    session, seq = requests.Session(), 0
    while not stop.is_set():
        n = rng.randint(1, 200)
        ids = [f"{name}-{seq}-{i}" for i in range(n)]
        seq += 1
        body = "\n".join(
            json.dumps({"id": i, "user": f"u{rng.randint(0, 50)}", "ts": f"2024-03-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:00:00", "value": rng.randint(0, 9)})
            for i in ids
        )
        try:
            r = session.post(url + "/v0/events", params={"name": "clicks", "wait": "true"}, data=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
            answer = r.json() if r.status_code == 200 else None
        except requests.RequestException:
            return  # the server was killed: this batch is unacknowledged, it may or may not be there
        except Exception as e:  # anything else is a failure of the test, reported by the main thread
            errors.append(repr(e))
            return
        if answer != {"successful_rows": n, "quarantined_rows": 0}:
            errors.append((r.status_code, r.text[:200]))
            return
        acked.extend(ids)


def query(server: ServerProcess, token: str, q: str) -> list[dict]:
    r = requests.post(server.url + "/v0/sql", data={"q": q + " FORMAT JSON"}, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert r.status_code == 200, r.text[:300]
    return r.json()["data"]


def test_kill_9_under_ingestion_loses_and_duplicates_nothing(tmp_path):
    rng = random.Random(SEED)
    server = ServerProcess(ROOT / "tests" / "project", tmp_path / "data").start()
    token = server.admin_token
    acked: list[str] = []
    started, kills, checked = time.monotonic(), 0, 0
    try:
        for cycle in range(CYCLES):
            if time.monotonic() - started > BUDGET_S:
                break
            stop, errors, threads = threading.Event(), [], []
            for w in range(WRITERS):
                t = threading.Thread(target=writer, args=(server.url, token, f"c{cycle}w{w}", random.Random(rng.random()), acked, stop, errors))
                t.start()
                threads.append(t)
            time.sleep(rng.uniform(0.5, 2.0))
            server.kill()  # SIGKILL while batches are in flight
            kills += 1
            stop.set()
            for t in threads:
                t.join(60)
                assert not t.is_alive(), "a writer hung on a dead server"
            assert errors == [], errors
            server.start()
            assert server.admin_token == token, "the admin token survives a crash"

            present = [r["id"] for r in query(server, token, "SELECT id FROM clicks")]
            counts: dict[str, int] = {}
            for i in present:
                counts[i] = counts.get(i, 0) + 1
            twice = [i for i, c in counts.items() if c > 1]
            missing = [i for i in acked if i not in counts]
            assert twice == [], f"cycle {cycle}: {len(twice)} rows present twice, e.g. {twice[:5]}"
            assert missing == [], f"cycle {cycle}: {len(missing)} acknowledged rows lost, e.g. {missing[:5]}"
            checked = len(acked)
            # the materialized view saw exactly the rows of its source, crash or not
            mv = query(server, token, "SELECT sum(clicks) AS n, sum(total_value) AS v FROM clicks_daily_mv")[0]
            raw = query(server, token, "SELECT count() AS n, sum(value) AS v FROM clicks")[0]
            assert (int(mv["n"]), int(mv["v"])) == (int(raw["n"]), int(raw["v"])), f"cycle {cycle}: MV {mv} != source {raw}"
        assert kills >= 4 and checked > 1000, (kills, checked)
        print(f"crash soak: {kills} kill -9 cycles, {checked} acknowledged rows checked, none lost, none twice")
    finally:
        server.kill()
