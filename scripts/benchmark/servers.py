"""A tblocal server under test: raw HTTP requests, batches through the Events API, endpoint calls, RSS, settling."""

import http.client
import json
import os
import queue
import re
import shutil
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

from tblocal.launcher import ServerProcess
from tblocal.settings import Settings

from . import ROOT
from .workload import case_params

COMPACT_AFTER_S = Settings.from_env().compact_after_s


class Server(ServerProcess):
    """tblocal on a project tree (this repo by default), with what the benches read off it."""

    def __init__(self, data_dir: Path, log: Path, env: dict | None = None, tree: Path = ROOT, python: str | None = None):
        kwargs = {"python": python} if python else {}
        super().__init__(tree, data_dir, env=env, log_path=log, **kwargs)

    def start(self) -> "Server":
        """A fresh data dir, the server started, its admin token read."""
        shutil.rmtree(self.data_dir, ignore_errors=True)
        super().start(timeout=120)
        self.token = self.admin_token
        return self

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None, conn=None):
        """(status, body) of one request, on conn when given."""
        own = conn is None
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            if own:
                conn.close()

    def call(self, case: dict, i: int, conn=None) -> bytes:
        """The body of the i-th call of an endpoint case (JSON); any status but 200 stops the bench."""
        path = f"/v0/pipes/{case['pipe']}.json?" + urlencode(case_params(case, i))
        status, body = self.request("GET", path, None, {"Authorization": f"Bearer {self.token}"}, conn)
        if status != 200:
            raise SystemExit(f"bench: {case['name']} -> {status} {body[:300]!r}")
        return body

    def rss_mb(self) -> dict:
        """Current and peak RSS of the server."""
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
