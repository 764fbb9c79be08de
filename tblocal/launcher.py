"""A real tblocal server in a subprocess on 127.0.0.1: the one launcher of tests, scripts, bench, fuzz and soak."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`python -m tblocal serve` on a free loopback port; always stopped by stop() or kill()."""

    def __init__(self, project: Path, data_dir: Path, load_fixtures: Path | None = None, env: dict | None = None, extra_args=(),
                 python: str = sys.executable, log_path: Path | None = None):
        self.project, self.data_dir, self.python = Path(project), Path(data_dir), python
        self.load_fixtures, self.extra_env, self.extra_args = load_fixtures, env or {}, list(extra_args)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = log_path or self.data_dir.parent / f"{self.data_dir.name}-server.log"

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "ServerProcess":
        """Start the server and wait until /v0/health answers."""
        args = [self.python, "-m", "tblocal", "serve", "--project", str(self.project), "--data-dir", str(self.data_dir), "--port", str(self.port)]
        if self.load_fixtures:
            args += ["--load-fixtures", str(self.load_fixtures)]
        env = {**os.environ, "TBLOCAL_LOG_LEVEL": "WARNING", **self.extra_env}
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args + self.extra_args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._close_log()
                raise RuntimeError(f"tblocal exited with {self.proc.returncode}: {self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/v0/health", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"tblocal did not answer within {timeout}s: {self.log_path.read_text()[-3000:]}")

    @property
    def admin_token(self) -> str:
        """The admin token, from Tinybird Local's /tokens bootstrap route."""
        return requests.get(self.url + "/tokens", timeout=5).json()["admin_token"]

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM and wait: a graceful shutdown that flushes pending rows."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_log()
        return self.proc.returncode if self.proc else 0

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to flush."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_log()

    def _close_log(self) -> None:
        if getattr(self, "log", None) is not None:
            self.log.close()
            self.log = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
