"""A small seeded slice of scripts/fuzz.py (schemathesis against /v0/pipes/openapi.json) in `make test`.

schemathesis conflicts with tinybird-cli's pins, so it lives in .venv-fuzz, made by `make fuzz-venv`
(from PyPI, pinned) when missing; `make fuzz` runs the full 2,000+ cases."""

import json
import subprocess
import sys

import pytest

from tblocal.launcher import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CASES, SEED = 150, 20240601


@pytest.fixture(scope="module")
def fuzz_python():
    """.venv-fuzz's interpreter, creating the virtualenv from nothing when needed."""
    subprocess.run(["make", "-s", "fuzz-venv"], cwd=ROOT, check=True, timeout=900, stdout=subprocess.DEVNULL)
    return ROOT / ".venv-fuzz" / "bin" / "python"


def test_fuzz_slice_finds_no_server_error_and_only_documented_shapes(fuzz_python):
    proc = subprocess.run(
        [str(fuzz_python), "scripts/fuzz.py", "--cases", str(CASES), "--seed", str(SEED), "--start-server", sys.executable],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["cases"] >= CASES
    assert summary["server_errors"] == 0 and summary["failures"] == 0, summary["examples"]
    assert summary["healthy_after"]
    assert {"/v0/pipes/top_users.json", "/v0/pipes/user_clicks.json"} <= {k.split()[1] for k in summary["operations"]}
    assert summary["statuses"].get("200", 0) > 0 and any(s.startswith("4") for s in summary["statuses"])
