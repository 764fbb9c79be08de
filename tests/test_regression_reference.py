"""Every endpoint against the independent Python reference, over many parameter sets."""

import pytest
import requests

import reference
from regression_params import ERROR_CASES, PIPES, param_sets
from tblocal.launcher import ROOT

pytestmark = pytest.mark.readonly
CASES = [(pipe, params) for pipe in PIPES for params in param_sets(pipe)]


@pytest.fixture(scope="session")
def events():
    """The fixture events, as the reference reads them."""
    return reference.load_events(ROOT / "fixtures" / "user_events.ndjson")


def _get(target, pipe: str, params: dict) -> requests.Response:
    host, token = target
    return requests.get(f"{host}/v0/pipes/{pipe}.json", params={**params, "token": token}, timeout=60)


@pytest.mark.parametrize(("pipe", "params"), CASES, ids=[f"{p}-{i}" for i, (p, _) in enumerate(CASES)])
def test_endpoint_matches_reference(target, events, pipe, params):
    """The endpoint's rows equal the reference's, column for column and in order."""
    response = _get(target, pipe, params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [m["name"] for m in body["meta"]] == list(_columns(pipe, params))
    reference.compare_rows(reference.run(pipe, events, params), body["data"])


@pytest.mark.parametrize(
    ("pipe", "params", "names"),
    [(pipe, params, name) for pipe, cases in ERROR_CASES.items() for params, name in cases],
)
def test_bad_parameter_is_400_naming_it(target, pipe, params, names):
    """A bad value answers 400 with Tinybird's error body, and the message names the parameter."""
    response = _get(target, pipe, params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error", "documentation"}
    assert names in body["error"]


def _columns(pipe: str, params: dict) -> list[str]:
    cols = list(reference.COLUMNS[pipe])
    if pipe == "user_content_affinity" and params.get("by") == "content_type":
        cols[1] = "content_type"
    return cols


def test_suite_size():
    """The comparison covers each endpoint with many parameter sets (guards against an empty grid)."""
    counts = {pipe: len(param_sets(pipe)) for pipe in PIPES}
    assert all(n >= 30 for n in counts.values()), counts
