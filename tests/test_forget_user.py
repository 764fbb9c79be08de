"""`make forget-user` (scripts/forget_user.py) against a real tblocal holding fixtures/: afterwards every
endpoint equals the reference computed without the forgotten users, and the users are in no data source."""

import os
import subprocess
import sys

import pytest
import requests

import reference
from regression_params import PIPES, param_sets
from tblocal.launcher import ROOT, ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
FORGOTTEN = ["u_johnsonjoshua", "u_garzaanthony"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = ServerProcess(ROOT, tmp_path_factory.mktemp("forget") / "data", load_fixtures=ROOT / "fixtures").start(timeout=180)
    yield server
    server.stop()


def make(server, *args):
    env = {**os.environ, "TB_HOST": server.url, "TB_TOKEN": server.admin_token}
    return subprocess.run(["make", "--no-print-directory", "forget-user", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_refuses_an_empty_id_or_a_pattern(server):
    for args in ((), ("USER_ID=",), ("USER_ID=u_%",), ("USER_ID=u_*",)):
        done = make(server, *args)
        assert done.returncode != 0 and "forget-user:" in done.stderr, done.stderr


def test_forgotten_users_are_in_no_endpoint(server):
    events = reference.load_events(ROOT / "fixtures" / "user_events.ndjson")
    assert all(any(e["user_id"] == u for e in events) for u in FORGOTTEN)
    done = make(server, f"USER_ID={FORGOTTEN[0]}")
    assert done.returncode == 0 and "is in no data source and no view" in done.stdout, done.stdout + done.stderr
    env = {**os.environ, "TB_HOST": server.url, "TB_TOKEN": server.admin_token}
    both = subprocess.run([sys.executable, "scripts/forget_user.py", *reversed(FORGOTTEN)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)  # a batch, one of them already forgotten
    assert both.returncode == 0 and "is in no data source and no view" in both.stdout, both.stdout + both.stderr
    again = make(server, f"USER_ID={FORGOTTEN[0]}")  # idempotent: nothing left to remove, checked again
    assert again.returncode == 0 and "0 events" in again.stdout, again.stdout + again.stderr
    kept = [e for e in events if e["user_id"] not in FORGOTTEN]
    for pipe in PIPES:
        for params in param_sets(pipe):
            r = requests.get(f"{server.url}/v0/pipes/{pipe}.json", params={**params, "token": server.admin_token}, timeout=60)
            assert r.status_code == 200, r.text
            reference.compare_rows(reference.run(pipe, kept, params), r.json()["data"])


def test_without_tb_token_it_asks_tblocal_for_its_token(server):
    env = {k: v for k, v in os.environ.items() if k != "TB_TOKEN"} | {"TB_HOST": server.url}
    done = subprocess.run(["make", "--no-print-directory", "forget-user", "USER_ID=u_never_seen"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "0 events" in done.stdout, done.stdout + done.stderr
