"""What `make forget-user` costs: users forgotten one by one from a tblocal holding N events.

    cd scripts && ../.venv/bin/python -m benchmark.forget --events-file events.ndjson [--users 3]
loads the file into a fresh tblocal first; `make bench` calls measure() on its own loaded server
(skip with --skip-forget). Prints JSON: events, load seconds, and per user its events, months and
seconds, with the median.
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import forget_user
from tblocal.launcher import ServerProcess

from . import ROOT


def measure(host: str, token: str, users: int = 3) -> dict:
    """Forget the users with the most events, one by one; their sizes and times (this changes the data)."""
    api = forget_user.Api(host, token)
    events = int(api.sql("SELECT count() AS n FROM user_events")[0]["n"])
    top = api.sql(f"SELECT user_id, count() AS n FROM user_events GROUP BY user_id ORDER BY n DESC, user_id LIMIT {users}")
    runs = []
    for row in top:
        started = time.perf_counter()
        done = forget_user.forget(api, row["user_id"], log=lambda *_: None)
        runs.append({"user_events": int(row["n"]), "months": len(done["months"]),
                     "seconds": round(time.perf_counter() - started, 2)})
    median = statistics.median(r["seconds"] for r in runs) if runs else None
    return {"events": events, "users": runs, "median_seconds": median}


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
        load_s = round(time.perf_counter() - started, 1)
        try:
            result = measure(server.url, server.admin_token, args.users)
        finally:
            server.stop()
    print(json.dumps({"load_seconds": load_s, **result}, indent=1))


if __name__ == "__main__":
    main()
