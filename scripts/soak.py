#!/usr/bin/env python3
"""Soak: minutes of mixed ingestion and queries against tblocal on loopback.

Starts `python -m tblocal serve` on tests/project in a temporary data dir, then runs writer and
reader threads for --seconds (bounded by --max-requests too). Passes when there are zero errors,
every acknowledged row is queryable at the end, and RSS (VmRSS from /proc/<pid>/status) grows
less than --max-rss-growth after the warm-up. Prints p50/p99 latency per kind and the RSS figures.
"""

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from benchmark.stats import percentile
from tblocal.launcher import ROOT, ServerProcess


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=150, help="length of the measured run (after warm-up)")
    p.add_argument("--warmup", type=float, default=45, help="seconds of load before the first RSS sample")
    p.add_argument("--max-requests", type=int, default=400_000)
    p.add_argument("--writers", type=int, default=4)
    p.add_argument("--readers", type=int, default=4)
    p.add_argument("--max-rss-growth", type=float, default=0.10)
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--python", default=sys.executable, help="interpreter with tblocal installed")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="tblocal-soak-") as tmp:
        server = ServerProcess(ROOT / "tests" / "project", Path(tmp) / "data", python=args.python,
                               log_path=Path(tmp) / "server.log").start(timeout=90)
        try:
            return soak(args, server.url, server.admin_token, server.proc.pid)
        finally:
            server.stop()


def soak(args, url: str, token: str, pid: int) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    lock = threading.Lock()
    latencies: dict[str, list[float]] = {}
    errors: list[str] = []
    acked = [0]
    requests_made = [0]
    stop = threading.Event()
    measuring = threading.Event()

    def record(kind: str, seconds: float, ok: bool, detail: str = "") -> None:
        with lock:
            requests_made[0] += 1
            if measuring.is_set():
                latencies.setdefault(kind, []).append(seconds)
            if not ok:
                errors.append(f"{kind}: {detail[:200]}")
            if requests_made[0] >= args.max_requests:
                stop.set()

    def writer(n: int) -> None:
        rng, session, seq = random.Random(args.seed * 100 + n), requests.Session(), 0
        while not stop.is_set():
            rows = rng.choice([1, 1, 5, 50, 500])
            body = "\n".join(
                json.dumps({"id": f"w{n}-{seq}-{i}", "user": f"u{rng.randint(0, 300)}", "kind": rng.choice(["click", "tap"]),
                            "ts": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00",
                            "value": rng.randint(0, 100)})
                for i in range(rows)
            )
            seq += 1
            wait = rng.random() < 0.7
            t = time.perf_counter()
            try:
                r = session.post(url + "/v0/events", params={"name": "clicks", "wait": str(wait).lower()}, data=body, headers=headers, timeout=60)
                ok = r.status_code == (200 if wait else 202) and r.json()["successful_rows"] == rows
                record("ingest", time.perf_counter() - t, ok, f"{r.status_code} {r.text}")
                if ok and wait:
                    with lock:
                        acked[0] += rows
            except Exception as e:
                record("ingest", time.perf_counter() - t, False, repr(e))

    def reader(n: int) -> None:
        rng, session = random.Random(args.seed * 1000 + n), requests.Session()
        while not stop.is_set():
            kind, call = rng.choice([
                ("pipe", lambda: session.get(url + "/v0/pipes/top_users.json", params={"limit": rng.randint(1, 50), "kind": rng.choice(["click", "tap"])}, headers=headers, timeout=60)),
                ("pipe", lambda: session.get(url + "/v0/pipes/user_clicks.json", params={"min_clicks": rng.randint(0, 5)}, headers=headers, timeout=60)),
                ("pipe", lambda: session.get(url + "/v0/pipes/kinds.json", headers=headers, timeout=60)),
                ("sql", lambda: session.get(url + "/v0/sql", params={"q": "SELECT user, sum(clicks) AS c FROM clicks_daily_mv GROUP BY user ORDER BY c DESC LIMIT 10"}, headers=headers, timeout=60)),
                ("sql", lambda: session.get(url + "/v0/sql", params={"q": "SELECT count() AS n FROM clicks"}, headers=headers, timeout=60)),
                ("refused", lambda: session.get(url + "/v0/sql", params={"q": "SELECT * FROM system.tables"}, headers=headers, timeout=60)),
            ])
            t = time.perf_counter()
            try:
                r = call()
                ok = (r.status_code == 403) if kind == "refused" else (r.status_code == 200 and "data" in r.json())
                record(kind, time.perf_counter() - t, ok, f"{r.status_code} {r.text}")
            except Exception as e:
                record(kind, time.perf_counter() - t, False, repr(e))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(args.writers)]
    threads += [threading.Thread(target=reader, args=(i,)) for i in range(args.readers)]
    started = time.monotonic()
    for t in threads:
        t.start()
    stop.wait(args.warmup)
    rss_start = rss_kb(pid)
    measuring.set()
    measured_from, samples = time.monotonic(), [rss_start]
    while not stop.is_set() and time.monotonic() - measured_from < args.seconds:
        stop.wait(5)
        samples.append(rss_kb(pid))
    stop.set()
    for t in threads:
        t.join(120)
    rss_end = rss_kb(pid)
    duration = time.monotonic() - started

    count = requests.get(url + "/v0/sql", params={"q": "SELECT count() AS n FROM clicks"}, headers=headers, timeout=60).json()["data"][0]["n"]
    everything = [x for v in latencies.values() for x in v]
    growth = (rss_end - rss_start) / rss_start
    summary = {
        "seconds": round(duration, 1),
        "requests": requests_made[0],
        "errors": len(errors),
        "p50_ms": round(percentile(everything, 50) * 1000, 1),
        "p99_ms": round(percentile(everything, 99) * 1000, 1),
        "p99_ms_by_kind": {k: round(percentile(v, 99) * 1000, 1) for k, v in sorted(latencies.items())},
        "requests_by_kind": {k: len(v) for k, v in sorted(latencies.items())},
        "rss_start_mb": round(rss_start / 1024, 1),
        "rss_end_mb": round(rss_end / 1024, 1),
        "rss_max_mb": round(max(samples + [rss_end]) / 1024, 1),
        "rss_growth": round(growth, 4),
        "rss_samples_mb": [round(x / 1024) for x in samples + [rss_end]],
        "rows_acked_wait_true": acked[0],
        "rows_in_clicks": int(count),
    }
    print(json.dumps(summary, indent=1))
    for e in errors[:10]:
        print("ERROR", e)
    failed = errors or growth >= args.max_rss_growth or int(count) < acked[0]
    print("soak: " + ("FAILED" if failed else "passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
