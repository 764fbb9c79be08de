#!/usr/bin/env python3
"""The stream workload: batch ingest of time-ordered events against the previous code and plain chDB.

The events (scripts/generate_fixtures.py, seeded): --events in time order over --days days,
~--users users and ~--contents contents drawn Zipf-like, sent as --batch-rows-row NDJSON batches
with wait=true from --clients client threads. Each run measures, one after the other and in
alternating order (the machine is shared: both sides must suffer alike):

  new   this tree's server (fresh data dir): ingest, then --idle s idle, then every endpoint case
        of scripts/bench.py --calls times (p50);
  old   the same on the code of --baseline-ref (a git archive of it with its own venv, made once
        under bench/, or --baseline-dir), with its own project files;
  raw   plain chDB (a subprocess): the same batches with INSERT ... FORMAT JSONEachRow into the
        project's tables and materialized views (tblocal's DDL), and into user_events alone.

The report gives medians over --runs runs, and the ratios new/old and new/raw.

    .venv/bin/python scripts/bench_stream.py --events 1000000 --runs 3
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
import bench  # noqa: E402  (bench.py imports this module too: names are read at call time)

from tblocal.launcher import ServerProcess  # noqa: E402

PY = sys.executable
BASELINE_REF = "24bc07e"  # the last commit before all-or-nothing staging
TARGET_VS_OLD = 0.9


def ensure_data(args) -> Path:
    """The stream's NDJSON file (generated once per size and seed)."""
    path = Path(args.data) / f"stream-{args.events}-{args.seed}-{args.days}d-{args.users}u-{args.contents}c.ndjson"
    if not path.exists():
        print(f"bench_stream: generating {args.events:,} events -> {path}", flush=True)
        tmp = path.with_suffix(".tmp")
        subprocess.run([PY, str(ROOT / "scripts" / "generate_fixtures.py"), "--events", str(args.events), "--seed", str(args.seed),
                        "--start", "2024-01-01", "--days", str(args.days), "--users", str(args.users),
                        "--contents", str(args.contents), "--out", str(tmp), "--no-progress"], check=True)
        tmp.rename(path)
    return path


def ensure_baseline(args) -> Path:
    """A tree of --baseline-ref with its own .venv (git archive + make setup), made once."""
    if args.baseline_dir:
        return Path(args.baseline_dir)
    tree = Path(args.data) / f"base-{args.baseline_ref}"
    if not (tree / ".venv" / ".installed-stamp").exists():
        print(f"bench_stream: making {tree} (git archive {args.baseline_ref} + make setup)", flush=True)
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline_ref], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        subprocess.run(["make", "-C", str(tree), "setup"], check=True)
    return tree


# ---------------------------------------------------------------- one side

def post_all(port: int, token: str, path: Path, args) -> dict:
    """Every batch of the file to /v0/events, wait=true, from args.clients threads; rows/s and request times."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    totals = bench.post_batches(port, bench.batches(path, args.batch_rows), headers, args.clients)
    if totals["errors"]:
        raise SystemExit(f"bench_stream: {len(totals['errors'])} batches failed, first: {totals['errors'][0]}")
    rows, seconds, ms = totals["successful_rows"] + totals["quarantined_rows"], totals["seconds"], totals["ms"]
    return {"rows": rows, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds),
            "request_p50_ms": round(bench.pct(ms, 50), 1), "request_p90_ms": round(bench.pct(ms, 90), 1), "request_p99_ms": round(bench.pct(ms, 99), 1)}


def endpoints(port: int, token: str, case_list: list[dict], calls: int) -> dict:
    """p50 (and p90) of calls calls to each endpoint case."""
    out = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Authorization": f"Bearer {token}"}
    for case in case_list:
        def call(i, case=case):
            conn.request("GET", f"/v0/pipes/{case['pipe']}.json?" + urlencode(bench.case_params(case, i)), headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise SystemExit(f"bench_stream: {case['name']} -> {resp.status} {body[:300]!r}")

        ms = bench.timed_loop(call, calls, budget_s=1e9, min_reps=calls)
        out[case["name"]] = {"p50_ms": round(bench.pct(ms, 50), 2), "p90_ms": round(bench.pct(ms, 90), 2), "n": len(ms)}
    conn.close()
    return out


def run_server(tree: Path, path: Path, case_list: list[dict], args, label: str) -> dict:
    """A fresh server of tree (its own venv and project files): ingest, idle, endpoints."""
    data_dir = Path(args.data) / f"stream-{label}-ws"
    shutil.rmtree(data_dir, ignore_errors=True)
    # PYTHONSAFEPATH: `python -m tblocal` imports the tree's own package (its venv's editable install, or
    # the tree itself on PYTHONPATH when it has no venv), not the one in the launcher's working directory.
    python, env = tree / ".venv" / "bin" / "python", {"PYTHONSAFEPATH": "1"}
    if not python.exists():
        python, env = Path(PY), {**env, "PYTHONPATH": str(tree)}
    server = ServerProcess(tree, data_dir, python=str(python), env=env, log_path=Path(args.out) / f"stream-{label}.log")
    server.start(timeout=120)
    try:
        token = server.admin_token
        result = {"ingest": post_all(server.port, token, path, args)}
        if args.calls > 0:
            time.sleep(args.idle)
            result["endpoints"] = endpoints(server.port, token, case_list, args.calls)
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return result


# ---------------------------------------------------------------- plain chDB (a subprocess)

def raw_main(argv) -> None:
    """Plain chDB: the batches into the project's tables and views, then into user_events alone."""
    p = argparse.ArgumentParser()
    p.add_argument("--file")
    p.add_argument("--dir")
    p.add_argument("--batch-rows", type=int)
    p.add_argument("--result")
    a = p.parse_args(argv)
    import chdb

    from tblocal.ddl import create_table, plan
    from tblocal.pipes import Renderer
    from tblocal.project import load_project

    project = load_project(ROOT)
    shutil.rmtree(a.dir, ignore_errors=True)
    conn = chdb.connect(a.dir)
    conn.query("SET session_timezone = 'UTC'")
    conn.query("CREATE DATABASE mv ENGINE = Atomic")
    for stmt in plan(project, Renderer(project, "mv"), None).statements:
        conn.query(stmt)
    conn.query("CREATE DATABASE plain ENGINE = Atomic")
    conn.query(create_table("plain", project.datasources["user_events"]))
    chunks = [c.decode() for c in bench.batches(Path(a.file), a.batch_rows)]
    result = {}
    for key, table in (("with_mvs", "mv.user_events"), ("table_only", "plain.user_events")):
        start = time.perf_counter()
        for chunk in chunks:
            conn.query(f"INSERT INTO {table} SETTINGS parallel_view_processing = 1 FORMAT JSONEachRow\n" + chunk)
        seconds = time.perf_counter() - start
        rows = int(conn.query(f"SELECT count() FROM {table}", "CSV").bytes())
        result[key] = {"rows": rows, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds)}
    conn.close()
    shutil.rmtree(a.dir, ignore_errors=True)
    Path(a.result).write_text(json.dumps(result))


def run_raw(path: Path, args) -> dict:
    result = Path(args.out) / "stream-raw.json"
    subprocess.run([PY, __file__, "_raw", "--file", str(path), "--dir", str(Path(args.data) / "stream-raw-chdb"),
                    "--batch-rows", str(args.batch_rows), "--result", str(result)], check=True)
    return json.loads(result.read_text())


# ---------------------------------------------------------------- runs, medians, report

def median_of(runs: list[dict], *keys) -> float | None:
    values = []
    for r in runs:
        for k in keys:
            r = r.get(k) if isinstance(r, dict) else None
        if r is not None:
            values.append(r)
    return statistics.median(values) if values else None


def run(args) -> dict:
    """--runs alternating runs of new, old and raw; the medians and ratios."""
    Path(args.data).mkdir(parents=True, exist_ok=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    path = ensure_data(args)
    case_list = bench.cases(bench.sample_users(path))
    new_tree = Path(args.new_dir) if args.new_dir else ROOT
    old_tree = ensure_baseline(args) if "old" in args.sides else None
    sides = {"new": new_tree, "old": old_tree}
    runs: dict[str, list[dict]] = {s: [] for s in args.sides}
    for i in range(args.runs):
        order = list(args.sides) if i % 2 == 0 else list(reversed(args.sides))
        for side in order:
            print(f"bench_stream: run {i + 1}/{args.runs}: {side} ...", flush=True)
            r = run_raw(path, args) if side == "raw" else run_server(sides[side], path, case_list, args, side)
            runs[side].append(r)
            rate = r["with_mvs"]["rows_per_s"] if side == "raw" else r["ingest"]["rows_per_s"]
            print(f"bench_stream:   {side}: {rate:,} events/s", flush=True)
    result = {"events": args.events, "days": args.days, "users": args.users, "contents": args.contents,
              "batch_rows": args.batch_rows, "clients": args.clients, "runs": args.runs,
              "baseline_ref": args.baseline_ref, "sides": runs, "median": {}}
    med = result["median"]
    for side in ("new", "old"):
        if side in runs:
            med[side] = {"rows_per_s": median_of(runs[side], "ingest", "rows_per_s"),
                         "request_p90_ms": median_of(runs[side], "ingest", "request_p90_ms")}
            if args.calls > 0:
                med[side]["endpoints_p50_ms"] = {c["name"]: median_of(runs[side], "endpoints", c["name"], "p50_ms") for c in case_list}
    if "raw" in runs:
        med["raw"] = {"with_mvs_rows_per_s": median_of(runs["raw"], "with_mvs", "rows_per_s"),
                      "table_only_rows_per_s": median_of(runs["raw"], "table_only", "rows_per_s")}
    if "new" in med and "old" in med:
        result["ratio_vs_old"] = round(med["new"]["rows_per_s"] / med["old"]["rows_per_s"], 3)
        result["met"] = result["ratio_vs_old"] >= TARGET_VS_OLD
        if args.calls > 0:
            result["endpoint_p50_ratio_vs_old"] = {
                name: round(v / med["old"]["endpoints_p50_ms"][name], 3) for name, v in med["new"]["endpoints_p50_ms"].items()}
    if "new" in med and "raw" in med:
        result["ratio_vs_raw_with_mvs"] = round(med["new"]["rows_per_s"] / med["raw"]["with_mvs_rows_per_s"], 3)
        result["ratio_vs_raw_table_only"] = round(med["new"]["rows_per_s"] / med["raw"]["table_only_rows_per_s"], 3)
    return result


def markdown(s: dict) -> str:
    """The stream result as Markdown (docs/performance.md)."""
    med = s["median"]
    out = [f"Stream workload: {s['events']:,} events in time order over {s['days']} days, ~{s['users']:,} users and "
           f"~{s['contents']:,} contents (Zipf-like), {s['batch_rows']:,}-row NDJSON batches, wait=true, "
           f"{s['clients']} clients; medians of {s['runs']} alternating runs.", ""]
    out += ["| side | events/s (median) | each run | request p90 ms |", "|---|---|---|---|"]
    for side in ("new", "old"):
        if side in med:
            each = ", ".join(f"{r['ingest']['rows_per_s']:,}" for r in s["sides"][side])
            name = "this code" if side == "new" else f"previous code ({s['baseline_ref']})"
            out.append(f"| {name} | **{med[side]['rows_per_s']:,.0f}** | {each} | {med[side]['request_p90_ms']} |")
    if "raw" in med:
        each = ", ".join(f"{r['with_mvs']['rows_per_s']:,}" for r in s["sides"]["raw"])
        out.append(f"| plain chDB, same tables and views | {med['raw']['with_mvs_rows_per_s']:,.0f} | {each} | |")
        out.append(f"| plain chDB, user_events alone | {med['raw']['table_only_rows_per_s']:,.0f} | | |")
    out.append("")
    ratios = []
    if "ratio_vs_old" in s:
        ratios.append(f"**{s['ratio_vs_old']}x** of the previous code (target >= {TARGET_VS_OLD}x: "
                      f"{'met' if s['met'] else 'not met'})")
    if "ratio_vs_raw_with_mvs" in s:
        ratios.append(f"{s['ratio_vs_raw_with_mvs']}x of plain chDB into the same tables and views, "
                      f"{s['ratio_vs_raw_table_only']}x of plain chDB into user_events alone")
    if ratios:
        out += ["Ingest: " + "; ".join(ratios) + ".", ""]
    if "endpoint_p50_ratio_vs_old" in s:
        out += ["| endpoint case | p50 ms | previous code p50 ms | ratio |", "|---|---|---|---|"]
        for name, ratio in s["endpoint_p50_ratio_vs_old"].items():
            out.append(f"| {name} | {med['new']['endpoints_p50_ms'][name]:.1f} | {med['old']['endpoints_p50_ms'][name]:.1f} | {ratio} |")
    return "\n".join(out) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    """The stream's options (scripts/bench.py passes its --stream string here)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=3, help="alternating runs of each side (medians)")
    p.add_argument("--sides", type=lambda v: v.split(","), default=["new", "old", "raw"])
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--users", type=int, default=50_000)
    p.add_argument("--contents", type=int, default=5_000)
    p.add_argument("--seed", type=int, default=19)
    p.add_argument("--batch-rows", type=int, default=10_000)
    p.add_argument("--clients", type=int, default=2)
    p.add_argument("--idle", type=float, default=20.0, help="seconds idle between ingest and endpoints")
    p.add_argument("--calls", type=int, default=40, help="calls per endpoint case (0: no endpoints)")
    p.add_argument("--baseline-ref", default=BASELINE_REF)
    p.add_argument("--baseline-dir", help="a tree of the previous code with its .venv (default: made under --data)")
    p.add_argument("--new-dir", help="the tree to measure as new (default: this one)")
    p.add_argument("--data", default=str(ROOT / "bench" / "data"))
    p.add_argument("--out", default=str(ROOT / "bench" / "out"))
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    result = run(args)
    (Path(args.out) / "stream.json").write_text(json.dumps(result, indent=1))
    (Path(args.out) / "stream.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_raw":
        raw_main(sys.argv[2:])
    else:
        main()
