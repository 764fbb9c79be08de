"""Tests for scripts/ingest.py against a real HTTP stub on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import gzip
import importlib.util
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_module():
    spec = importlib.util.spec_from_file_location("ingest_script", ROOT / "scripts" / "ingest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module while building classes
    spec.loader.exec_module(module)
    return module


ingest = _load_module()


class Stub:
    """Events API stand-in: records requests and answers from a scripted list of statuses."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: list[tuple[int, dict]] = []  # (status, headers) consumed per request
        self.lock = threading.Lock()

    def handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                raw = gzip.decompress(body) if self.headers.get("Content-Encoding") == "gzip" else body
                url = urlsplit(self.path)
                lines = raw.decode("utf-8").splitlines()
                with stub.lock:
                    stub.requests.append({"path": url.path, "query": parse_qs(url.query),
                                          "auth": self.headers.get("Authorization"),
                                          "encoding": self.headers.get("Content-Encoding"),
                                          "raw": raw, "lines": lines})
                    status, headers = stub.script.pop(0) if stub.script else (200, {})
                if status < 300:
                    bad = sum(1 for line in lines if '"bad"' in line)
                    payload = {"successful_rows": len(lines) - bad, "quarantined_rows": bad}
                else:
                    payload = {"error": f"status {status}", "documentation": "stub"}
                data = json.dumps(payload).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep test output clean
                pass

        return Handler


@pytest.fixture
def stub():
    state = Stub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), state.handler())
    # Short poll interval: shutdown() waits for the next poll.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    state.host = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def write_ndjson(path: Path, n: int, start: int = 0, trailing_newline: bool = True) -> Path:
    lines = [json.dumps({"event_id": f"e{i:04d}", "pad": "x" * 20}) for i in range(start, start + n)]
    path.write_text("\n".join(lines) + ("\n" if trailing_newline else ""), encoding="utf-8")
    return path


# ---------------------------------------------------------------- batching

def test_batches_split_on_lines_and_respect_limit(tmp_path):
    a = write_ndjson(tmp_path / "a.ndjson", 50)
    b = write_ndjson(tmp_path / "b.ndjson", 30, start=50, trailing_newline=False)
    line_len = len((tmp_path / "a.ndjson").read_bytes().splitlines(keepends=True)[0])
    batches = list(ingest.iter_batches([a, b], batch_bytes=line_len * 7 + 3))
    assert all(len(batch) <= line_len * 7 + 3 for batch in batches)
    assert all(batch.endswith(b"\n") for batch in batches)
    ids = [json.loads(line)["event_id"] for batch in batches for line in batch.splitlines()]
    assert ids == [f"e{i:04d}" for i in range(80)]
    assert len(batches) == -(-80 // 7)


def test_blank_lines_skipped_and_oversized_line_rejected(tmp_path):
    path = tmp_path / "x.ndjson"
    path.write_bytes(b'{"a":1}\n\n   \n{"a":2}\n')
    assert list(ingest.iter_batches([path])) == [b'{"a":1}\n{"a":2}\n']
    with pytest.raises(ingest.IngestError, match="exceeds"):
        list(ingest.iter_batches([path], batch_bytes=4))
    with pytest.raises(ValueError):
        list(ingest.iter_batches([path], batch_bytes=ingest.MAX_BATCH_BYTES + 1))


# ---------------------------------------------------------------- target resolution

def test_resolve_target_precedence(tmp_path):
    (tmp_path / ".tinyb").write_text(json.dumps({"host": "http://tinyb:1/", "token": "t_file"}))
    env = {"TB_HOST": "http://env:2", "TB_TOKEN": "t_env"}
    assert ingest.resolve_target("http://flag:3", "t_flag", env, tmp_path) == \
        ingest.Target("http://flag:3", "t_flag")
    assert ingest.resolve_target(None, None, env, tmp_path) == ingest.Target("http://env:2", "t_env")
    assert ingest.resolve_target(None, None, {}, tmp_path) == ingest.Target("http://tinyb:1", "t_file")


def test_resolve_target_default_host_needs_token(tmp_path):
    assert ingest.resolve_target(None, "t", {}, tmp_path).host == ingest.DEFAULT_HOST
    with pytest.raises(ingest.IngestError, match="token"):
        ingest.resolve_target(None, None, {}, tmp_path)


def test_retry_delay_honours_retry_after():
    class Fake:
        def __init__(self, headers):
            self.headers = headers
    assert ingest.retry_delay(Fake({"Retry-After": "3"}), attempt=0) == 3.0
    assert ingest.retry_delay(Fake({"Retry-After": "9999"}), attempt=0) == ingest.MAX_RETRY_WAIT
    assert ingest.retry_delay(Fake({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), 0) == 0.0
    assert ingest.retry_delay(Fake({}), attempt=2) == 2.0
    assert ingest.retry_delay(None, attempt=1) == 1.0


# ---------------------------------------------------------------- against the stub

def test_ingest_sends_gzip_batches_and_sums_rows(stub, tmp_path):
    path = write_ndjson(tmp_path / "e.ndjson", 40)
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"bad": true}\n')
    target = ingest.Target(stub.host, "tok")
    summary = ingest.ingest([path], target, "user_events", batch_bytes=1000, progress=False)
    assert summary.successful_rows == 40 and summary.quarantined_rows == 1
    assert summary.batches == len(stub.requests) > 1
    for request in stub.requests:
        assert request["path"] == "/v0/events"
        assert request["query"] == {"name": ["user_events"], "wait": ["true"]}
        assert request["auth"] == "Bearer tok"
        assert request["encoding"] == "gzip"
        assert len(request["raw"]) <= 1000
    assert b"".join(r["raw"] for r in stub.requests) == path.read_bytes()


def test_retries_429_and_503_honouring_retry_after(stub, tmp_path):
    path = write_ndjson(tmp_path / "e.ndjson", 5)
    stub.script = [(429, {"Retry-After": "2"}), (503, {"Retry-After": "0"}), (200, {})]
    waits: list[float] = []
    summary = ingest.ingest([path], ingest.Target(stub.host, "tok"), progress=False,
                            sleep=waits.append)
    assert waits == [2.0, 0.0]
    assert len(stub.requests) == 3
    assert summary.successful_rows == 5 and summary.batches == 1


def test_retries_are_bounded(stub, tmp_path):
    path = write_ndjson(tmp_path / "e.ndjson", 2)
    stub.script = [(503, {})] * 10
    waits: list[float] = []
    with pytest.raises(ingest.IngestError, match="gave up after 3 attempts: HTTP 503"):
        ingest.ingest([path], ingest.Target(stub.host, "tok"), progress=False,
                      sleep=waits.append, max_attempts=3)
    assert len(stub.requests) == 3 and waits == [0.5, 1.0]


@pytest.mark.parametrize("status", [400, 403, 404, 413])
def test_client_errors_fail_without_retry(stub, tmp_path, status):
    path = write_ndjson(tmp_path / "e.ndjson", 2)
    stub.script = [(status, {})]
    with pytest.raises(ingest.IngestError, match=f"HTTP {status}: status {status}"):
        ingest.ingest([path], ingest.Target(stub.host, "tok"), progress=False,
                      sleep=lambda s: None)
    assert len(stub.requests) == 1


def test_connection_errors_back_off_then_fail(tmp_path):
    # A port nobody listens on: bind, read the port, close.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = write_ndjson(tmp_path / "e.ndjson", 2)
    waits: list[float] = []
    with pytest.raises(ingest.IngestError, match="connection error"):
        ingest.ingest([path], ingest.Target(f"http://127.0.0.1:{port}", "tok"), progress=False,
                      sleep=waits.append, max_attempts=4)
    assert waits == [0.5, 1.0, 2.0]


def test_main_prints_summary(stub, tmp_path, capsys):
    path = write_ndjson(tmp_path / "e.ndjson", 12)
    code = ingest.main([str(path), "--host", stub.host, "--token", "tok", "--batch-bytes", "300",
                        "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert "successful_rows=12 quarantined_rows=0" in out
    assert stub.requests[0]["query"]["name"] == ["user_events"]


def test_main_exits_non_zero_on_403(stub, tmp_path, capsys):
    path = write_ndjson(tmp_path / "e.ndjson", 3)
    stub.script = [(403, {})]
    code = ingest.main([str(path), "--host", stub.host, "--token", "bad", "--datasource", "x",
                        "--no-progress"])
    assert code == 1
    assert "HTTP 403" in capsys.readouterr().err
    assert stub.requests[0]["query"]["name"] == ["x"]


def test_main_without_token_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TB_TOKEN", raising=False)
    monkeypatch.delenv("TB_HOST", raising=False)
    path = write_ndjson(tmp_path / "e.ndjson", 1)
    assert ingest.main([str(path), "--no-progress"]) == 1
    assert "no token" in capsys.readouterr().err
