"""Plain chDB in a subprocess (chDB opens one data dir per process): the same batches ingested, then the naive SQL.

The child ingests the file's batches with INSERT ... FORMAT JSONEachRow into a MergeTree with
user_events' schema and into the project's own tables with their materialized views (tblocal's DDL,
no validation, no HTTP), timing each. With --serve it then keeps the plain table, copies it into
user_events_by_user keyed (user_id, timestamp), merges both to one part per partition (as tblocal
compacts when writes pause), and answers SQL read line by line on stdin, each timed inside chDB.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import PY, ROOT
from .workload import RAW_TABLE, USER_TABLE, batches


class Plain:
    """The child process, driven over its stdin and stdout."""

    def __init__(self, path: Path, work_dir: Path, batch_rows: int, serve: bool = True):
        args = [PY, "-m", "benchmark.plain", "--file", str(path), "--dir", str(work_dir), "--batch-rows", str(batch_rows)]
        self.proc = subprocess.Popen(args + (["--serve"] if serve else []), cwd=ROOT / "scripts", stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.ingest = self._read()
        if serve:
            self._read()  # the tables are ready: nothing of the child runs while the server is measured

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"bench: plain chDB exited with {self.proc.wait()}")
        return json.loads(line)

    def query(self, sql: str) -> dict:
        """{"ms": time in chDB, "data": rows} of one statement."""
        self.proc.stdin.write(json.dumps({"sql": sql}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        """End the child (it removes its data dir)."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(60)


def ingest(conn, path: Path, batch_rows: int) -> dict:
    """The batches into raw.user_events alone, then into the project's tables and views (database mv): rows/s each."""
    from tblocal.ddl import create_table, plan
    from tblocal.pipes import Renderer
    from tblocal.project import load_project

    project = load_project(ROOT)
    conn.query("CREATE DATABASE raw ENGINE = Atomic")
    conn.query(create_table("raw", project.datasources["user_events"]))
    conn.query("CREATE DATABASE mv ENGINE = Atomic")
    for stmt in plan(project, Renderer(project, "mv"), None).statements:
        conn.query(stmt)
    nbytes = path.stat().st_size
    out = {}
    for key, table in (("table_only", "raw.user_events"), ("with_mvs", "mv.user_events")):
        start = time.perf_counter()
        for chunk in batches(path, batch_rows):  # read as it goes (10M events would not fit twice in memory)
            conn.query(f"INSERT INTO {table} SETTINGS parallel_view_processing = 1 FORMAT JSONEachRow\n" + chunk.decode())
        seconds = time.perf_counter() - start
        rows = int(conn.query(f"SELECT count() FROM {table}", "CSV").bytes())
        out[key] = {"rows": rows, "bytes": nbytes, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds),
                    "mb_per_s": round(nbytes / seconds / 1e6, 2)}
    return out


def settle(conn, limit_s: float = 120) -> None:
    """Wait for background merges to finish, so queries are timed on settled tables (as on the server side)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and int(conn.query("SELECT count() FROM system.merges", "CSV").bytes() or 0):
        time.sleep(0.5)


def serve(conn, out) -> None:
    """The naive side's tables, then one JSON answer per SQL line on stdin."""
    conn.query("DROP DATABASE mv SYNC")
    conn.query(f"CREATE TABLE raw.{USER_TABLE} ENGINE = MergeTree ORDER BY (user_id, timestamp) AS SELECT * FROM raw.{RAW_TABLE}")
    settle(conn)
    for table in (RAW_TABLE, USER_TABLE):
        conn.query(f"OPTIMIZE TABLE raw.{table} FINAL")
    conn.query("USE raw")
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        sql = json.loads(line)["sql"]
        start = time.perf_counter()
        body = conn.query(sql, "JSON").bytes()
        ms = (time.perf_counter() - start) * 1000
        out.write(json.dumps({"ms": ms, "data": json.loads(body)["data"]}) + "\n")
        out.flush()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--file", type=Path, required=True)
    p.add_argument("--dir", type=Path, required=True)
    p.add_argument("--batch-rows", type=int, default=10_000)
    p.add_argument("--serve", action="store_true")
    args = p.parse_args(argv)
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # the protocol owns the original stdout; anything else printed goes to stderr
    import chdb

    shutil.rmtree(args.dir, ignore_errors=True)
    conn = chdb.connect(str(args.dir))
    try:
        conn.query("SET session_timezone = 'UTC'")
        out.write(json.dumps(ingest(conn, args.file, args.batch_rows)) + "\n")
        out.flush()
        if args.serve:
            serve(conn, out)
    finally:
        conn.close()
        shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
