#!/usr/bin/env python3
"""Fuzz the endpoints of /v0/pipes/openapi.json with schemathesis (runs in .venv-fuzz).

Targets --url/--token, or with --start-server PYTHON starts `PYTHON -m tblocal serve` on
tests/project in a temporary data dir (127.0.0.1, a free port) and stops it at the end.
Cases are split over the operations and over schemathesis' positive (valid per the schema)
and negative (invalid) generation; hypothesis is seeded, so a run is repeatable.
Passes when no response is a 5xx and every response is JSON of the documented shape:
200 -> {meta, data, rows, statistics, ...}, 4xx -> {"error": str, ...}.
Prints a counts summary (JSON on the last line); exits 1 on any failure.
"""

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tblocal's launcher, from this venv (which has no tblocal installed)

from tblocal.launcher import ServerProcess  # noqa: E402

OK_KEYS = {"meta", "data", "rows", "statistics"}


def seed_rows(url: str, token: str) -> None:
    """Some clicks, so endpoints answer rows and not only empty results."""
    rows = "\n".join(
        json.dumps({"id": f"f{i}", "user": f"u{i % 7}", "kind": ["click", "tap"][i % 2], "ts": f"2024-03-{1 + i % 28:02d} 10:00:00", "value": i % 5})
        for i in range(200)
    )
    r = requests.post(url + "/v0/events", params={"name": "clicks", "wait": "true"}, data=rows, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    r.raise_for_status()


def shape_problem(response: requests.Response) -> str | None:
    """Why this response breaks the promise, or None."""
    if response.status_code >= 500:
        return f"server error {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        return "body is not JSON"
    if not isinstance(body, dict):
        return "body is not a JSON object"
    if response.status_code == 200:
        missing = OK_KEYS - set(body)
        if missing:
            return f"200 without {sorted(missing)}"
        if not (isinstance(body["data"], list) and isinstance(body["meta"], list) and isinstance(body["rows"], int)):
            return "200 with wrong types for meta/data/rows"
        if body["rows"] != len(body["data"]):
            return "rows != len(data)"
        return None
    if 400 <= response.status_code < 500:
        if not isinstance(body.get("error"), str) or not body["error"]:
            return f"{response.status_code} without an error message"
        return None
    return f"unexpected status {response.status_code}"


def run(url: str, token: str, cases: int, seed: int) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    doc = requests.get(url + "/v0/pipes/openapi.json", headers=headers, timeout=10).json()
    doc["servers"] = [{"url": url}]
    schema = schemathesis.openapi.from_dict(doc)
    operations = [op.ok() for op in schema.get_all_operations()]
    if not operations:
        raise SystemExit("fuzz: the OpenAPI document lists no operation")
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    per_run = max(1, -(-cases // (len(operations) * len(modes))))
    counts: collections.Counter = collections.Counter()
    statuses: collections.Counter = collections.Counter()
    failures: list[dict] = []
    session = requests.Session()

    plan = [(op, mode, seed) for op in operations for mode in modes]
    rounds = 0
    while sum(counts.values()) < cases and rounds < 5:  # small parameter spaces can end a run early: top up
        if rounds:
            per_run = max(1, -(-(cases - sum(counts.values())) // len(plan)))
        rounds += 1
        for operation, mode, _ in plan:
            run_one(operation, mode, seed + rounds - 1, per_run, url, headers, session, counts, statuses, failures)
    return {
        "cases": sum(counts.values()),
        "operations": dict(counts),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "server_errors": sum(v for k, v in statuses.items() if k >= 500),
        "failures": len(failures),
        "examples": failures[:10],
        "seed": seed,
        "schemathesis": schemathesis.SCHEMATHESIS_VERSION,
    }


def run_one(operation, mode, seed, per_run, url, headers, session, counts, statuses, failures) -> None:
    """per_run seeded hypothesis examples of one operation in one generation mode."""
    label = f"{operation.method.upper()} {operation.path} [{mode.value}]"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=per_run, deadline=None, database=None, derandomize=False, print_blob=False,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: every case is one request, counted once
        suppress_health_check=list(HealthCheck),
    )
    def one(case):
        response = case.call(base_url=url, session=session, headers=headers, timeout=30)
        counts[label] += 1
        statuses[response.status_code] += 1
        problem = shape_problem(response)
        if problem is None and response.status_code == 200:
            try:
                case.validate_response(response, checks=[not_a_server_error, response_schema_conformance, content_type_conformance], headers=headers)
            except Exception as e:  # schemathesis' own failure, with its explanation
                problem = f"schemathesis: {str(e).strip().splitlines()[0][:200]}"
        if problem:
            failures.append({"operation": label, "problem": problem, "status": response.status_code, "curl": case.as_curl_command()[:500], "body": response.text[:300]})

    hypothesis.seed(seed)(one)()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", help="base URL of a running server")
    p.add_argument("--token", help="token for --url (admin, to see every endpoint)")
    p.add_argument("--start-server", metavar="PYTHON", help="start tblocal with this interpreter (the project's .venv)")
    p.add_argument("--cases", type=int, default=2000)
    p.add_argument("--seed", type=int, default=20240601)
    args = p.parse_args(argv)
    server = None
    with tempfile.TemporaryDirectory(prefix="tblocal-fuzz-") as tmp:
        try:
            if args.start_server:
                server = ServerProcess(ROOT / "tests" / "project", Path(tmp) / "data", python=args.start_server,
                                       log_path=Path(tmp) / "fuzz-server.log").start(timeout=90)
                url, token = server.url, server.admin_token
                seed_rows(url, token)
            elif args.url and args.token:
                url, token = args.url.rstrip("/"), args.token
            else:
                p.error("give --url and --token, or --start-server PYTHON")
            started = time.monotonic()
            summary = run(url, token, args.cases, args.seed)
            summary["seconds"] = round(time.monotonic() - started, 1)
            health = requests.get(url + "/v0/health", timeout=10)
            summary["healthy_after"] = health.status_code == 200
        finally:
            if server is not None:
                server.stop()
    for name, n in summary["operations"].items():
        print(f"{n:6d}  {name}")
    print(f"cases {summary['cases']}, statuses {summary['statuses']}, failures {summary['failures']}, {summary['seconds']} s")
    for f in summary["examples"]:
        print(f"FAIL {f['operation']}: {f['problem']}\n     {f['curl']}\n     {f['body']}")
    print(json.dumps(summary))
    return 0 if summary["failures"] == 0 and summary["healthy_after"] and summary["cases"] >= args.cases else 1


if __name__ == "__main__":
    sys.exit(main())
