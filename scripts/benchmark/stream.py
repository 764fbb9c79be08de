"""The stream workload: batch ingest of time-ordered events against the previous code and plain chDB.

The events (scripts/generate_fixtures.py, seeded): --events in time order over --days days,
~--users users and ~--contents contents drawn Zipf-like, sent as --batch-rows-row NDJSON batches
with wait=true from --clients client threads. Each run measures, one after the other and in
alternating order (the machine is shared: both sides must suffer alike):

  new   this tree's server (fresh data dir): ingest, then --idle s idle, then every endpoint case
        of the sizes workload --calls times (p50, p99);
  old   the same on the code of --baseline-ref (a git archive of it with its own venv, made once
        under bench/, or --baseline-dir), with its own project files;
  raw   plain chDB (plain.py, a subprocess): the same batches with INSERT ... FORMAT JSONEachRow into
        user_events alone, and into the project's tables and materialized views (tblocal's DDL).

The report gives medians over --runs runs, and the ratios new/old and new/raw.

    cd scripts && ../.venv/bin/python -m benchmark.stream --events 1000000 --runs 3
"""

import argparse
import json
import shutil
import subprocess
import time
from pathlib import Path

from . import PY, ROOT, reports
from .plain import Plain
from .servers import Server, post_batches
from .stats import median_of, percentile, summary, timed_loop
from .workload import batches, cases, ensure_data, sample_users

BASELINE_REF = "24bc07e"  # the last commit before all-or-nothing staging


def ensure_baseline(args) -> Path:
    """A tree of --baseline-ref with its own .venv (git archive + make setup), made once."""
    if args.baseline_dir:
        return Path(args.baseline_dir)
    tree = Path(args.data) / f"base-{args.baseline_ref}"
    if not (tree / ".venv" / ".installed-stamp").exists():
        print(f"bench: stream: making {tree} (git archive {args.baseline_ref} + make setup)", flush=True)
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
    totals = post_batches(port, batches(path, args.batch_rows), headers, args.clients)
    if totals["errors"]:
        raise SystemExit(f"bench: stream: {len(totals['errors'])} batches failed, first: {totals['errors'][0]}")
    rows, seconds, ms = totals["successful_rows"] + totals["quarantined_rows"], totals["seconds"], totals["ms"]
    return {"rows": rows, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds),
            "request_p50_ms": round(percentile(ms, 50), 1), "request_p90_ms": round(percentile(ms, 90), 1),
            "request_p99_ms": round(percentile(ms, 99), 1)}


def endpoints(server: Server, case_list: list[dict], calls: int) -> dict:
    """p50, p90 and p99 of calls calls to each endpoint case."""
    out = {}
    for case in case_list:
        ms = timed_loop(lambda i, case=case: server.call(case, i), calls, min_reps=calls)
        out[case["name"]] = summary(ms)
    return out


def run_server(tree: Path, path: Path, case_list: list[dict], args, label: str) -> dict:
    """A fresh server of tree (its own venv and project files): ingest, idle, endpoints."""
    # PYTHONSAFEPATH: `python -m tblocal` imports the tree's own package (its venv's editable install, or
    # the tree itself on PYTHONPATH when it has no venv), not the one in the launcher's working directory.
    python, env = tree / ".venv" / "bin" / "python", {"PYTHONSAFEPATH": "1"}
    if not python.exists():
        python, env = Path(PY), {**env, "PYTHONPATH": str(tree)}
    server = Server(Path(args.data) / f"stream-{label}-ws", Path(args.out) / f"stream-{label}.log", env=env, tree=tree,
                    python=str(python)).start()
    try:
        result = {"ingest": post_all(server.port, server.token, path, args)}
        if args.calls > 0:
            time.sleep(args.idle)
            result["endpoints"] = endpoints(server, case_list, args.calls)
    finally:
        server.stop()
        shutil.rmtree(server.data_dir, ignore_errors=True)
    return result


def run_raw(path: Path, args) -> dict:
    """Plain chDB's ingest of the same batches (no queries)."""
    plain = Plain(path, Path(args.data) / "stream-raw-chdb", args.batch_rows, serve=False)
    plain.close()
    return plain.ingest


# ---------------------------------------------------------------- runs, medians, report

def run(args) -> dict:
    """--runs alternating runs of new, old and raw; the medians and ratios."""
    Path(args.data).mkdir(parents=True, exist_ok=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    path = ensure_data(args.data, args.events, args.seed, args.days, users=args.users, contents=args.contents)
    case_list = cases(sample_users(path))
    new_tree = Path(args.new_dir) if args.new_dir else ROOT
    old_tree = ensure_baseline(args) if "old" in args.sides else None
    sides = {"new": new_tree, "old": old_tree}
    runs: dict[str, list[dict]] = {s: [] for s in args.sides}
    for i in range(args.runs):
        order = list(args.sides) if i % 2 == 0 else list(reversed(args.sides))
        for side in order:
            print(f"bench: stream: run {i + 1}/{args.runs}: {side} ...", flush=True)
            r = run_raw(path, args) if side == "raw" else run_server(sides[side], path, case_list, args, side)
            runs[side].append(r)
            rate = r["with_mvs"]["rows_per_s"] if side == "raw" else r["ingest"]["rows_per_s"]
            print(f"bench: stream:   {side}: {rate:,} events/s", flush=True)
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
        result["met"] = result["ratio_vs_old"] >= reports.TARGETS["stream_vs_old_min"]
        if args.calls > 0:
            result["endpoint_p50_ratio_vs_old"] = {
                name: round(v / med["old"]["endpoints_p50_ms"][name], 3) for name, v in med["new"]["endpoints_p50_ms"].items()}
    if "new" in med and "raw" in med:
        result["ratio_vs_raw_with_mvs"] = round(med["new"]["rows_per_s"] / med["raw"]["with_mvs_rows_per_s"], 3)
        result["ratio_vs_raw_table_only"] = round(med["new"]["rows_per_s"] / med["raw"]["table_only_rows_per_s"], 3)
    return result


def parse_args(argv=None) -> argparse.Namespace:
    """The stream's options (`make bench` passes its --stream string here)."""
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
    (Path(args.out) / "stream.md").write_text(reports.stream_markdown(result))
    print(reports.stream_markdown(result))


if __name__ == "__main__":
    main()
