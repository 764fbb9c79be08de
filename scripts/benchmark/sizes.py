"""The sizes workload (`make bench`): for each size, ingest and endpoints on tblocal against plain chDB.

  plain   (a subprocess, scripts/benchmark/plain.py): the batches into a MergeTree with user_events'
          schema and into the project's tables and views; then the naive SQL of each case
          (naive.sql) on the plain table, or for a call with user_id on a copy keyed (user_id, timestamp);
  tblocal (a server, fresh data dir): the same batches through the Events API (gzip, --clients
          concurrent clients, wait=true), every endpoint case, endpoint p90 idle vs under heavy
          /v0/sql (isolation), single-event ingest with wrk, RSS, and last (it changes the data)
          forgetting users (forget).

Endpoint cases run in --rounds rounds; in each, every case is called --reps times on one side,
then on the other, the side going first alternating by round. Reported per case: the median over
rounds of each side's p50 and p99, and their ratio.
"""

import gzip
import http.client
import json
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from . import forget, isolation, reports, usage
from .plain import Plain
from .servers import Server, post_batches
from .stats import summary, timed_loop
from .workload import batches, case_params, cases, ensure_data, naive_sql, naive_templates, sample_users

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


def server_ingest(server: Server, path: Path, args) -> dict:
    """The file through the Events API: gzip batches, args.clients concurrent clients, wait=true."""
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


def endpoint_rounds(server: Server, plain: Plain, case_list: list[dict], args) -> dict:
    """Each case on both sides, alternating, --rounds times: medians over rounds of p50/p99, the ratio, whether
    the first answers are the same rows, and what the first call read (its `statistics`)."""
    templates = naive_templates()
    out = {}
    for case in case_list:
        first = json.loads(server.call(case, 0))
        naive_first = plain.query(naive_sql(templates[case["pipe"]], case_params(case, 0)))
        out[case["name"]] = {"pipe": case["pipe"], "scope": case["scope"], "rounds": {"tblocal": [], "naive": []},
                             "statistics": first["statistics"], "same_result": same(first["data"], naive_first["data"])}
    for r in range(args.rounds):
        for case in case_list:
            order = ("tblocal", "naive") if r % 2 == 0 else ("naive", "tblocal")
            for side in order:
                if side == "naive":  # timed inside chDB, without the pipe to the child
                    ms = []
                    timed_loop(lambda i, case=case: ms.append(plain.query(naive_sql(templates[case["pipe"]], case_params(case, i)))["ms"]),
                               args.reps, args.budget, warmup=0)
                else:  # a new connection: the server closes one left idle while the naive side ran
                    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
                    ms = timed_loop(lambda i, case=case: server.call(case, i, conn), args.reps, args.budget, warmup=1)
                    conn.close()
                out[case["name"]]["rounds"][side].append(summary(ms))
            c = out[case["name"]]["rounds"]
            print(f"  round {r + 1} {case['name']:<26} p50 {c['tblocal'][-1]['p50_ms']:8.2f} ms  naive {c['naive'][-1]['p50_ms']:8.2f} ms",
                  file=sys.stderr, flush=True)
    for c in out.values():
        for side in ("tblocal", "naive"):
            c[side] = {k: round(statistics.median(x[k] for x in c["rounds"][side]), 3) for k in ("p50_ms", "p90_ms", "p99_ms")}
        c["ratio_p50"] = round(c["tblocal"]["p50_ms"] / c["naive"]["p50_ms"], 3)
    return out


def same(a, b) -> bool:
    """Endpoint rows vs naive rows; floats within 1e-4 (the endpoints round to 4 decimals)."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= 1.01e-4 * max(1.0, abs(a))
    return a == b


def single_events(server: Server, path: Path, args, wait: bool) -> dict | None:
    """Single-event POSTs from wrk: args.connections connections, args.single_seconds seconds."""
    wrk = shutil.which("wrk")
    if not wrk:
        print("bench: wrk not found (make bench installs it with apt); skipping single-event ingest", file=sys.stderr)
        return None
    bodies = []
    with open(path, "rb") as f:
        for _ in range(1000):
            bodies.append("[==[" + f.readline().decode().strip() + "]==]")
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


def run_size(n: int, args) -> dict:
    """Everything measured at n events."""
    path = ensure_data(args.data, n, args.seed, args.days)
    case_list = cases(sample_users(path))
    print(f"bench: {n:,} events: plain chDB ...", flush=True)
    plain = Plain(path, Path(args.data) / "plain-chdb", args.batch_rows)
    try:
        print(f"bench: {n:,} events: tblocal ...", flush=True)
        server = Server(Path(args.data) / "tblocal-ws", Path(args.out) / f"server-{n}.log").start()
        try:
            rss_start = server.rss_mb()
            ingest = server_ingest(server, path, args)
            rss_ingest = server.rss_mb()
            ingest["settle_seconds"] = server.settle()
            load = reports.load()
            endpoints = endpoint_rounds(server, plain, case_list, args)
            load_after = reports.load()
            iso = None if args.skip_isolation else isolation.run(server.url, server.token)
            rss_queries = server.rss_mb()
            single = {}
            if not args.skip_single:
                single["wait_false"] = single_events(server, path, args, wait=False)
                single["wait_true"] = single_events(server, path, args, wait=True)
            forgot = None if args.skip_forget else forget.measure(server.url, server.token)  # last: it changes the data
            rss_end = server.rss_mb()
        finally:
            server.stop()
            shutil.rmtree(server.data_dir, ignore_errors=True)
    finally:
        plain.close()
    raw = plain.ingest
    used = usage.run(path, args, case_list) if args.usage_rounds else None
    return {"events": n, "load": load, "load_after": load_after, "usage": used, "ingest": {"tblocal": ingest, "raw_chdb": raw,
                                    "ratio_rows_per_s": round(ingest["rows_per_s"] / raw["table_only"]["rows_per_s"], 3),
                                    "ratio_vs_raw_with_mvs": round(ingest["rows_per_s"] / raw["with_mvs"]["rows_per_s"], 3)},
            "endpoints": endpoints, "single_event": single, "isolation": iso, "forget_user": forgot,
            "rss": {"start": rss_start, "after_ingest": rss_ingest, "after_queries": rss_queries, "end": rss_end}}
