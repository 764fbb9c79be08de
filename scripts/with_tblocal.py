#!/usr/bin/env python3
"""Run a command against a tblocal it starts: `python scripts/with_tblocal.py CMD [ARGS...]`.

Starts tblocal (this repo's datafiles, a fresh data dir) on a free loopback port, runs CMD from the
repo root with TB_LOCAL_HOST / TB_LOCAL_PORT pointing at it, exactly as the Forward CLI reads them
for `tb --local`, then stops the server and exits with CMD's exit code. `make tb-local` runs the
CLI's own `tb --local build` and `tb --local test run` this way, with no Docker.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tblocal.launcher import ROOT, ServerProcess


def main(argv: list[str]) -> int:
    """Start tblocal, run argv against it, stop; CMD's exit code."""
    if not argv:
        raise SystemExit("usage: with_tblocal.py CMD [ARGS...]")
    with tempfile.TemporaryDirectory() as tmp:
        with ServerProcess(ROOT, Path(tmp) / "data") as server:
            print(f"with_tblocal: tblocal on {server.url}", file=sys.stderr, flush=True)
            env = {**os.environ, "TB_LOCAL_HOST": "127.0.0.1", "TB_LOCAL_PORT": str(server.port)}
            return subprocess.run(argv, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
