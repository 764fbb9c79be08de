"""tblocal's command line: --help, tokens, load, and the data dir lock."""

import json
import subprocess
import sys

import pytest
import requests

from tblocal.launcher import ROOT, ServerProcess

PROJECT = ROOT / "tests" / "project"


def tblocal(*args, check=True) -> subprocess.CompletedProcess:
    """Run `python -m tblocal ARGS` and capture its output."""
    return subprocess.run([sys.executable, "-m", "tblocal", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=check)


def test_help_lists_the_commands():
    """`tblocal --help` names serve, tokens and load; each has its own --help."""
    out = tblocal("--help").stdout
    assert all(cmd in out for cmd in ("serve", "tokens", "load"))
    assert "--load-fixtures" in tblocal("serve", "--help").stdout
    assert "--datasource" in tblocal("load", "--help").stdout


def test_tokens_prints_every_token_with_its_scopes(tmp_path):
    """`tblocal tokens` prints what GET /v0/tokens answers, and the values are stable."""
    first = json.loads(tblocal("tokens", "--project", str(PROJECT), "--data-dir", str(tmp_path)).stdout)
    again = json.loads(tblocal("tokens", "--project", str(PROJECT), "--data-dir", str(tmp_path)).stdout)
    assert first == again
    scopes = {t["name"]: t["scopes"] for t in first["tokens"]}
    assert scopes["admin token"] == [{"type": "ADMIN"}]
    assert scopes["clicks_append"] == [{"type": "DATASOURCES:APPEND", "resource": "clicks"}]
    assert scopes["top_users_read"] == [{"type": "PIPES:READ", "resource": "top_users"}]


@pytest.mark.e2e
def test_load_appends_and_quarantines_then_serve_sees_it(tmp_path):
    """`tblocal load` writes good rows and quarantines bad ones; a server on that data dir serves them."""
    data = tmp_path / "data"
    rows = tmp_path / "clicks.ndjson"
    rows.write_text('{"id":"1","user":"a","ts":"2024-01-01 00:00:00"}\n{"id":"2","ts":"2024-01-01 00:00:00"}\nnope\n')
    out = tblocal("load", str(rows), "--datasource", "clicks", "--project", str(PROJECT), "--data-dir", str(data)).stdout
    assert json.loads(out) == {"successful_rows": 1, "quarantined_rows": 2}
    missing = tblocal("load", str(rows), "--datasource", "nope", "--project", str(PROJECT), "--data-dir", str(data), check=False)
    assert missing.returncode != 0 and "Data Source 'nope' not found" in missing.stderr
    with ServerProcess(PROJECT, data) as server:
        locked = tblocal("load", str(rows), "--datasource", "clicks", "--project", str(PROJECT), "--data-dir", str(data), check=False)
        assert locked.returncode != 0 and "in use by another tblocal process" in locked.stderr
        r = requests.get(f"{server.url}/v0/pipes/top_users.json", params={"token": server.admin_token}, timeout=10)
        assert r.json()["data"] == [{"user": "a", "clicks": 1, "total_value": 0}]
