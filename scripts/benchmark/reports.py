#!/usr/bin/env python3
"""`make bench`: tblocal against plain chDB, measured side by side in one run.

For each size (1M, 3M, 10M events up to --events), with the same generated NDJSON:

  raw   (a subprocess, its own chDB dir): INSERT ... FORMAT JSONEachRow of the same 10k-row
        batches into a MergeTree with user_events' schema, then the naive SQL of each endpoint
        (scripts/bench_naive.sql) on that raw table;
  tblocal (a server subprocess, fresh data dir): the same batches through the Events API
        (gzip, --clients concurrent clients, wait=true: durable, validated, quarantine on),
        every endpoint case (p50/p95/p99), endpoint p90 idle vs under six heavy /v0/sql queries
        (scripts/bench_isolation.py), single-event ingest with wrk (--connections), RSS, and
        last (it changes the data) forgetting users (scripts/bench_forget_user.py).

Absolute times drift between machines and runs; the ratios are what the targets are about.
Results: bench/out/bench.json, bench/out/bench.png, and a table on stdout.

    .venv/bin/python scripts/bench.py --events 1000000
    .venv/bin/python scripts/bench.py --events 10000000 --json docs/bench.json --chart docs/bench.png
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import platform
import queue
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tblocal.launcher import ServerProcess  # noqa: E402
import bench_forget_user  # noqa: E402
import bench_isolation  # noqa: E402
import bench_stream  # noqa: E402
from tblocal.settings import Settings  # noqa: E402
import bench_usage  # noqa: E402  (scripts/, next to this file)
PY = sys.executable
NAIVE_SQL = ROOT / "scripts" / "bench_naive.sql"
CHECKPOINTS = (1_000_000, 3_000_000, 10_000_000)
COMPACT_AFTER_S = Settings.from_env().compact_after_s
DATE_RANGE = {"start_date": "2024-03-18 06:30:00", "end_date": "2024-03-25 18:45:10"}

# Targets of the issue (ratios are tblocal / raw chDB from the same run).
TARGETS = {
    "batch_ingest_ratio_min": 1.0,
    "single_rps_min": 2000,
    "single_p99_ms_max": 50,
    "endpoint_ratio_max": 0.25,
    "user_p50_ms_max": 20,
    "global_p50_ms_max": 50,
    "rss_mb_max": 1536,
}


# ---------------------------------------------------------------- cases

def cases(users: list[str]) -> list[dict]:
    """Endpoint calls with typical parameters. user-scoped cases rotate over sampled users."""
    u = {"user_id": users}
    return [
        {"name": "affinity_user", "pipe": "user_content_affinity", "scope": "user", "params": {**u}},
        {"name": "affinity_user_type_range", "pipe": "user_content_affinity", "scope": "user",
         "params": {**u, "by": "content_type", **DATE_RANGE}},
        {"name": "affinity_global", "pipe": "user_content_affinity", "scope": "global", "params": {}},
        {"name": "recperf_global", "pipe": "recommendation_performance", "scope": "global", "params": {}},
        {"name": "recperf_range_ios", "pipe": "recommendation_performance", "scope": "global",
         "params": {**DATE_RANGE, "platform": "ios"}},
        {"name": "sessions_user", "pipe": "session_analysis", "scope": "user", "params": {**u}},
        {"name": "sessions_range", "pipe": "session_analysis", "scope": "global", "params": {**DATE_RANGE}},
        {"name": "content_global", "pipe": "content_engagement", "scope": "global", "params": {}},
        {"name": "content_range_click", "pipe": "content_engagement", "scope": "global",
         "params": {**DATE_RANGE, "event_type": "click"}},
        {"name": "userrecs_user", "pipe": "user_recommendations", "scope": "user", "params": {**u}},
        {"name": "userrecs_global", "pipe": "user_recommendations", "scope": "global", "params": {}},
    ]


def case_params(case: dict, i: int) -> dict:
    """The i-th call's parameters: list values rotate."""
    return {k: (v[i % len(v)] if isinstance(v, list) else v) for k, v in case["params"].items()}


def naive_templates() -> dict[str, str]:
    """`-- name: <pipe>` sections of bench_naive.sql."""
    out, name, lines = {}, None, []
    for line in NAIVE_SQL.read_text().splitlines():
        m = re.match(r"--\s*name:\s*(\w+)", line)
        if m:
            if name:
                out[name] = "\n".join(lines).strip().rstrip(";")
            name, lines = m.group(1), []
        elif name:
            lines.append(line)
    if name:
        out[name] = "\n".join(lines).strip().rstrip(";")
    return out


def _q(value: str) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def naive_sql(template: str, params: dict) -> str:
    """The naive SQL with the call's filters substituted."""
    conds = []
    if "start_date" in params:
        conds.append(f"timestamp >= toDateTime({_q(params['start_date'])})")
    if "end_date" in params:
        conds.append(f"timestamp <= toDateTime({_q(params['end_date'])})")
    for key in ("user_id", "platform", "device", "content_id"):
        if key in params:
            conds.append(f"{key} = {_q(params[key])}")
    if "event_type" in params:
        et = params["event_type"]
        having, order = f"HAVING {et}s > 0", f"{et}s"
    else:
        having, order = "", "events"
    t0 = f"toDateTime({_q(params['end_date'])})" if "end_date" in params else None
    key = params.get("by", "content_id")
    key_expr = "content_id" if key == "content_id" else (
        "if(JSONHas(metadata, 'content_type'), JSONExtractString(metadata, 'content_type'), 'unknown')")
    filters = " AND ".join(conds) or "1"
    return template.format(
        filters=filters, having=having, order=order, key=key, key_expr=key_expr,
        t0=t0 or f"(SELECT max(timestamp) FROM user_events WHERE {filters})",
    )


# ---------------------------------------------------------------- data

def ensure_data(n: int, args) -> Path:
    path = Path(args.data) / f"events-{n}.ndjson"
    if not path.exists():
        print(f"bench: generating {n:,} events -> {path}", flush=True)
        tmp = path.with_suffix(".tmp")
        subprocess.run([PY, str(ROOT / "scripts" / "generate_fixtures.py"), "--events", str(n), "--seed", str(args.seed),
                        "--start", "2024-01-01", "--days", str(args.days), "--out", str(tmp), "--no-progress"], check=True)
        tmp.rename(path)
    return path


def batches(path: Path, rows: int):
    """10k-line chunks of the file, as bytes."""
    with open(path, "rb") as f:
        buf = []
        for line in f:
            buf.append(line)
            if len(buf) == rows:
                yield b"".join(buf)
                buf = []
        if buf:
            yield b"".join(buf)


def sample_users(path: Path, k: int = 20) -> list[str]:
    """k user_ids spread over the file (deterministic)."""
    users, step = [], 0
    total = path.stat().st_size
    with open(path, "rb") as f:
        for i in range(k):
            f.seek(total * i // k)
            f.readline()
            line = f.readline()
            if line:
                uid = json.loads(line)["user_id"]
                if uid not in users:
                    users.append(uid)
    return users


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(ms: list[float]) -> dict:
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 3), "p95_ms": round(pct(ms, 95), 3), "p99_ms": round(pct(ms, 99), 3),
            "mean_ms": round(statistics.fmean(ms), 3) if ms else None}


def timed_loop(fn, reps: int, budget_s: float, min_reps: int = 5, warmup: int = 2) -> list[float]:
    for i in range(warmup):
        fn(i)
    out, start = [], time.perf_counter()
    for i in range(reps):
        t = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t) * 1000)
        if len(out) >= min_reps and time.perf_counter() - start > budget_s:
            break
    return out


# ---------------------------------------------------------------- raw chDB (subprocess)

def raw_main(args) -> None:
    """Plain chDB: same batches into a MergeTree of the same schema, then the naive queries."""
    import chdb

    from tblocal.ddl import create_table
    from tblocal.project import load_project

    project = load_project(ROOT)
    ddl = create_table("raw", project.datasources["user_events"])
    work = Path(args.raw_dir)
    shutil.rmtree(work, ignore_errors=True)
    conn = chdb.connect(str(work))
    conn.query("SET session_timezone = 'UTC'")
    conn.query("CREATE DATABASE raw ENGINE = Atomic")
    conn.query(ddl)
    conn.query("USE raw")
    chunks = list(batches(Path(args.file), args.batch_rows))
    nbytes = sum(len(c) for c in chunks)
    start = time.perf_counter()
    for chunk in chunks:
        conn.query("INSERT INTO raw.user_events FORMAT JSONEachRow\n" + chunk.decode())
    ingest_s = time.perf_counter() - start
    rows = int(conn.query("SELECT count() FROM raw.user_events", "CSV").bytes())
    # The same batches into the project's own tables and materialized views (tblocal's DDL, plain chDB
    # INSERTs): what the 5 MVs cost by themselves, without tblocal's validation, quarantine and HTTP.
    from tblocal.ddl import plan
    from tblocal.pipes import Renderer

    conn.query("CREATE DATABASE rawmv ENGINE = Atomic")
    for stmt in plan(project, Renderer(project, "rawmv"), None).statements:
        conn.query(stmt)
    start = time.perf_counter()
    for chunk in chunks:
        conn.query("INSERT INTO rawmv.user_events FORMAT JSONEachRow\n" + chunk.decode())
    mv_s = time.perf_counter() - start
    conn.query("DROP DATABASE rawmv SYNC")
    del chunks
    settle_raw(conn)
    # tblocal merges each partition into one part once writes pause (TBLOCAL_COMPACT_AFTER); the naive
    # side gets the same, so neither reads more parts than the other.
    conn.query("OPTIMIZE TABLE raw.user_events FINAL")
    result = {"ingest": {"rows": rows, "bytes": nbytes, "seconds": round(ingest_s, 3),
                         "rows_per_s": round(rows / ingest_s), "mb_per_s": round(nbytes / ingest_s / 1e6, 2),
                         "with_mvs": {"seconds": round(mv_s, 3), "rows_per_s": round(rows / mv_s),
                                      "mb_per_s": round(nbytes / mv_s / 1e6, 2)}},
              "naive": {}}
    templates = naive_templates()
    for case in json.loads(args.cases):
        template = templates[case["pipe"]]

        def call(i, case=case, template=template):
            return conn.query(naive_sql(template, case_params(case, i)), "JSON").bytes()

        first = json.loads(call(0))["data"]
        ms = timed_loop(call, args.reps, args.budget, warmup=1)
        result["naive"][case["name"]] = {**summary(ms), "first": first}
        print(f"  raw   {case['name']:<26} p50 {pct(ms, 50):9.2f} ms", file=sys.stderr, flush=True)
    conn.close()
    shutil.rmtree(work, ignore_errors=True)
    Path(args.result).write_text(json.dumps(result))


def settle_raw(conn, limit_s: float = 120) -> None:
    """Wait for background merges to finish, so queries are timed on settled tables (as on the server side)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and int(conn.query("SELECT count() FROM system.merges", "CSV").bytes() or 0):
        time.sleep(0.5)


def run_raw(path: Path, args, case_list: list[dict]) -> dict:
    result = Path(args.out) / f"raw-{path.stem}.json"
    subprocess.run([PY, __file__, "_raw", "--file", str(path), "--raw-dir", str(Path(args.data) / "raw-chdb"),
                    "--batch-rows", str(args.batch_rows), "--reps", str(args.reps), "--budget", str(args.budget),
                    "--cases", json.dumps(case_list), "--result", str(result)], check=True)
    return json.loads(result.read_text())


# ---------------------------------------------------------------- tblocal server

class Server(ServerProcess):
    """tblocal on this repo, with what the bench reads off it: raw HTTP requests, RSS, idleness."""

    def __init__(self, data_dir: Path, log: Path, env: dict | None = None):
        super().__init__(ROOT, data_dir, env=env, log_path=log)

    def start(self) -> "Server":
        shutil.rmtree(self.data_dir, ignore_errors=True)
        super().start(timeout=120)
        self.token = self.admin_token
        return self

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None, conn=None):
        own = conn is None
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            if own:
                conn.close()

    def rss_mb(self) -> dict:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        get = lambda key: int(re.search(rf"{key}:\s+(\d+) kB", status).group(1)) / 1024  # noqa: E731
        return {"rss_mb": round(get("VmRSS"), 1), "peak_rss_mb": round(get("VmHWM"), 1)}

    def settle(self, limit_s: float = 180, idle_cpu: float = 0.05, idle_seconds: int = 3) -> float:
        """Wait past the server's compaction delay, then until its CPU use stays under idle_cpu for idle_seconds
        (background merges and compaction done); returns seconds waited."""
        tick = os.sysconf("SC_CLK_TCK")
        start = time.monotonic()

        def cpu() -> float:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick

        time.sleep(COMPACT_AFTER_S + 1)
        idle = 0
        while idle < idle_seconds and time.monotonic() - start < limit_s:
            before = cpu()
            time.sleep(1.0)
            idle = idle + 1 if cpu() - before < idle_cpu else 0
        return round(time.monotonic() - start, 1)



def post_batches(port: int, bodies, headers: dict, clients: int) -> dict:
    """POST each body to /v0/events?name=user_events&wait=true from `clients` threads: row totals, failures
    ("status body"), each request's ms, seconds in all."""
    work: queue.Queue = queue.Queue()
    for body in bodies:
        work.put(body)
    totals = {"successful_rows": 0, "quarantined_rows": 0, "errors": [], "ms": []}
    lock = threading.Lock()

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                break
            t = time.perf_counter()
            conn.request("POST", "/v0/events?name=user_events&wait=true", body=body, headers=headers)
            resp = conn.getresponse()
            out = resp.read()
            with lock:
                totals["ms"].append((time.perf_counter() - t) * 1000)
                if resp.status == 200:
                    data = json.loads(out)
                    totals["successful_rows"] += data["successful_rows"]
                    totals["quarantined_rows"] += data["quarantined_rows"]
                else:
                    totals["errors"].append(f"{resp.status} {out[:200]!r}")
        conn.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    totals["seconds"] = time.perf_counter() - start
    return totals


def server_ingest(server: Server, path: Path, args) -> dict:
    """The file through the Events API: 10k-row gzip batches, args.clients concurrent clients, wait=true."""
    chunks = list(batches(path, args.batch_rows))
    nbytes = sum(len(c) for c in chunks)
    bodies = [gzip.compress(c, compresslevel=1) for c in chunks]
    del chunks
    headers = {"Authorization": f"Bearer {server.token}", "Content-Encoding": "gzip", "Content-Type": "application/x-ndjson"}
    totals = post_batches(server.port, bodies, headers, args.clients)
    seconds = totals["seconds"]
    rows = totals["successful_rows"] + totals["quarantined_rows"]
    return {"rows": rows, "successful_rows": totals["successful_rows"], "quarantined_rows": totals["quarantined_rows"],
            "errors": len(totals["errors"]), "bytes": nbytes, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds),
            "mb_per_s": round(nbytes / seconds / 1e6, 2), "clients": args.clients, "batch_rows": args.batch_rows,
            "request": summary(totals["ms"])}


def server_endpoints(server: Server, case_list: list[dict], args) -> dict:
    out = {}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    headers = {"Authorization": f"Bearer {server.token}"}
    for case in case_list:
        def call(i, case=case):
            status, body = server.request("GET", f"/v0/pipes/{case['pipe']}.json?" + urlencode(case_params(case, i)), None, headers, conn)
            if status != 200:
                raise SystemExit(f"bench: {case['name']} -> {status} {body[:300]!r}")
            return body

        first = json.loads(call(0))["data"]
        ms = timed_loop(call, args.reps, args.budget)
        out[case["name"]] = {**summary(ms), "first": first}
        print(f"  tbl   {case['name']:<26} p50 {pct(ms, 50):9.2f} ms", file=sys.stderr, flush=True)
    conn.close()
    return out


WRK_LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-ndjson"
wrk.headers["Authorization"] = "Bearer %(token)s"
local bodies = { %(bodies)s }
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, bodies[(counter %% #bodies) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format('WRKJSON{"requests":%%d,"duration_us":%%d,"non2xx":%%d,"connect":%%d,"read":%%d,"write":%%d,"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
"""


def single_events(server: Server, path: Path, args, wait: bool) -> dict | None:
    """Single-event POSTs from wrk: args.connections connections, args.single_seconds seconds."""
    wrk = shutil.which("wrk")
    if not wrk:
        print("bench: wrk not found (make bench installs it with apt); skipping single-event ingest", file=sys.stderr)
        return None
    bodies = []
    with open(path, "rb") as f:
        for _ in range(1000):
            line = f.readline().decode().strip()
            bodies.append("[==[" + line + "]==]")
    script = Path(args.out) / "single.lua"
    script.write_text(WRK_LUA % {"token": server.token, "bodies": ",\n".join(bodies)})
    url = f"http://127.0.0.1:{server.port}/v0/events?name=user_events" + ("&wait=true" if wait else "")
    proc = subprocess.run([wrk, "-t1", f"-c{args.connections}", f"-d{args.single_seconds}s", "--timeout", "10s",
                           "-s", str(script), url], capture_output=True, text=True)
    m = re.search(r"WRKJSON(\{.*\})", proc.stdout)
    if not m:
        print(proc.stdout, proc.stderr, file=sys.stderr)
        return None
    r = json.loads(m.group(1))
    seconds = r["duration_us"] / 1e6
    return {"wait": wait, "connections": args.connections, "seconds": round(seconds, 2), "requests": r["requests"],
            "requests_per_s": round(r["requests"] / seconds), "p50_ms": r["p50_us"] / 1000, "p90_ms": r["p90_us"] / 1000,
            "p99_ms": r["p99_us"] / 1000, "max_ms": r["max_us"] / 1000,
            "errors": r["non2xx"] + r["connect"] + r["read"] + r["write"] + r["timeout"]}


# ---------------------------------------------------------------- comparing results

def same(a, b) -> bool:
    """Endpoint rows vs naive rows; floats within 1e-4 (the endpoints round to 4 decimals)."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= 1.01e-4 * max(1.0, abs(a))
    return a == b


# ---------------------------------------------------------------- one size

def run_size(n: int, args) -> dict:
    path = ensure_data(n, args)
    users = sample_users(path)
    case_list = cases(users)
    print(f"bench: {n:,} events: raw chDB ...", flush=True)
    raw = run_raw(path, args, case_list)
    print(f"bench: {n:,} events: tblocal ...", flush=True)
    server = Server(Path(args.data) / "tblocal-ws", Path(args.out) / f"server-{n}.log").start()
    try:
        rss_start = server.rss_mb()
        ingest = server_ingest(server, path, args)
        rss_ingest = server.rss_mb()
        ingest["settle_seconds"] = server.settle()
        endpoints = server_endpoints(server, case_list, args)
        isolation = None if args.skip_isolation else bench_isolation.run(server.url, server.token)
        rss_queries = server.rss_mb()
        single = {}
        if not args.skip_single:
            single["wait_false"] = single_events(server, path, args, wait=False)
            single["wait_true"] = single_events(server, path, args, wait=True)
        forget = None if args.skip_forget else bench_forget_user.measure(server.url, server.token)  # last: it changes the data
        rss_end = server.rss_mb()
    finally:
        server.stop()
    shutil.rmtree(server.data_dir, ignore_errors=True)
    cmp = {}
    for case in case_list:
        name = case["name"]
        e, r = endpoints[name], raw["naive"][name]
        cmp[name] = {"pipe": case["pipe"], "scope": case["scope"], "params": {k: ("<rotating %d users>" % len(v) if isinstance(v, list) else v) for k, v in case["params"].items()},
                     "endpoint": {k: v for k, v in e.items() if k != "first"}, "naive": {k: v for k, v in r.items() if k != "first"},
                     "ratio_p50": round(e["p50_ms"] / r["p50_ms"], 4), "same_result": same(e["first"], r["first"])}
    usage = bench_usage.run(path, args, case_list) if args.usage_rounds else None
    return {"events": n, "usage": usage, "ingest": {"tblocal": ingest, "raw_chdb": raw["ingest"],
                                    "ratio_rows_per_s": round(ingest["rows_per_s"] / raw["ingest"]["rows_per_s"], 3),
                                    "ratio_vs_raw_with_mvs": round(ingest["rows_per_s"] / raw["ingest"]["with_mvs"]["rows_per_s"], 3)},
            "endpoints": cmp, "single_event": single, "isolation": isolation, "forget_user": forget,
            "rss": {"start": rss_start, "after_ingest": rss_ingest, "after_queries": rss_queries, "end": rss_end}}


def verdicts(size: dict) -> list[dict]:
    t, out = TARGETS, []
    r = size["ingest"]["ratio_rows_per_s"]
    out.append({"target": "batch ingest >= 1.0x raw chDB JSONEachRow", "value": f"{size['ingest']['tblocal']['rows_per_s']:,} rows/s",
                "ratio": r, "met": r >= t["batch_ingest_ratio_min"]})
    r2 = size["ingest"].get("ratio_vs_raw_with_mvs")
    if r2 is not None:
        out.append({"target": "(info) batch ingest vs plain chDB into the same tables and 5 MVs",
                    "value": f"{size['ingest']['raw_chdb']['with_mvs']['rows_per_s']:,} rows/s plain", "ratio": r2, "met": r2 >= 1.0})
    for key in ("wait_false", "wait_true"):
        s = (size.get("single_event") or {}).get(key)
        if s:
            out.append({"target": f"single events ({key.replace('_', '=')}) >= 2000 req/s, p99 <= 50 ms",
                        "value": f"{s['requests_per_s']:,} req/s, p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms",
                        "ratio": None, "met": s["requests_per_s"] >= t["single_rps_min"] and s["p99_ms"] <= t["single_p99_ms_max"] and s["errors"] == 0})
    for name, c in size["endpoints"].items():
        limit = t["user_p50_ms_max"] if c["scope"] == "user" else t["global_p50_ms_max"]
        out.append({"target": f"{name} ({c['scope']}): p50 <= {limit} ms, <= 0.25x naive",
                    "value": f"p50 {c['endpoint']['p50_ms']:.1f} / p99 {c['endpoint']['p99_ms']:.1f} ms (naive p50 {c['naive']['p50_ms']:.1f} ms)",
                    "ratio": c["ratio_p50"], "met": c["endpoint"]["p50_ms"] <= limit and c["ratio_p50"] <= t["endpoint_ratio_max"]})
    for name, c in ((size.get("isolation") or {}).get("cases") or {}).items():
        out.append({"target": f"{name}: p90 under {bench_isolation.HEAVY_CLIENTS} heavy /v0/sql <= {bench_isolation.GOAL_RATIO:g}x idle",
                    "value": f"p90 {c['loaded']['p90_ms']:.1f} ms loaded, {c['idle']['p90_ms']:.1f} ms idle", "ratio": c["ratio_p90"], "met": c["met"]})
    if size.get("usage"):
        out += bench_usage.verdicts(size["usage"])
    peak = size["rss"]["end"]["peak_rss_mb"]
    out.append({"target": "RSS <= 1.5 GB", "value": f"{size['rss']['end']['rss_mb']:.0f} MB (peak {peak:.0f} MB)",
                "ratio": None, "met": peak <= t["rss_mb_max"]})
    return out


def print_table(result: dict) -> None:
    for size in result["sizes"]:
        n = size["events"]
        ing = size["ingest"]
        print(f"\n== {n:,} events ==")
        print(f"batch ingest: tblocal {ing['tblocal']['rows_per_s']:,} rows/s ({ing['tblocal']['mb_per_s']} MB/s, "
              f"{ing['tblocal']['clients']} clients) vs raw chDB {ing['raw_chdb']['rows_per_s']:,} rows/s "
              f"({ing['raw_chdb']['mb_per_s']} MB/s): {ing['ratio_rows_per_s']}x")
        print(f"  plain chDB into the same tables + 5 MVs: {ing['raw_chdb']['with_mvs']['rows_per_s']:,} rows/s: "
              f"tblocal {ing['ratio_vs_raw_with_mvs']}x")
        print(f"{'case':<26} {'scope':<6} {'p50':>8} {'p95':>8} {'p99':>8} {'naive p50':>10} {'ratio':>7} same")
        for name, c in size["endpoints"].items():
            e = c["endpoint"]
            print(f"{name:<26} {c['scope']:<6} {e['p50_ms']:8.2f} {e['p95_ms']:8.2f} {e['p99_ms']:8.2f} "
                  f"{c['naive']['p50_ms']:10.2f} {c['ratio_p50']:7.3f} {'yes' if c['same_result'] else 'NO'}")
        for key, s in (size.get("single_event") or {}).items():
            if s:
                print(f"single events {key}: {s['requests_per_s']:,} req/s, p50 {s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms, "
                      f"errors {s['errors']} ({s['connections']} connections)")
        if size.get("isolation"):
            bench_isolation.print_result(size["isolation"], sys.stdout)
        if size.get("forget_user"):
            print(f"forget-user: median {size['forget_user']['median_seconds']} s per user ({size['forget_user']['users']})")
        print(f"server RSS: {size['rss']['end']['rss_mb']:.0f} MB, peak {size['rss']['end']['peak_rss_mb']:.0f} MB")
    if "stream" in result:
        print("\n== stream ==\n" + bench_stream.markdown(result["stream"]))
    print("\ntargets at", f"{result['sizes'][-1]['events']:,}", "events:")
    for v in result["verdicts"]:
        ratio = "" if v["ratio"] is None else f" ({v['ratio']}x)"
        print(f"  [{'met' if v['met'] else 'NOT met'}] {v['target']}: {v['value']}{ratio}")


def markdown(result: dict) -> str:
    """The results as Markdown tables (docs/performance.md)."""
    m, last = result["machine"], result["sizes"][-1]
    out = [f"Machine: {m['nproc']} vCPU ({m['cpu']}), {m['mem_gb']} GB RAM, Linux {m['kernel']}, Python {m['python']}, "
           f"chDB {m['chdb']}. Run: `{result['command']}` ({result['started']}).", ""]
    out += [f"Targets at {last['events']:,} events (ratios are tblocal / plain chDB, measured in the same run):", "",
            "| target | measured | ratio | met |", "|---|---|---|---|"]
    for v in result["verdicts"]:
        out.append(f"| {v['target']} | {v['value']} | {'' if v['ratio'] is None else str(v['ratio']) + 'x'} | "
                   f"{'yes' if v['met'] else '**no**'} |")
    for size in result["sizes"]:
        ing = size["ingest"]
        out += ["", f"#### {size['events']:,} events", "",
                f"Batch ingest (Events API, {ing['tblocal']['batch_rows']:,}-row gzip batches, {ing['tblocal']['clients']} clients, "
                f"wait=true): **{ing['tblocal']['rows_per_s']:,} rows/s** ({ing['tblocal']['mb_per_s']} MB/s); plain chDB "
                f"`INSERT ... FORMAT JSONEachRow` of the same batches into a MergeTree: {ing['raw_chdb']['rows_per_s']:,} rows/s "
                f"(**{ing['ratio_rows_per_s']}x**); into the project's tables and 5 MVs: "
                f"{ing['raw_chdb']['with_mvs']['rows_per_s']:,} rows/s (**{ing['ratio_vs_raw_with_mvs']}x**).", ""]
        for key, sv in (size.get("single_event") or {}).items():
            if sv:
                out.append(f"Single events ({sv['connections']} connections, {key.replace('_', '=')}): "
                           f"**{sv['requests_per_s']:,} req/s**, p50 {sv['p50_ms']:.1f} ms, p99 {sv['p99_ms']:.1f} ms, "
                           f"{sv['errors']} errors.  ")
        rss = size["rss"]["end"]
        out += [f"Server RSS: {rss['rss_mb']:.0f} MB (peak {rss['peak_rss_mb']:.0f} MB).", "",
                "| call | scope | p50 ms | p95 ms | p99 ms | naive SQL p50 ms | ratio p50 | same rows |",
                "|---|---|---|---|---|---|---|---|"]
        for name, c in size["endpoints"].items():
            e = c["endpoint"]
            out.append(f"| {name} | {c['scope']} | {e['p50_ms']:.1f} | {e['p95_ms']:.1f} | {e['p99_ms']:.1f} | "
                       f"{c['naive']['p50_ms']:.1f} | {c['ratio_p50']:.3f} | {'yes' if c['same_result'] else 'no'} |")
    if "stream" in result:
        out += ["", "#### Stream workload", "", bench_stream.markdown(result["stream"])]
    return "\n".join(out) + "\n"


def chart(result: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench: matplotlib not installed; no chart", file=sys.stderr)
        return
    sizes = result["sizes"]
    xs = [s["events"] / 1e6 for s in sizes]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=80)
    colors = plt.get_cmap("tab20").colors
    for k, name in enumerate(sizes[-1]["endpoints"]):
        ys = [s["endpoints"][name]["endpoint"]["p50_ms"] for s in sizes]
        ns = [s["endpoints"][name]["naive"]["p50_ms"] for s in sizes]
        color = colors[(2 * k) % 20 if k < 10 else (2 * k + 1) % 20]
        ax1.plot(xs, ys, marker="o", color=color, label=name)
        ax2.plot(xs, ns, marker="o", linestyle="--", color=color, label=name)
    values = [v for s in sizes for c in s["endpoints"].values() for v in (c["endpoint"]["p50_ms"], c["naive"]["p50_ms"])]
    for ax, title in ((ax1, "tblocal endpoint p50 (HTTP)"), (ax2, "naive SQL on raw table p50 (chDB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(xs, [f"{x:g}M" for x in xs])
        ax.set_xlabel("events")
        ax.set_ylabel("ms")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.set_ylim(min(values) * 0.8, max(values) * 1.25)
    ax1.axhline(20, color="grey", linewidth=0.8, linestyle=":")
    ax1.axhline(50, color="grey", linewidth=0.8, linestyle=":")
    ax2.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def machine() -> dict:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) / 1024**2
    import chdb

    return {"nproc": os.cpu_count(), "cpu": cpu, "mem_gb": round(mem, 1), "python": platform.python_version(),
            "chdb": chdb.__version__, "kernel": platform.release()}


def from_json(path: str, chart_path: str | None, md_path: str | None) -> None:
    """Re-render the chart, table and Markdown of a saved result."""
    result = json.loads(Path(path).read_text())
    if chart_path:
        chart(result, Path(chart_path))
    if md_path:
        Path(md_path).write_text(markdown(result))
    print_table(result)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000, help="largest size; 1M/3M/10M checkpoints below it run too")
    p.add_argument("--sizes", help="comma-separated sizes instead of the checkpoints")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--batch-rows", type=int, default=10_000)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--single-seconds", type=int, default=10)
    p.add_argument("--skip-single", action="store_true")
    p.add_argument("--skip-isolation", action="store_true", help="skip endpoint p90 idle vs under heavy /v0/sql")
    p.add_argument("--skip-forget", action="store_true", help="skip timing make forget-user (scripts/bench_forget_user.py)")
    p.add_argument("--reps", type=int, default=60, help="calls per endpoint case (fewer when --budget runs out)")
    p.add_argument("--budget", type=float, default=8.0, help="seconds per case before stopping early (>= 5 calls)")
    p.add_argument("--data", default=str(ROOT / "bench" / "data"))
    p.add_argument("--out", default=str(ROOT / "bench" / "out"))
    p.add_argument("--json", help="also write the result JSON here (e.g. docs/bench.json)")
    p.add_argument("--chart", help="chart path (default <out>/bench.png)")
    p.add_argument("--markdown", help="also write the tables as Markdown here (default <out>/bench.md)")
    p.add_argument("--skip-stream", action="store_true", help="without the stream workload (scripts/bench_stream.py)")
    p.add_argument("--stream", default="", help="options of scripts/bench_stream.py, e.g. '--events 300000 --runs 3'")
    bench_usage.add_arguments(p)
    args = p.parse_args(argv)
    Path(args.data).mkdir(parents=True, exist_ok=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.sizes:
        sizes = [int(float(s)) for s in args.sizes.split(",")]
    else:
        sizes = sorted({c for c in CHECKPOINTS if c < args.events} | {args.events})
    result = {"machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]), "targets": TARGETS, "sizes": []}
    out_json = Path(args.out) / "bench.json"
    for n in sizes:
        result["sizes"].append(run_size(n, args))
        result["verdicts"] = verdicts(result["sizes"][-1])
        out_json.write_text(json.dumps(result, indent=1))
    if not args.skip_stream:
        result["stream"] = bench_stream.run(bench_stream.parse_args([*shlex.split(args.stream), "--data", args.data, "--out", args.out]))
        out_json.write_text(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))
    chart(result, Path(args.chart or Path(args.out) / "bench.png"))
    Path(args.markdown or Path(args.out) / "bench.md").write_text(markdown(result))
    print_table(result)


def raw_entry(argv) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--file")
    p.add_argument("--raw-dir")
    p.add_argument("--batch-rows", type=int)
    p.add_argument("--reps", type=int)
    p.add_argument("--budget", type=float)
    p.add_argument("--cases")
    p.add_argument("--result")
    raw_main(p.parse_args(argv))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_raw":
        raw_entry(sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == "render":  # bench.py render RESULT.json [CHART.png] [OUT.md]
        from_json(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None, sys.argv[4] if len(sys.argv) > 4 else None)
    else:
        main()
