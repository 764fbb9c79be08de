"""What `make forget-user` costs: a tblocal loaded with N generated events, then users forgotten one by one.

    python scripts/bench_forget_user.py --events-file events.ndjson [--users 3]
Prints JSON: events, load seconds, and per user its events, months and forget seconds (median of the users).
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import forget_user  # noqa: E402
from tblocal.launcher import ROOT, ServerProcess  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events-file", type=Path, required=True)
    p.add_argument("--users", type=int, default=3)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        fixtures = Path(tmp) / "fixtures"
        fixtures.mkdir()
        (fixtures / "user_events.ndjson").symlink_to(args.events_file.resolve())
        started = time.perf_counter()
        server = ServerProcess(ROOT, Path(tmp) / "data", load_fixtures=fixtures).start(timeout=3600)
        load_s = time.perf_counter() - started
        try:
            api = forget_user.Api(server.url, server.admin_token)
            events = int(api.sql("SELECT count() AS n FROM user_events")[0]["n"])
            users = api.sql(f"SELECT user_id, count() AS n FROM user_events GROUP BY user_id ORDER BY n DESC, user_id LIMIT {args.users}")
            runs = []
            for row in users:
                t = time.perf_counter()
                done = forget_user.forget(api, row["user_id"], log=lambda *_: None)
                runs.append({"user_events": int(row["n"]), "months": len(done["months"]), "seconds": round(time.perf_counter() - t, 2)})
        finally:
            server.stop()
    print(json.dumps({"events": events, "load_seconds": round(load_s, 1), "users": runs,
                      "median_seconds": statistics.median(r["seconds"] for r in runs)}, indent=1))


if __name__ == "__main__":
    main()
