"""A write that fails writes nothing: full disk, read-only disk, a view that throws, oversized bodies.

Each fault test first proves the fault happened (refused requests counted above zero), then that no
refused request left a row anywhere (data source, quarantine, views), that every acknowledged row is
there exactly once, and that every view's totals equal its data source's, also after a restart.
The disk faults run the data dir on a small tmpfs this test mounts (as root, or with sudo).
"""

import gzip
import json
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import requests

from helpers import HANG_S, wait_until
from tblocal.launcher import ROOT, ServerProcess

pytestmark = [pytest.mark.e2e]

FAULTS = ROOT / "tests" / "faults"
MARKER = 666  # the clicks_guarded view throws on this value
FIGURES = []  # what each fault run saw, printed at the end (pytest -s) and written next to the test data


# ---------------------------------------------------------------- helpers

def _sudo() -> list[str]:
    return [] if os.geteuid() == 0 else ["sudo", "-n"]


def _mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(_sudo() + ["mount", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def tmpfs(tmp_path):
    """A function mounting a tmpfs of size_mb at a new folder; unmounted at the end."""
    mounted = []

    def mount(name: str, size_mb: int) -> Path:
        path = tmp_path / name
        path.mkdir()
        r = _mount("-t", "tmpfs", "-o", f"size={size_mb}m,mode=0777", "tmpfs", str(path))
        if r.returncode != 0:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"cannot mount a tmpfs in CI (root or passwordless sudo is required): {r.stderr}")
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        _mount("-o", "remount,rw", str(path))
        if subprocess.run(_sudo() + ["umount", str(path)], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(_sudo() + ["umount", "-l", str(path)], capture_output=True, timeout=30)


def on_disk(server: ServerProcess, tmp_path: Path) -> ServerProcess:
    """The server's log kept off the test disk (an open log would block a read-only remount and use its space)."""
    server.log_path = tmp_path / "server.log"
    return server


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path: Path, leave: int) -> Path:
    """A file filling path's disk until about `leave` bytes are free."""
    filler = path / "filler"
    with open(filler, "wb") as f:
        block = b"\xa5" * (256 * 1024)
        while free_bytes(path) - len(block) > leave:
            f.write(block)
            f.flush()
    return filler


def sql(server: ServerProcess, token: str, q: str) -> list[dict]:
    r = requests.post(server.url + "/v0/sql", data={"q": q + " FORMAT JSON"}, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200, r.text[:300]
    return r.json()["data"]


def post(server: ServerProcess, token: str, rows: list[dict], wait: bool, session=None) -> requests.Response:
    body = "\n".join(json.dumps(r) for r in rows)
    return (session or requests).post(
        server.url + "/v0/events", params={"name": "clicks", "wait": "true" if wait else "false"},
        data=body, headers={"Authorization": f"Bearer {token}"}, timeout=30,
    )


def rows_of(req: str, n: int, value: int = 1, pad: int = 0) -> list[dict]:
    return [{"id": f"{req}-{i}", "user": f"u{i % 37}", "ts": f"2024-03-{1 + i % 28:02d} 10:00:00",
             "value": value, "tags": "x" * pad} for i in range(n)]


class Ledger:
    """Every request sent, with its answer."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent: dict[str, int] = {}  # request id -> rows
        self.acked: dict[str, int] = {}  # answered 200/202
        self.refused: dict[str, int] = {}  # answered with an error: must have left nothing
        self.statuses: dict[int, int] = {}

    def record(self, req: str, n: int, status: int) -> None:
        with self.lock:
            self.sent[req] = n
            self.statuses[status] = self.statuses.get(status, 0) + 1
            (self.acked if status in (200, 202) else self.refused)[req] = n

    @property
    def acked_rows(self) -> int:
        return sum(self.acked.values())


def check_all_or_nothing(server: ServerProcess, token: str, ledger: Ledger, quarantined: dict[str, int] | None = None) -> dict:
    """Each acknowledged request's rows are all there once; each refused one's are nowhere; views match the source."""
    quarantined = quarantined or {}
    present = {r["req"]: (int(r["n"]), int(r["u"])) for r in sql(server, token, "SELECT splitByChar('-', id)[1] AS req, count() AS n, uniqExact(id) AS u FROM clicks GROUP BY req")}
    for req, n in ledger.acked.items():
        if req in quarantined:
            assert req not in present, f"{req}: quarantined, yet in the data source"
            continue
        assert present.get(req) == (n, n), f"acknowledged request {req}: {n} rows expected once each, found {present.get(req)}"
    for req in ledger.refused:
        assert req not in present, f"refused request {req} left {present[req][0]} rows in the data source"
    q = {r["req"]: int(r["n"]) for r in sql(server, token, "SELECT splitByChar('-', assumeNotNull(id))[1] AS req, count() AS n FROM clicks_quarantine GROUP BY req")}
    for req in ledger.refused:
        assert req not in q, f"refused request {req} left {q[req]} rows in the quarantine"
    assert q == quarantined, f"quarantine holds {q}, expected {quarantined}"
    raw = sql(server, token, "SELECT count() AS n, sum(value) AS v FROM clicks")[0]
    source = {"rows": int(raw["n"]), "value": int(raw["v"])}
    views = {}
    for view in ("clicks_daily_mv", "clicks_guarded_mv"):
        mv = sql(server, token, f"SELECT sum(clicks) AS n, sum(total_value) AS v FROM {view}")[0]
        views[view] = {"rows": int(mv["n"]), "value": int(mv["v"])}
        assert views[view] == source, f"{view} totals {views[view]} != data source {source}"
    assert source["rows"] == sum(n for req, n in ledger.acked.items() if req not in quarantined)
    return {"source": source, "views": views, "quarantine_rows": sum(q.values())}


def healthy(server: ServerProcess) -> bool:
    return requests.get(server.url + "/v0/health", timeout=5).status_code == 200


def report(name: str, figures: dict, where: Path) -> None:
    FIGURES.append((name, figures))
    (where / f"figures-{name}.json").write_text(json.dumps(figures, indent=1))
    print(f"\n{name}: {json.dumps(figures)}")


FAULT_ENV = {"TBLOCAL_DISK_RESERVE_BYTES": str(2 * 1024 * 1024), "TBLOCAL_INGEST_RETRY": "0.2", "TBLOCAL_COMPACT_AFTER": "0"}


# ---------------------------------------------------------------- full disk

def test_full_disk_refuses_whole_requests_with_507_and_resumes_when_freed(tmpfs, tmp_path):
    disk = tmpfs("disk", 48)
    data = disk / "data"
    server = on_disk(ServerProcess(FAULTS, data, env=FAULT_ENV), tmp_path).start()
    try:
        token = server.admin_token
        ledger = Ledger()
        for k in range(3):  # before the fault: writes work
            r = post(server, token, rows_of(f"pre{k}", 500), wait=True)
            ledger.record(f"pre{k}", 500, r.status_code)
            assert r.status_code == 200, r.text
        filler = fill(disk, leave=3 * 1024 * 1024)

        stop, counter = threading.Event(), iter(range(10**9))
        health_seen, reads_ok = [], []

        def writer(w: int) -> None:
            session = requests.Session()
            while not stop.is_set():
                req = f"w{w}n{next(counter)}"
                rows = rows_of(req, 2000, value=1 + w, pad=40)
                r = post(server, token, rows, wait=(w % 2 == 0), session=session)
                ledger.record(req, len(rows), r.status_code)
                if r.status_code not in (200, 202):
                    body = r.json()
                    assert set(body) == {"error", "documentation"}, body
                    if r.status_code == 507:
                        assert "full" in body["error"] and str(data.resolve()) in body["error"], body

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and ledger.statuses.get(507, 0) < 20:
            time.sleep(0.1)
        # during the fault: health is degraded, reads work
        h = requests.get(server.url + "/v0/health", timeout=5)
        health_seen.append(h.status_code)
        reads_ok.append(requests.post(server.url + "/v0/sql", data={"q": "SELECT count() FROM clicks"}, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code)
        stop.set()
        for t in threads:
            t.join(60)
        statuses = dict(ledger.statuses)
        assert statuses.get(507, 0) > 0, f"the disk never filled: {statuses}"
        assert set(statuses) <= {200, 202, 507}, f"a failed write must answer 507, never anything else: {statuses}"
        assert h.status_code == 503 and h.json()["status"] == "degraded" and "full" in h.json()["reason"], h.text
        assert reads_ok == [200]
        for wait in (True, False):  # a new write during the fault is refused, wait or not
            r = post(server, token, rows_of(f"during{wait}", 10), wait=wait)
            ledger.record(f"during{wait}", 10, r.status_code)
            assert r.status_code == 507, r.text

        rows_at_free = int(sql(server, token, "SELECT count() AS n FROM clicks")[0]["n"])
        filler.unlink()  # space returns: writes resume by themselves, no restart
        resumed = time.monotonic()
        wait_until(lambda: healthy(server), HANG_S, "health to come back")
        r = post(server, token, rows_of("after", 100), wait=True)
        ledger.record("after", 100, r.status_code)
        assert r.status_code == 200, r.text
        wait_until(lambda: int(sql(server, token, "SELECT count() AS n FROM clicks")[0]["n"]) >= ledger.acked_rows, HANG_S,
                   "queued wait=false rows to be written")
        resume_s = time.monotonic() - resumed
        before = check_all_or_nothing(server, token, ledger)
        server.stop()
        server.start()
        after = check_all_or_nothing(server, token, ledger)
        assert after == before
        report("full_disk", {
            "requests": len(ledger.sent), "statuses": {str(k): v for k, v in sorted(ledger.statuses.items())},
            "acknowledged_requests": len(ledger.acked), "acknowledged_rows": ledger.acked_rows,
            "refused_requests": len(ledger.refused), "refused_rows": sum(ledger.refused.values()),
            "rows_in_source_when_space_returned": rows_at_free, "health_during_fault": health_seen, "resumed_within_s": round(resume_s, 2),
            "after_restart": after, "commits_refused_by_chdb": server.log_path.read_text().count("Cannot reserve"),
        }, tmp_path)
    finally:
        server.kill()


# ---------------------------------------------------------------- read-only data dir

def test_read_only_data_dir_refuses_with_507_and_resumes_when_writable(tmpfs, tmp_path):
    disk = tmpfs("rodisk", 64)
    data = disk / "data"
    (data / "chdb").mkdir(parents=True)
    # The server keeps two files open for writing (chDB's chdb/status and tblocal.lock), which blocks a
    # read-only remount: they are symlinks to files off the test disk. Everything else is on it.
    def link_status():
        for name in ("chdb/status", "tblocal.lock"):
            outside = tmp_path / name.replace("/", "-")
            outside.touch()
            (data / name).unlink(missing_ok=True)
            (data / name).symlink_to(outside)

    link_status()
    server = on_disk(ServerProcess(FAULTS, data, env=FAULT_ENV), tmp_path).start()
    try:
        token = server.admin_token
        ledger = Ledger()
        for k in range(3):
            r = post(server, token, rows_of(f"pre{k}", 300), wait=k != 1)
            ledger.record(f"pre{k}", 300, r.status_code)
            assert r.status_code in (200, 202), r.text
        wait_until(lambda: int(sql(server, token, "SELECT count() AS n FROM clicks")[0]["n"]) == ledger.acked_rows, HANG_S, "rows to land")
        stop, counter = threading.Event(), iter(range(10**9))

        def writer(w: int) -> None:  # in flight when the disk turns read-only
            session = requests.Session()
            while not stop.is_set():
                req = f"f{w}n{next(counter)}"
                r = post(server, token, rows_of(req, 400), wait=w != 1, session=session)
                ledger.record(req, 400, r.status_code)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        deadline = time.monotonic() + HANG_S
        while True:  # EBUSY while the server holds a file open for writing (a batch being spooled)
            r = _mount("-o", "remount,ro", str(disk))
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert r.returncode == 0, r.stderr
        try:
            time.sleep(0.5)
            stop.set()
            for t in threads:
                t.join(60)
            assert set(ledger.statuses) <= {200, 202, 507}, ledger.statuses
            for k in range(12):
                req = f"ro{k}"
                r = post(server, token, rows_of(req, 200), wait=k % 2 == 0)
                ledger.record(req, 200, r.status_code)
                assert r.status_code == 507, r.text
                assert "read-only" in r.json()["error"], r.text
            h = requests.get(server.url + "/v0/health", timeout=5)
            assert h.status_code == 503 and h.json()["status"] == "degraded", h.text
            rows_during = int(sql(server, token, "SELECT count() AS n FROM clicks")[0]["n"])  # reads work
            assert rows_during <= ledger.acked_rows  # acknowledged wait=false rows may wait in the queue
        finally:
            assert _mount("-o", "remount,rw", str(disk)).returncode == 0
        assert len(ledger.refused) > 0
        wait_until(lambda: healthy(server), HANG_S, "health to come back")
        for k in range(3):
            r = post(server, token, rows_of(f"post{k}", 300), wait=k != 1)
            ledger.record(f"post{k}", 300, r.status_code)
            assert r.status_code in (200, 202), r.text
        wait_until(lambda: int(sql(server, token, "SELECT count() AS n FROM clicks")[0]["n"]) >= ledger.acked_rows, HANG_S, "rows to land")
        before = check_all_or_nothing(server, token, ledger)
        server.stop()
        link_status()
        server.start()
        after = check_all_or_nothing(server, token, ledger)
        assert after == before
        report("read_only", {"requests": len(ledger.sent), "statuses": {str(k): v for k, v in sorted(ledger.statuses.items())},
                             "acknowledged_rows": ledger.acked_rows, "rows_in_source_while_read_only": rows_during, "after_restart": after,
                             "commits_refused_by_chdb": server.log_path.read_text().count("Read-only file system")}, tmp_path)
    finally:
        server.kill()


# ---------------------------------------------------------------- a view that throws

def test_a_view_that_throws_fails_only_its_request_and_writes_none_of_it(tmp_path):
    server = ServerProcess(FAULTS, tmp_path / "data", env=FAULT_ENV).start()
    try:
        token = server.admin_token
        ledger, quarantined = Ledger(), {}
        lock = threading.Lock()

        def writer(w: int) -> None:
            session = requests.Session()
            for k in range(12):
                req = f"v{w}k{k}"
                bad = (k % 4 == 3)
                rows = rows_of(req, 50 + k, value=2)
                if bad:
                    rows[len(rows) // 2]["value"] = MARKER
                wait = not (bad and w % 2 == 1)  # some poisoned requests are wait=false
                r = post(server, token, rows, wait=wait, session=session)
                ledger.record(req, len(rows), r.status_code)
                if bad and wait:
                    assert r.status_code == 400, r.text
                    assert "666" in r.json()["error"], r.text
                else:
                    assert r.status_code in (200, 202), r.text
                    if bad:
                        with lock:
                            quarantined[req] = len(rows)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert ledger.statuses.get(400, 0) > 0, ledger.statuses
        assert quarantined, "no acknowledged poisoned request"
        wait_until(lambda: int(sql(server, token, "SELECT count() AS n FROM clicks_quarantine")[0]["n"]) >= sum(quarantined.values()), HANG_S, "quarantine")
        before = check_all_or_nothing(server, token, ledger, quarantined)
        server.stop()
        server.start()
        after = check_all_or_nothing(server, token, ledger, quarantined)
        assert after == before
        report("view_throws", {"requests": len(ledger.sent), "statuses": {str(k): v for k, v in sorted(ledger.statuses.items())},
                               "acknowledged_rows": ledger.acked_rows, "quarantined_requests": len(quarantined),
                               "after_restart": after}, tmp_path)
    finally:
        server.kill()


# ---------------------------------------------------------------- bodies every client can read the error of

@pytest.fixture(scope="module")
def urllib_server(tmp_path_factory):
    server = ServerProcess(FAULTS, tmp_path_factory.mktemp("urllib") / "data").start()
    yield server
    server.stop()


def _urlopen(req: urllib.request.Request) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _events_url(server: ServerProcess, extra: str = "") -> str:
    return f"{server.url}/v0/events?name=clicks&wait=true{extra}"


def test_urllib_gets_the_json_413_for_an_oversized_body(urllib_server):
    token = urllib_server.admin_token
    line = json.dumps(rows_of("big", 1, pad=200)[0]).encode() + b"\n"
    body = line * (11 * 1024 * 1024 // len(line) + 1)  # 11 MB: over the 10 MB limit
    req = urllib.request.Request(_events_url(urllib_server), data=body, method="POST", headers={"Authorization": f"Bearer {token}"})
    status, answer = _urlopen(req)
    assert status == 413 and set(answer) == {"error", "documentation"}, answer


def test_urllib_gets_the_json_413_for_an_oversized_chunked_body(urllib_server):
    token = urllib_server.admin_token
    chunk = b'{"id": "c", "user": "u", "ts": "2024-03-01 10:00:00"}\n' * 20000

    def chunks():
        for _ in range(11 * 1024 * 1024 // len(chunk) + 1):
            yield chunk

    req = urllib.request.Request(_events_url(urllib_server), data=chunks(), method="POST", headers={"Authorization": f"Bearer {token}"})
    status, answer = _urlopen(req)
    assert status == 413 and set(answer) == {"error", "documentation"}, answer


def test_urllib_gets_the_json_413_for_a_gzip_bomb(urllib_server):
    token = urllib_server.admin_token
    body = gzip.compress(b'{"id": "z", "user": "u", "ts": "2024-03-01 10:00:00"}\n' * 400_000)  # ~22 MB once inflated
    req = urllib.request.Request(_events_url(urllib_server), data=body, method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Encoding": "gzip"})
    status, answer = _urlopen(req)
    assert status == 413 and "decompressed" in answer["error"], answer


@pytest.mark.parametrize("with_body", [False, True], ids=["get", "post-with-body"])
def test_urllib_gets_the_json_414_for_a_long_url(urllib_server, with_body):
    token = urllib_server.admin_token
    url = _events_url(urllib_server, "&pad=" + "a" * (70 * 1024))
    data = (b'{"id": "l", "user": "u", "ts": "2024-03-01 10:00:00"}\n' * 200_000) if with_body else None  # ~11 MB
    req = urllib.request.Request(url, data=data, method="POST" if with_body else "GET", headers={"Authorization": f"Bearer {token}"})
    status, answer = _urlopen(req)
    assert status == 414 and set(answer) == {"error", "documentation"}, answer
    n = sql(urllib_server, token, "SELECT count() AS n FROM clicks WHERE id IN ('l', 'c', 'z') OR startsWith(id, 'big')")[0]["n"]
    assert int(n) == 0, "a refused body wrote rows"


# ---------------------------------------------------------------- kill -9 at every point of publishing (in process)

class Killed(BaseException):
    """Stands for kill -9: nothing after it runs, no handler sees it."""


def _count(engine, db: str) -> dict:
    q = lambda sql: engine.rows(sql)[0]  # noqa: E731
    return {
        "source": {k: int(v) for k, v in q(f"SELECT count() AS rows, sum(value) AS value FROM {db}.clicks").items()},
        "clicks_daily_mv": {k: int(v) for k, v in q(f"SELECT sum(clicks) AS rows, sum(total_value) AS value FROM {db}.clicks_daily_mv").items()},
        "clicks_guarded_mv": {k: int(v) for k, v in q(f"SELECT sum(clicks) AS rows, sum(total_value) AS value FROM {db}.clicks_guarded_mv").items()},
        "quarantine": int(q(f"SELECT count() AS n FROM {db}.clicks_quarantine")["n"]),
        "distinct_ids": int(q(f"SELECT uniqExact(id) AS n FROM {db}.clicks")["n"]),
    }


@pytest.mark.parametrize("crash_after_attaches", range(8))
def test_kill_during_publish_is_finished_at_the_next_start(engine, tmp_path, monkeypatch, crash_after_attaches):
    """A commit's staged rows span two months (two partitions in the source and in each view) plus a quarantined
    line: 7 attaches. A crash after any number of them (7: all done, the journal not yet removed) is rolled
    forward at the next start: every row once, views equal to the source."""
    from tblocal.ddl import Schema
    from tblocal.write import Ingestor, Request
    from tblocal.pipes import Renderer
    from tblocal.project import load_project

    project = load_project(FAULTS)
    db = f"wf_crash_{crash_after_attaches}"
    Schema(engine, tmp_path / "schema.json").apply(project, Renderer(project, db))
    journal = tmp_path / "committing"
    ingestor = Ingestor(engine, project, db, 1 << 30, journal=journal)
    ingestor.write_now("clicks", [Request("\n".join(json.dumps(r) for r in rows_of("first", 10)).encode())])
    rows = rows_of("second", 40, value=3) + [{"id": f"second-m{i}", "user": "u", "ts": f"2024-04-0{1 + i} 10:00:00", "value": 3} for i in range(5)]
    body = ("\n".join(json.dumps(r) for r in rows) + '\n{"id": "second-bad", "ts": "not a time"}').encode()

    real_execute, attaches, attach_lock = engine.execute, [], threading.Lock()

    def crashing(sql, settings=None):
        if " ATTACH PARTITION " not in sql:
            return real_execute(sql, settings)
        # one ALTER may attach several partitions: run its commands one by one, to crash between any two
        prefix = sql[: sql.index("ATTACH PARTITION")]
        for command in re.findall(r"ATTACH PARTITION ID '[^']*' FROM [^,]+", sql):
            with attach_lock:  # tables are attached side by side: count them one at a time
                if len(attaches) >= crash_after_attaches:
                    raise Killed()
                real_execute(prefix + command, settings)
                attaches.append(command)

    monkeypatch.setattr(engine, "execute", crashing)
    if crash_after_attaches == 7:
        monkeypatch.setattr(ingestor.staging, "_remove_journal", lambda: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        ingestor.write_now("clicks", [Request(body)])
    monkeypatch.undo()
    assert len(attaches) == crash_after_attaches
    assert journal.exists()

    restarted = Ingestor(engine, project, db, 1 << 30, journal=journal)  # what the next start does
    assert not journal.exists()
    counts = _count(engine, db)
    assert counts["source"] == {"rows": 55, "value": 10 + 45 * 3}
    assert counts["distinct_ids"] == 55
    assert counts["clicks_daily_mv"] == counts["source"] == counts["clicks_guarded_mv"]
    assert counts["quarantine"] == 1
    restarted.write_now("clicks", [Request(b'{"id": "third-0", "user": "u", "ts": "2024-03-05 10:00:00", "value": 1}')])
    assert _count(engine, db)["source"] == {"rows": 56, "value": 146}
    restarted.staging.close()
    engine.execute(f"DROP DATABASE {db} SYNC")


def test_kill_before_publishing_leaves_nothing(engine, tmp_path, monkeypatch):
    """A crash while staging (before the journal) leaves only shadow rows, dropped at the next start."""
    from tblocal.ddl import Schema
    from tblocal.write import Ingestor, Request
    from tblocal.pipes import Renderer
    from tblocal.project import load_project

    project = load_project(FAULTS)
    db = "wf_crash_staging"
    Schema(engine, tmp_path / "schema.json").apply(project, Renderer(project, db))
    journal = tmp_path / "committing"
    ingestor = Ingestor(engine, project, db, 1 << 30, journal=journal)
    monkeypatch.setattr(ingestor.staging, "_write_journal", lambda state: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        ingestor.write_now("clicks", [Request("\n".join(json.dumps(r) for r in rows_of("lost", 20)).encode())])
    assert int(engine.scalar(f"SELECT count() FROM {db}__shadow.clicks")) == 20  # staged, not published
    Ingestor(engine, project, db, 1 << 30, journal=journal).staging.close()
    counts = _count(engine, db)
    assert counts["source"]["rows"] == 0 and counts["clicks_daily_mv"]["rows"] == 0 and counts["quarantine"] == 0
    engine.execute(f"DROP DATABASE {db} SYNC")
