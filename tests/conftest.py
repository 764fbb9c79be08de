"""Shared fixtures: the in-process engine and app, real tblocal servers on loopback, and the regression target."""

import os

import pytest
from starlette.testclient import TestClient

from tblocal.engine import Engine
from tblocal.launcher import ROOT, ServerProcess
from tblocal.api import create_app
from tblocal.settings import Settings
from tblocal.workspaces import Workspaces

from helpers import TEST_PROJECT


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    """The process's in-process chDB engine, on a fresh data dir (chDB allows one per process)."""
    return Engine.open(tmp_path_factory.mktemp("engine") / "chdb")


@pytest.fixture(scope="session")
def local(engine):
    """tblocal's ASGI app in-process (no socket) over tests/project, on the process's engine: a TestClient
    whose requests come from loopback, as the tb CLI's do."""
    settings = Settings.from_env(environ={}, data_dir=engine.path.parent, project=TEST_PROJECT)
    with TestClient(create_app(Workspaces(settings)), base_url="http://127.0.0.1:7181", client=("127.0.0.1", 50000)) as client:
        yield client


@pytest.fixture(scope="session")
def target(tmp_path_factory):
    """(base URL, admin token) of the regression target: TB_HOST/TB_TOKEN, else a tblocal with fixtures/ loaded."""
    host, token = os.environ.get("TB_HOST"), os.environ.get("TB_TOKEN")
    if host and token:
        yield host.rstrip("/"), token
        return
    server = ServerProcess(ROOT, tmp_path_factory.mktemp("engagement") / "data", load_fixtures=ROOT / "fixtures").start(timeout=180)
    yield server.url, server.admin_token
    server.stop()
