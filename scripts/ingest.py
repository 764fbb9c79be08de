#!/usr/bin/env python3
"""Send NDJSON files to a Tinybird target (tblocal, Tinybird Local or hosted) via the Events API.

Usage:
    python scripts/ingest.py FILE [FILE...] [--datasource user_events] [--batch-bytes N]
                             [--host URL] [--token TOKEN]

Target: --host/--token, else TB_HOST/TB_TOKEN, else `.tinyb` ({"host", "token"}) in the
current directory, else host http://127.0.0.1:7181 (a token is then still required).
"""

from __future__ import annotations

import argparse
import email.utils
import gzip
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import requests
from tqdm import tqdm

DEFAULT_HOST = "http://127.0.0.1:7181"
MAX_BATCH_BYTES = 10 * 1024 * 1024  # the Events API rejects bodies over 10 MB (after gunzip)
RETRY_STATUSES = (429, 503)
MAX_RETRY_WAIT = 60.0  # never trust a Retry-After that would stall us for longer


class IngestError(RuntimeError):
    """A batch could not be ingested (client error, or retries exhausted)."""


@dataclass
class Target:
    """Where to send events."""

    host: str
    token: str


@dataclass
class Summary:
    """Totals over all batches, as answered by the server."""

    successful_rows: int = 0
    quarantined_rows: int = 0
    batches: int = 0
    bytes_sent: int = 0
    errors: list[str] = field(default_factory=list)


def resolve_target(host: str | None = None, token: str | None = None,
                   env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Target:
    """Pick host and token: flags, then TB_HOST/TB_TOKEN, then .tinyb in cwd, then default host."""
    env = os.environ if env is None else env
    tinyb: dict = {}
    tinyb_path = (cwd or Path.cwd()) / ".tinyb"
    if tinyb_path.is_file():
        try:
            tinyb = json.loads(tinyb_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IngestError(f"cannot read {tinyb_path}: {exc}") from None
        if not isinstance(tinyb, dict):
            tinyb = {}
    host = host or env.get("TB_HOST") or tinyb.get("host") or DEFAULT_HOST
    token = token or env.get("TB_TOKEN") or tinyb.get("token")
    if not token:
        raise IngestError(
            "no token: pass --token, set TB_TOKEN, or run from a directory with a .tinyb file "
            "(tblocal prints its admin token at start)")
    return Target(host=host.rstrip("/"), token=token)


def iter_batches(paths: Iterable[str | Path], batch_bytes: int = MAX_BATCH_BYTES) -> Iterator[bytes]:
    """Yield uncompressed NDJSON chunks of at most batch_bytes, split on line boundaries."""
    if not 0 < batch_bytes <= MAX_BATCH_BYTES:
        raise ValueError(f"batch_bytes must be in 1..{MAX_BATCH_BYTES}")
    parts: list[bytes] = []
    size = 0
    for path in paths:
        with open(path, "rb") as fh:
            for line in fh:
                if not line.strip():
                    continue  # blank lines would only be quarantined noise
                if not line.endswith(b"\n"):
                    line += b"\n"  # last line of a file without a trailing newline
                if len(line) > batch_bytes:
                    raise IngestError(f"{path}: a line of {len(line)} bytes exceeds the batch limit")
                if size + len(line) > batch_bytes:
                    yield b"".join(parts)
                    parts, size = [], 0
                parts.append(line)
                size += len(line)
    if parts:
        yield b"".join(parts)


def retry_delay(response: requests.Response | None, attempt: int, base: float = 0.5) -> float:
    """Seconds to wait before the next attempt: Retry-After if given, else exponential backoff."""
    header = response.headers.get("Retry-After") if response is not None else None
    if header:
        try:
            return min(MAX_RETRY_WAIT, max(0.0, float(header)))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(header)
                return min(MAX_RETRY_WAIT, max(0.0, when.timestamp() - time.time()))
            except (TypeError, ValueError):
                pass
    return min(MAX_RETRY_WAIT, base * 2 ** attempt)


def send_batch(session: requests.Session, target: Target, datasource: str, payload: bytes,
               max_attempts: int = 6, sleep: Callable[[float], None] = time.sleep,
               timeout: float = 300.0) -> dict:
    """POST one gzip-compressed batch with wait=true, retrying 429/503 and connection errors."""
    body = gzip.compress(payload, compresslevel=5)
    url = f"{target.host}/v0/events"
    headers = {"Authorization": f"Bearer {target.token}", "Content-Encoding": "gzip",
               "Content-Type": "application/x-ndjson"}
    params = {"name": datasource, "wait": "true"}
    last_problem = ""
    for attempt in range(max_attempts):
        response = None
        try:
            response = session.post(url, params=params, data=body, headers=headers,
                                    timeout=(10.0, timeout))
        except (requests.ConnectionError, requests.Timeout) as exc:
            # Note: a retried POST whose first attempt did land would duplicate rows;
            # the Events API has no idempotency key, so this is the usual trade-off.
            last_problem = f"connection error: {exc.__class__.__name__}"
        else:
            if response.status_code < 300:
                try:
                    return response.json()
                except ValueError:
                    raise IngestError(f"HTTP {response.status_code}: response is not JSON") from None
            last_problem = f"HTTP {response.status_code}: {_error_text(response)}"
            if response.status_code not in RETRY_STATUSES:
                raise IngestError(last_problem)
        if attempt + 1 < max_attempts:
            sleep(retry_delay(response, attempt))
    raise IngestError(f"gave up after {max_attempts} attempts: {last_problem}")


def _error_text(response: requests.Response) -> str:
    try:
        return str(response.json().get("error", response.text))[:500]
    except (ValueError, AttributeError):
        return response.text[:500]


def ingest(paths: list[str | Path], target: Target, datasource: str = "user_events",
           batch_bytes: int = MAX_BATCH_BYTES, progress: bool | None = None,
           sleep: Callable[[float], None] = time.sleep, max_attempts: int = 6) -> Summary:
    """Send every line of `paths` to `datasource`; returns server-reported totals."""
    summary = Summary()
    total = sum(Path(p).stat().st_size for p in paths)
    # progress=None: tqdm shows the bar only on a terminal.
    with requests.Session() as session, tqdm(total=total, unit="B", unit_scale=True,
                                             unit_divisor=1024, disable=None if progress is None
                                             else not progress, file=sys.stderr) as bar:
        try:
            for payload in iter_batches(paths, batch_bytes):
                answer = send_batch(session, target, datasource, payload,
                                    max_attempts=max_attempts, sleep=sleep)
                summary.successful_rows += int(answer.get("successful_rows", 0))
                summary.quarantined_rows += int(answer.get("quarantined_rows", 0))
                summary.batches += 1
                summary.bytes_sent += len(payload)
                bar.update(len(payload))
        except IngestError as exc:
            exc.summary = summary  # so the caller can report what did land
            raise
    return summary


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse command-line arguments."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", metavar="FILE", help="NDJSON files")
    p.add_argument("--datasource", default="user_events")
    p.add_argument("--batch-bytes", type=int, default=MAX_BATCH_BYTES,
                   help="max uncompressed bytes per request (<= 10 MB)")
    p.add_argument("--host", help="API host (default: TB_HOST, .tinyb, or %s)" % DEFAULT_HOST)
    p.add_argument("--token", help="token with DATASOURCES:APPEND (default: TB_TOKEN or .tinyb)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="force the progress bar on/off (default: on a terminal only)")
    args = p.parse_args(argv)
    if not 0 < args.batch_bytes <= MAX_BATCH_BYTES:
        p.error(f"--batch-bytes must be in 1..{MAX_BATCH_BYTES}")
    return args


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exit status 1 on any failed batch."""
    args = parse_args(argv)
    started = time.monotonic()
    try:
        target = resolve_target(args.host, args.token)
        summary = ingest(args.files, target, args.datasource, args.batch_bytes, args.progress)
    except (IngestError, OSError) as exc:
        print(f"ingest: error: {exc}", file=sys.stderr)
        partial = getattr(exc, "summary", None)
        if partial is not None:
            print(f"before the error: {partial.batches} batch(es), "
                  f"successful_rows={partial.successful_rows} "
                  f"quarantined_rows={partial.quarantined_rows}", file=sys.stderr)
        return 1
    print(f"ingested {len(args.files)} file(s) into {args.datasource} in {summary.batches} batch(es), "
          f"{time.monotonic() - started:.1f}s: successful_rows={summary.successful_rows} "
          f"quarantined_rows={summary.quarantined_rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
