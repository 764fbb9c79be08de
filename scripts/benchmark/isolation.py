"""Endpoint isolation: endpoint p90 idle, then while six heavy /v0/sql queries run.

For a global endpoint (content_engagement, the endpoints' token) and a per-user one
(user_recommendations through a per-user JWT from scripts/user_token.py), each measured idle,
then under load: six client threads keep one heavy Query API query each in flight (a self-join
that runs to the query time limit); idle and loaded alternate in rounds. Reports p50/p90/max per case, the p90 ratio loaded/idle
(goal <= 3x), and what the heavy queries got back (408 at the time limit, 429 past their share).

    cd scripts && ../.venv/bin/python -m benchmark.isolation                  # fixtures/, its own server
    cd scripts && ../.venv/bin/python -m benchmark.isolation --url URL --token ADMIN   # a server with data
"""

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

import requests

from . import ROOT, reports
from .stats import summary
from tblocal.launcher import ServerProcess
from user_token import mint

HEAVY_CLIENTS = 6
GOAL_RATIO = 3.0
# CPU-bound and long: every pair of events, hashed; it runs until the query time limit (408).
HEAVY_SQL = ("SELECT count() AS n FROM user_events AS a CROSS JOIN user_events AS b "
             "WHERE cityHash64(a.event_id, b.event_id) % 1000 = 7")


def timed_calls(session: requests.Session, url: str, params: dict, token: str, seconds: float, min_calls: int) -> list[float]:
    """Milliseconds of sequential calls to url for seconds (at least min_calls); any non-200 stops the bench."""
    out: list[float] = []
    stop = time.monotonic() + seconds
    while time.monotonic() < stop or len(out) < min_calls:
        t = time.perf_counter()
        r = session.get(url, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=120)
        out.append((time.perf_counter() - t) * 1000)
        if r.status_code != 200:
            raise SystemExit(f"bench: isolation: {url} -> {r.status_code} {r.text[:300]}")
    return out


class HeavyLoad:
    """HEAVY_CLIENTS threads, each keeping one heavy /v0/sql query in flight until stopped."""

    def __init__(self, base: str, token: str):
        self.base, self.token = base, token
        self.stopping = threading.Event()
        self.statuses: dict[int, int] = {}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(HEAVY_CLIENTS)]

    def _client(self) -> None:
        with requests.Session() as s:
            while not self.stopping.is_set():
                r = s.post(self.base + "/v0/sql", data={"q": HEAVY_SQL}, headers={"Authorization": f"Bearer {self.token}"}, timeout=300)
                with self.lock:
                    self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
                if r.status_code == 429:
                    time.sleep(float(r.headers.get("Retry-After", "1")))

    def __enter__(self) -> "HeavyLoad":
        for t in self.threads:
            t.start()
        time.sleep(2.0)  # let every heavy query start
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join()


def run(base: str, admin: str, seconds: float = 12.0, rounds: int = 3, min_calls: int = 10) -> dict:
    """Idle and loaded endpoint latencies on the server at base (seconds of calls per case and state, in rounds);
    admin is its workspace admin token."""
    tokens = requests.get(base + "/v0/tokens", headers={"Authorization": f"Bearer {admin}"}, timeout=10).json()["tokens"]
    read = next(t["token"] for t in tokens if t["name"] == "endpoints_read")
    user = requests.get(base + "/v0/sql", params={"q": "SELECT user_id FROM user_events GROUP BY user_id ORDER BY count() DESC LIMIT 1"},
                        headers={"Authorization": f"Bearer {admin}"}, timeout=30).json()["data"][0]["user_id"]
    jwt_token = mint(base, admin, user, ttl_s=3600, rps=0)
    cases = {
        "global content_engagement": (f"{base}/v0/pipes/content_engagement.json", {"limit": 10}, read),
        "per-user user_recommendations (JWT)": (f"{base}/v0/pipes/user_recommendations.json", {"limit": 10}, jwt_token),
    }
    result: dict = {"heavy_clients": HEAVY_CLIENTS, "heavy_sql": HEAVY_SQL, "goal_ratio_max": GOAL_RATIO, "rounds": rounds, "cases": {}}
    idle: dict = {name: [] for name in cases}
    loaded: dict = {name: [] for name in cases}
    statuses: dict = {}
    with requests.Session() as s:
        for _ in range(rounds):  # idle and loaded alternate, so a machine busy with other work skews both alike
            for name, (url, params, token) in cases.items():
                idle[name] += timed_calls(s, url, params, token, seconds / rounds, min_calls)
            with HeavyLoad(base, admin) as load:
                for name, (url, params, token) in cases.items():
                    loaded[name] += timed_calls(s, url, params, token, seconds / rounds, min_calls)
            for status, n in load.statuses.items():
                statuses[str(status)] = statuses.get(str(status), 0) + n
    result["heavy_statuses"] = statuses
    for name in cases:
        i, l = summary(idle[name]), summary(loaded[name])
        ratio = round(l["p90_ms"] / i["p90_ms"], 2)
        result["cases"][name] = {"idle": i, "loaded": l, "ratio_p90": ratio, "met": ratio <= GOAL_RATIO}
    return result


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="a running tblocal (default: start one on fixtures/)")
    p.add_argument("--token", help="its workspace admin token")
    p.add_argument("--seconds", type=float, default=12.0, help="seconds of calls per case, idle and loaded each")
    p.add_argument("--rounds", type=int, default=3, help="idle/loaded alternations")
    p.add_argument("--json", help="write the result here")
    args = p.parse_args(argv)
    if args.url:
        result = run(args.url.rstrip("/"), args.token, args.seconds, args.rounds)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            server = ServerProcess(ROOT, Path(tmp) / "data", load_fixtures=ROOT / "fixtures").start(timeout=180)
            try:
                result = run(server.url, server.admin_token, args.seconds, args.rounds)
            finally:
                server.stop()
    reports.print_isolation(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
