"""What recording the service data sources costs: tblocal with TBLOCAL_RECORD_USAGE=1 against =0, same run.

Two servers run side by side, one per mode (fresh data dirs), and every request goes to both in
turn, the order alternating: the same NDJSON batches through the Events API (10k rows, gzip,
wait=true), then each endpoint case. Pairing the requests puts both modes under the same load
at the same moment, which a shared machine makes necessary. Each round starts a new pair;
reported are the medians over rounds of batch ingest rows/s (rows over the time spent in its
requests) and of each case's p50, and the ratios on/off. Targets: ingest >= 0.95x, endpoint
p50 <= 1.05x. Also measured, in-process and so with far less noise: the microseconds a call spends
recording itself, and those the writer thread spends per recorded row.

`make bench` runs it on each size (sizes.py); alone, at a small scale:

    cd scripts && ../.venv/bin/python -m benchmark.usage --events 200000 --usage-rounds 3
"""

import argparse
import dataclasses
import gzip
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import ROOT, reports
from .servers import Server
from .stats import percentile
from .workload import batches, cases, ensure_data, sample_users

MODES = {"on": "1", "off": "0"}
CASES = ("content_global", "recperf_global", "sessions_user", "affinity_user", "userrecs_user")


def paired(servers: dict, i: int, send) -> dict[str, float]:
    """send(server) on each server, alternating which goes first; ms each took."""
    order = list(servers) if i % 2 == 0 else list(servers)[::-1]
    out = {}
    for mode in order:
        t = time.perf_counter()
        send(servers[mode])
        out[mode] = (time.perf_counter() - t) * 1000
    return out


def one_round(path: Path, args, cases: list[dict], round_no: int) -> dict:
    """A new pair of servers: ingest rows/s and each case's p50, per mode."""
    servers = {mode: Server(Path(args.data) / f"tblocal-usage-{mode}", Path(args.out) / f"server-usage-{mode}-{round_no}.log",
                                  env={"TBLOCAL_RECORD_USAGE": flag}).start() for mode, flag in MODES.items()}
    try:
        headers = {"Authorization": f"Bearer {servers['on'].token}", "Content-Encoding": "gzip"}
        spent, rows = {mode: 0.0 for mode in MODES}, 0

        def post(body):
            def send(server):
                status, out = server.request("POST", "/v0/events?name=user_events&wait=true", body,
                                             {**headers, "Authorization": f"Bearer {server.token}"})
                if status != 200:
                    raise SystemExit(f"bench: usage ingest -> {status} {out[:300]!r}")
            return send

        for i, chunk in enumerate(batches(path, args.batch_rows)):
            rows += chunk.count(b"\n")
            for mode, ms in paired(servers, i, post(gzip.compress(chunk, compresslevel=1))).items():
                spent[mode] += ms
        for server in servers.values():
            server.settle()
        p50 = {mode: {} for mode in MODES}
        for case in cases:
            def get(i, case=case):
                return lambda server: server.call(case, i)

            for i in range(2):  # warm-up
                paired(servers, i, get(i))
            ms = {mode: [] for mode in MODES}
            for i in range(args.reps):
                for mode, t in paired(servers, i, get(i)).items():
                    ms[mode].append(t)
            for mode in MODES:
                p50[mode][case["name"]] = round(percentile(ms[mode], 50), 3)
            print(f"  usage {case['name']:<26} p50 on {p50['on'][case['name']]:8.2f} ms, off {p50['off'][case['name']]:8.2f} ms",
                  file=sys.stderr, flush=True)
    finally:
        for server in servers.values():
            server.stop()
    return {mode: {"rows_per_s": round(rows / (spent[mode] / 1000)), "p50_ms": p50[mode]} for mode in MODES}


def cost_per_call(calls: int = 20_000) -> dict:
    """µs per call on the request path with recording on and off, and µs per row of the writer thread
    (in a subprocess: chDB opens one data dir per process)."""
    done = subprocess.run([sys.executable, "-m", "benchmark.usage", "_cost", str(calls)], cwd=ROOT / "scripts",
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def _cost(calls: int) -> None:
    from starlette.requests import Request

    from tblocal import usage
    from tblocal.settings import Settings
    from tblocal.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Settings.from_env(environ={}, data_dir=Path(tmp), project=ROOT))
        scope = {"type": "http", "method": "GET", "path": "/v0/pipes/content_engagement.json", "root_path": "",
                 "query_string": b"limit=10&token=p.x", "headers": [(b"host", b"127.0.0.1:7181"), (b"user-agent", b"bench")],
                 "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 7181), "scheme": "http"}
        writer = usage.recorder(ws.engine)
        writer.flush_s = 3600.0  # the writer is timed on its own, below
        out = {}
        for mode, on in (("off", False), ("on", True), ("off", False), ("on", True)):
            ws.settings = dataclasses.replace(ws.settings, record_usage=on)
            t = time.perf_counter()
            for _ in range(calls):
                with usage.endpoint_call(ws, ws.tokens.admin, Request(scope), "content_engagement"):
                    pass
            out[f"call_us_{mode}"] = round((time.perf_counter() - t) / calls * 1e6, 2)  # the second pass of each counts
        t = time.perf_counter()
        writer.flush()
        out["writer_us_per_row"] = round((time.perf_counter() - t) / (2 * calls) * 1e6, 2)
        writer.close()
    print(json.dumps(out))


def run(path: Path, args, case_list: list[dict]) -> dict:
    """Rounds of paired servers; medians over rounds and ratios on/off; the in-process cost per call."""
    chosen = [c for c in case_list if c["name"] in CASES]
    rounds = []
    for r in range(args.usage_rounds):
        print(f"bench: usage recording on vs off, round {r + 1}/{args.usage_rounds}", file=sys.stderr, flush=True)
        rounds.append(one_round(path, args, chosen, r))
    median = {mode: {"rows_per_s": statistics.median(x[mode]["rows_per_s"] for x in rounds),
                     "p50_ms": {c["name"]: statistics.median(x[mode]["p50_ms"][c["name"]] for x in rounds) for c in chosen}}
              for mode in MODES}
    cases = {c["name"]: round(median["on"]["p50_ms"][c["name"]] / median["off"]["p50_ms"][c["name"]], 3) for c in chosen}
    return {"rounds": rounds, "median": median, "cost": cost_per_call(),
            "ingest_ratio": round(median["on"]["rows_per_s"] / median["off"]["rows_per_s"], 3),
            "endpoint_p50_ratio": round(statistics.median(cases.values()), 3), "endpoint_p50_ratio_by_case": cases}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """This bench's options, shared with `make bench`."""
    p.add_argument("--usage-rounds", type=int, default=3, help="alternating rounds of recording on/off (0 = skip)")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--batch-rows", type=int, default=10_000)
    p.add_argument("--reps", type=int, default=40)
    p.add_argument("--data", default=str(ROOT / "bench" / "data"))
    p.add_argument("--out", default=str(ROOT / "bench" / "out"))
    add_arguments(p)
    args = p.parse_args(argv)
    Path(args.data).mkdir(parents=True, exist_ok=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    path = ensure_data(args.data, args.events, args.seed, args.days)
    usage = run(path, args, cases(sample_users(path)))
    print(f"\nusage recording at {args.events:,} events, {args.usage_rounds} alternating rounds (medians):")
    for mode in MODES:
        m = usage["median"][mode]
        print(f"  recording {mode:<3}: ingest {m['rows_per_s']:,.0f} rows/s; p50 ms "
              + ", ".join(f"{k} {v:.2f}" for k, v in m["p50_ms"].items()))
    for v in reports.usage_verdicts(usage):
        ratio = "" if v["ratio"] is None else f" ({v['ratio']}x)"
        print(f"  [{'met' if v['met'] else 'NOT met'}] {v['target']}: {v['value']}{ratio}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_cost":
        _cost(int(sys.argv[2]))
    else:
        main()
