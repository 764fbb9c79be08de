"""The tests/<pipe>.yaml cases (Tinybird Forward's test format) against the target."""

import json
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import requests
import yaml

import reference
from regression_params import PIPES

pytestmark = pytest.mark.readonly
HERE = Path(__file__).resolve().parent
CASES = [(pipe, case) for pipe in PIPES for case in yaml.safe_load((HERE / f"{pipe}.yaml").read_text())]


@pytest.mark.parametrize(("pipe", "case"), CASES, ids=[f"{p}-{c['name']}" for p, c in CASES])
def test_case(target, pipe, case):
    """The endpoint answers the recorded status and the recorded rows, in order."""
    host, token = target
    params = dict(parse_qsl(case["parameters"], keep_blank_values=True))
    response = requests.get(f"{host}/v0/pipes/{pipe}.ndjson", params={**params, "token": token}, timeout=60)
    assert response.status_code == case["expected_http_status"], response.text
    if response.status_code != 200:
        assert set(response.json()) == {"error", "documentation"}
        return
    expected = [json.loads(line) for line in case["expected_result"].splitlines() if line.strip()]
    actual = [json.loads(line) for line in response.text.splitlines() if line.strip()]
    reference.compare_rows(expected, actual)


def test_every_endpoint_has_cases():
    """Each endpoint has recorded cases, including an error case and a non-empty result."""
    for pipe in PIPES:
        cases = [c for p, c in CASES if p == pipe]
        assert any(c["expected_http_status"] == 400 for c in cases), pipe
        assert any(c["expected_result"].strip() for c in cases), pipe
