"""Tinybird's Python (tinybird-sdk) and TypeScript (@tinybirdco/sdk) SDKs against a real tblocal on loopback.

Every call their READMEs document for the public API and JWTs, each through the SDK itself (a
subprocess in its own environment, tests/sdk/*_sdk.*), with the same data and the same exact answers
for both SDKs. What the server holds afterwards is read over tblocal's own HTTP API.
"""

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from helpers import ndjson, serving
from sdk_helpers import earlier_sdk, emptied, ok, run_calls, sdk_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SDKS = ["python", "typescript"]
QUEUE_BYTES = 256 * 1024  # the server's ingest queue: a batch larger than this is refused with 429


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """tblocal with a small ingest queue, so that a large batch is refused with 429."""
    yield from sdk_server(tmp_path_factory, "sdk-api", TBLOCAL_INGEST_QUEUE_BYTES=str(QUEUE_BYTES))


@pytest.fixture
def admin(server):
    return emptied(server)


def calls(sdk, server, *plan):
    return run_calls(sdk, server.url, server.admin_token, *plan)


def event(i: int, prefix: str = "e") -> dict:
    """Row i of the test data: three users, three kinds, one event every 40 minutes from 2024-01-01."""
    minutes = 40 * i
    return {"id": f"{prefix}{i}", "user_id": f"u{i % 3 + 1}", "kind": ("click", "view", "share")[i % 3 if i % 5 else 0],
            "ts": f"2024-01-{1 + minutes // 1440:02d} {minutes % 1440 // 60:02d}:{minutes % 60:02d}:00", "value": i}


def ingest(admin, rows) -> bool:
    """Write rows to events over HTTP (the data a test then reads through an SDK)."""
    return admin.post("/v0/events", ndjson(rows), name="events", wait="true").status_code == 200


def quarantined(admin) -> int:
    return int(admin.rows("SELECT count() AS n FROM events_quarantine")[0]["n"])


def count(admin, where: str = "1") -> int:
    return int(admin.rows(f"SELECT count() AS n FROM events WHERE {where}")[0]["n"])


def ids(admin) -> list[str]:
    return [r["id"] for r in admin.rows("SELECT id FROM events ORDER BY id")]


def filtered(rows, min_value: int, kinds: list[str], since: str, day: str) -> list[dict]:
    """What events_filtered answers for rows: per user, the events at or above min_value, of kinds, since, on day."""
    per_user: dict[str, dict] = {}
    for r in rows:
        if r["value"] >= min_value and r["kind"] in kinds and r["ts"] >= since and r["ts"].startswith(day):
            e = per_user.setdefault(r["user_id"], {"user_id": r["user_id"], "events": 0, "total": 0, "first_ts": r["ts"]})
            e["events"], e["total"], e["first_ts"] = e["events"] + 1, e["total"] + r["value"], min(e["first_ts"], r["ts"])
    return sorted(per_user.values(), key=lambda e: e["user_id"])


def answered(query: dict) -> list[dict]:
    return [{**r, "events": int(r["events"]), "total": int(r["total"])} for r in ok(query)["data"]]


@pytest.mark.parametrize("sdk", SDKS)
def test_ingest_and_ingest_batch_wait_then_query_scalars_arrays_and_dates(sdk, server, admin):
    rows = [event(i) for i in range(120)]
    one, batch, query = calls(sdk, server,
                              ("ingest", {"datasource": "events", "rows": rows[:1]}),
                              ("ingest", {"datasource": "events", "rows": rows[1:], "wait": True}),
                              ("query", {"pipe": "events_filtered", "params": {
                                  "min_value": 10, "kinds": ["click", "share"], "since": "2024-01-01 12:00:00", "day": "2024-01-02"}}))
    assert ok(one)["successful_rows"] == 1 and ok(one)["quarantined_rows"] == 0
    assert ok(batch)["successful_rows"] == 119 and ok(batch)["quarantined_rows"] == 0
    assert count(admin) == 120  # wait=true: written when answered
    expected = filtered(rows, 10, ["click", "share"], "2024-01-01 12:00:00", "2024-01-02")
    assert answered(query) == expected and len(expected) == 3
    assert [m["name"] for m in ok(query)["meta"]] == ["user_id", "events", "total", "first_ts"]


def test_python_query_takes_datetime_and_date_objects(server, admin):
    rows = [event(i) for i in range(90)]
    assert ingest(admin, rows)
    query, = calls("python", server, ("query", {"pipe": "events_filtered", "params": {
        "kinds": ["view"], "since": {"datetime": "2024-01-01T20:00:00"}, "day": {"date": "2024-01-02"}}}))
    expected = filtered(rows, 0, ["view"], "2024-01-01 20:00:00", "2024-01-02")
    assert answered(query) == expected and expected


@pytest.mark.parametrize("sdk", SDKS)
def test_sql(sdk, server, admin):
    rows = [event(i) for i in range(30)]
    assert ingest(admin, rows)
    answer = ok(calls(sdk, server, ("sql", {"sql": "SELECT user_id, count() AS n, sum(value) AS total FROM events GROUP BY user_id ORDER BY user_id"}))[0])
    expected = [{"user_id": u, "n": sum(1 for r in rows if r["user_id"] == u), "total": sum(r["value"] for r in rows if r["user_id"] == u)}
                for u in ("u1", "u2", "u3")]
    assert [{**r, "n": int(r["n"]), "total": int(r["total"])} for r in answer["data"]] == expected


def write_files(folder, rows) -> dict[str, str]:
    """rows as events.ndjson, events.csv (no header, the schema's column order) and events.parquet in folder."""
    folder.mkdir(exist_ok=True)
    (folder / "events.ndjson").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with open(folder / "events.csv", "w", newline="") as f:
        csv.writer(f).writerows([[r["id"], r["user_id"], r["kind"], r["ts"], r["value"]] for r in rows])
    table = pa.table({"id": [r["id"] for r in rows], "user_id": [r["user_id"] for r in rows], "kind": [r["kind"] for r in rows],
                      "ts": pa.array([r["ts"] for r in rows]).cast(pa.timestamp("s")), "value": pa.array([r["value"] for r in rows], pa.int32())})
    pq.write_table(table, folder / "events.parquet")
    return {fmt: str(folder / f"events.{fmt}") for fmt in ("ndjson", "csv", "parquet")}


@pytest.mark.parametrize("sdk", SDKS)
@pytest.mark.parametrize("fmt", ["ndjson", "csv", "parquet"])
def test_append_a_file(sdk, fmt, server, admin, tmp_path):
    rows = [event(i, prefix=fmt) for i in range(50)]
    before = quarantined(admin)
    answer = ok(calls(sdk, server, ("append", {"datasource": "events", "file": write_files(tmp_path, rows)[fmt]}))[0])
    assert answer.get("error") in (None, False), answer
    assert ids(admin) == sorted(r["id"] for r in rows)
    assert int(admin.rows("SELECT sum(value) AS s FROM events")[0]["s"]) == sum(r["value"] for r in rows)
    assert quarantined(admin) == before


@pytest.mark.parametrize("sdk", SDKS)
def test_append_then_replace_from_a_url(sdk, server, admin, tmp_path):
    appended = [event(i, prefix="a") for i in range(40)]
    replacing = [event(i, prefix="r") for i in range(25)]
    files = {"events.ndjson": write_files(tmp_path / "first", appended)["ndjson"], "events.csv": write_files(tmp_path / "second", replacing)["csv"]}
    with serving({name: Path(path).read_bytes() for name, path in files.items()}) as base:
        landed(admin, calls(sdk, server, ("append", {"datasource": "events", "url": f"{base}/events.ndjson"}))[0])
        assert ids(admin) == sorted(r["id"] for r in appended)
        landed(admin, calls(sdk, server, ("replace", {"datasource": "events", "url": f"{base}/events.csv"}))[0])
    assert ids(admin) == sorted(r["id"] for r in replacing)  # the replace dropped every appended row


@pytest.mark.parametrize("sdk", SDKS)
def test_delete_dry_run_then_real_then_truncate(sdk, server, admin):
    rows = [event(i) for i in range(60)]
    assert ingest(admin, rows)
    doomed = sum(1 for r in rows if r["user_id"] == "u2")
    dry, real = calls(sdk, server,
                      ("delete", {"datasource": "events", "condition": "user_id = 'u2'", "dry_run": True}),
                      ("delete", {"datasource": "events", "condition": "user_id = 'u2'"}))
    assert ok(dry)["rows_to_be_deleted"] == doomed
    job = ok(real)
    assert job["job_id"] and job["delete_condition"] == "user_id = 'u2'"
    done = wait_for_job(admin, job["job_id"])
    assert done["status"] == "done", done
    assert count(admin) == len(rows) - doomed and count(admin, "user_id = 'u2'") == 0
    ok(calls(sdk, server, ("truncate", {"datasource": "events"}))[0])
    assert count(admin) == 0


def landed(admin, answer: dict) -> None:
    """Return once an append or replace has landed: Tinybird may answer a URL import with a job still running."""
    if ok(answer).get("status") not in (None, "done"):
        assert wait_for_job(admin, ok(answer)["job_id"])["status"] == "done"


def wait_for_job(admin, job_id: str) -> dict:
    """The job once it has finished (GET /v0/jobs/<id>, as the SDKs' users poll it)."""
    for _ in range(300):
        job = admin.get(f"/v0/jobs/{job_id}").json()
        if job["status"] in ("done", "error"):
            return job
        requests.get(admin.url + "/v0/health", timeout=5)  # a round trip between polls, no sleep
    raise AssertionError(f"job {job_id} still {job['status']}")


@pytest.mark.parametrize("sdk", SDKS)
def test_jwt_fixed_params_pin_the_user_other_pipes_403_and_rps_429(sdk, server, admin):
    rows = [event(i) for i in range(45)]
    assert ingest(admin, rows)
    scope = {"type": "PIPES:READ", "resource": "user_totals", "fixed_params": {"user_id": "u2"}}
    pinned, limited = calls(sdk, server,
                            ("create_jwt", {"name": f"{sdk}_user_u2", "expires_in": 600, "scopes": [scope]}),
                            ("create_jwt", {"name": f"{sdk}_rps", "expires_in": 600, "scopes": [scope], "limits": {"rps": 1}}))
    jwt, rps_jwt = ok(pinned)["token"], ok(limited)["token"]
    mine, other_pipe, *bursts = calls(sdk, server,
                                      ("query", {"pipe": "user_totals", "params": {"user_id": "u1"}, "token": jwt}),
                                      ("query", {"pipe": "kind_counts", "token": jwt}),
                                      *[("query", {"pipe": "user_totals", "token": rps_jwt})] * 4)
    u2 = [r for r in rows if r["user_id"] == "u2"]
    assert [{k: int(v) for k, v in r.items()} for r in ok(mine)["data"]] == [{"events": len(u2), "total": sum(r["value"] for r in u2)}]
    assert other_pipe.get("status") == 403, other_pipe
    assert "ok" in bursts[0] and 429 in [b.get("status") for b in bursts[1:]], bursts  # one a second: two of four calls share one unless they take 2 s


@pytest.mark.parametrize("sdk", SDKS)
def test_ingest_retries_wait_as_the_429_says(sdk, server, admin):
    rows = [event(i) | {"kind": "x" * 200} for i in range(1200)]  # more bytes than the server's whole ingest queue
    assert len("\n".join(json.dumps(r) for r in rows)) > QUEUE_BYTES
    raw = requests.post(f"{server.url}/v0/events", params={"name": "events", "wait": "true", "token": server.admin_token},
                        data="\n".join(json.dumps(r) for r in rows), timeout=30)
    assert raw.status_code == 429, raw.text
    retry_after = raw.headers.get("Retry-After")
    assert retry_after and retry_after.isdigit(), f"a 429 without a Retry-After in seconds: {dict(raw.headers)}"
    answer = calls(sdk, server, ("ingest", {"datasource": "events", "rows": rows, "max_retries": 2}))[0]
    assert answer.get("status") == 429 and answer["requests"] == [429, 429, 429], answer
    assert answer["sleeps"] == [int(retry_after) * 1000] * 2, answer  # waited as told, twice, instead of spinning
    assert count(admin) == 0


def test_earlier_sdk_waits_on_a_429_instead_of_spinning(server, admin):
    rows = [event(i) | {"kind": "x" * 200} for i in range(1200)]  # one flush larger than the server's whole ingest queue
    done = earlier_sdk(server, mode="sink", rows=rows, flush_every=len(rows), stop_after=2)
    assert done["requests"] == [429, 429], done
    # tb/api.py waits before a retry only when the 429 said X-Ratelimit-Remaining: 0; it reads X-Ratelimit-Reset as an
    # epoch, so Tinybird's seconds-until-reset make it wait its floor of 2 s (before each retry, and again at exit's flush)
    assert len(done["sleeps"]) >= 2 and set(done["sleeps"]) == {2}, f"the earlier SDK retried the 429 without waiting: {done}"
    assert count(admin) == 0


@pytest.mark.parametrize("sdk", SDKS)
def test_workspace_request_with_the_token(sdk, server, admin):
    workspace = ok(calls(sdk, server, ("workspace", {}))[0])
    listed = requests.get(f"{server.url}/v1/user/workspaces", params={"token": server.admin_token}, timeout=10).json()["workspaces"]
    assert workspace["name"] in [w["name"] for w in listed] and workspace["id"]
