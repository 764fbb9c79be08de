"""A small seeded slice of scripts/fuzz_routes.py in `make test`: every route of the route table, random and mutated
query strings, form, JSON, multipart and raw bodies, with admin, read, bad and no tokens, against a real server on
loopback: no 5xx, every 4xx Tinybird's JSON error, no reset; `make fuzz` runs a larger slice."""

import json
import subprocess
import sys

import pytest

from tblocal.api.app import ROUTES
from tblocal.launcher import ROOT

pytestmark = [pytest.mark.e2e]
CASES, SEED = 400, 20241206


def test_every_route_answers_fuzzed_requests_without_a_5xx_or_a_reset():
    proc = subprocess.run([sys.executable, "scripts/fuzz_routes.py", "--cases", str(CASES), "--seed", str(SEED), "--start-server"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    routes = {f"{m} {r.path}" for r in ROUTES for m in r.methods or [] if m != "HEAD"}
    assert (summary["cases"], summary["failures"], summary["healthy_after"]) == (CASES, 0, True), summary["examples"]
    assert set(summary["families"]) == routes
    assert {"200", "400", "403", "404"} <= set(summary["statuses"])
