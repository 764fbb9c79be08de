"""`make bench`: every size up to --events (1M, 3M, 10M checkpoints), then the stream workload; results to --out.

    cd scripts && ../.venv/bin/python -m benchmark --events 1000000
    cd scripts && ../.venv/bin/python -m benchmark render RESULT.json [CHART.png] [OUT.md]
"""

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from . import ROOT, reports, sizes, stream, usage

CHECKPOINTS = (1_000_000, 3_000_000, 10_000_000)


def parse_args(argv=None) -> argparse.Namespace:
    """The options of `make bench` (BENCH_ARGS)."""
    p = argparse.ArgumentParser(prog="benchmark", description=sizes.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    p.add_argument("--skip-forget", action="store_true", help="skip timing make forget-user")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds of each endpoint case on both sides (medians)")
    p.add_argument("--reps", type=int, default=40, help="calls per endpoint case, side and round (fewer past --budget)")
    p.add_argument("--budget", type=float, default=6.0, help="seconds per case, side and round before stopping early (>= 5 calls)")
    p.add_argument("--data", default=str(ROOT / "bench" / "data"))
    p.add_argument("--out", default=str(ROOT / "bench" / "out"))
    p.add_argument("--json", help="also write the result JSON here (e.g. docs/bench.json)")
    p.add_argument("--chart", help="chart path (default <out>/bench.png)")
    p.add_argument("--markdown", help="also write the tables as Markdown here (default <out>/bench.md)")
    p.add_argument("--skip-stream", action="store_true", help="without the stream workload")
    p.add_argument("--stream", default="", help="options of the stream workload, e.g. '--events 300000 --runs 3'")
    usage.add_arguments(p)
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    Path(args.data).mkdir(parents=True, exist_ok=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.sizes:
        ns = [int(float(s)) for s in args.sizes.split(",")]
    else:
        ns = sorted({c for c in CHECKPOINTS if c < args.events} | {args.events})
    result = {"machine": reports.machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "command": " ".join(["benchmark", *(argv if argv is not None else sys.argv[1:])]), "targets": reports.TARGETS, "sizes": []}
    out_json = Path(args.out) / "bench.json"
    for n in ns:
        result["sizes"].append(sizes.run_size(n, args))
        result["verdicts"] = reports.verdicts(result["sizes"][-1])
        out_json.write_text(json.dumps(result, indent=1))
    if not args.skip_stream:
        result["stream"] = stream.run(stream.parse_args([*shlex.split(args.stream), "--data", args.data, "--out", args.out]))
        out_json.write_text(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))
    reports.chart(result, Path(args.chart or Path(args.out) / "bench.png"))
    Path(args.markdown or Path(args.out) / "bench.md").write_text(reports.markdown(result))
    reports.print_table(result)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "render":
        reports.from_json(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None, sys.argv[4] if len(sys.argv) > 4 else None)
    else:
        main()
