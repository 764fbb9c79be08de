"""docs/endpoints.md against the pipes: parameter names, types, defaults and enums, and output columns.

The pipes' parameters are read the way tblocal reads them to validate requests and build
/v0/pipes/openapi.json (tblocal.project.load_project, then tblocal.pipes.pipe_parameters,
which runs tinybird.sql_template over every endpoint node), so the reference cannot drift
from what the endpoints accept. Output columns are checked against the regression suite's
independent reference (tests/reference.py), which the regression tests compare with the
endpoints' `meta`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import reference
from tblocal.openapi import document
from tblocal.pipes import pipe_parameters
from tblocal.project import load_project

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "endpoints.md"
NO_DEFAULT = {"—", "-", ""}
PROJECT = load_project(ROOT)


def _sections(text: str, level: str) -> dict[str, str]:
    """Heading text -> body, for headings of exactly this level ('## ' or '### ')."""
    parts = re.split(rf"^{re.escape(level)}(?!#)(.+)$", text, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _table(body: str) -> list[dict[str, str]]:
    """The first Markdown table of body, as rows keyed by header."""
    lines = [line.strip() for line in body.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    header, _, *data = rows
    return [dict(zip(header, row)) for row in data]


def _doc_params(rows: list[dict[str, str]]) -> dict[str, dict]:
    params = {}
    for row in rows:
        enum = re.findall(r"`([^`]+)`", row["values"])
        default = None if row["default"] in NO_DEFAULT else row["default"]
        params[row["param"]] = {"type": row["type"], "default": default, "enum": enum or None}
    return params


def _code_params(pipe) -> dict[str, dict]:
    params = {}
    for var in pipe_parameters(pipe):
        default = var.get("default")
        params[var["name"]] = {
            "type": var.get("type") or "String",
            "default": None if default is None else _number_text(default),
            "enum": list(var["enum"]) if var.get("enum") else None,
        }
    return params


def _number_text(value) -> str:
    """30 and 30.0 both read '30', as the doc writes them."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


@pytest.fixture(scope="module")
def doc() -> dict[str, str]:
    return _sections(DOC.read_text(), "## ")


@pytest.fixture(scope="module")
def common(doc) -> dict[str, dict]:
    calling = _sections(doc["Calling an endpoint"], "### ")
    return _doc_params(_table(calling["Parameters common to all endpoints"]))


def test_every_endpoint_is_documented(doc):
    """docs/endpoints.md has a section for each endpoint pipe, and for nothing else that looks like one."""
    endpoints = set(PROJECT.endpoints)
    assert len(endpoints) == 6
    assert endpoints <= set(doc), sorted(endpoints - set(doc))
    documented = {name for name in doc if re.fullmatch(r"[a-z_]+", name)}
    assert documented == endpoints


@pytest.mark.parametrize("name", sorted(load_project(ROOT).endpoints))
def test_parameters_match_the_pipe(doc, common, name):
    """Names, types, defaults and enums of the doc's tables equal the pipe's template parameters."""
    sections = _sections(doc[name], "### ")
    documented = {**common, **_doc_params(_table(sections["Parameters"]))}
    in_code = _code_params(PROJECT.endpoints[name])
    assert sorted(documented) == sorted(in_code), "parameter names differ"
    for param, spec in in_code.items():
        assert documented[param] == spec, param


@pytest.mark.parametrize("name", sorted(load_project(ROOT).endpoints))
def test_parameters_match_the_openapi_document(doc, common, name):
    """The OpenAPI document tblocal serves lists the same parameters, defaults and enums as the doc."""
    openapi = document(PROJECT, "http://localhost:7181", set(PROJECT.endpoints))
    operation = openapi["paths"][f"/v0/pipes/{name}.json"]["get"]
    sections = _sections(doc[name], "### ")
    documented = {**common, **_doc_params(_table(sections["Parameters"]))}
    served = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert sorted(served) == sorted(documented)
    for param, schema in served.items():
        default = schema.get("default")
        assert documented[param]["default"] == (None if default is None else _number_text(default)), param
        assert documented[param]["enum"] == schema.get("enum"), param
    assert not any(p["required"] for p in operation["parameters"]), "every parameter is optional"


@pytest.mark.parametrize("name", sorted(load_project(ROOT).endpoints))
def test_columns_in_order(doc, name):
    """The Columns table lists the output columns in the order the endpoint returns them."""
    rows = _table(_sections(doc[name], "### ")["Columns"])
    assert [row["#"] for row in rows] == [str(i) for i in range(1, len(rows) + 1)]
    assert [row["column"] for row in rows] == list(reference.COLUMNS[name])


@pytest.mark.parametrize("name", sorted(load_project(ROOT).endpoints))
def test_each_endpoint_has_a_curl_example(doc, name):
    """Each endpoint section has a runnable curl example on its own pipe."""
    assert f'curl -X GET "http://localhost:7181/v0/pipes/{name}.json?token=$TB_ADMIN_TOKEN' in doc[name]


def test_reference_tables_parse():
    """The parser reads a table with an enum and an empty default the way the tests above rely on."""
    rows = _table("x\n| param | type | default | values | description |\n|---|---|---|---|---|\n| a | String | — | `p`, `q` | d |\n")
    assert _doc_params(rows) == {"a": {"type": "String", "default": None, "enum": ["p", "q"]}}


def test_links_stay_inside_the_repository():
    """Every link of README.md and docs/*.md is a web address or a file of this repository; none leaves it."""
    errors = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"https?://", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#")[0]).resolve()
            if not path.is_relative_to(ROOT) or not path.exists():
                errors.append(f"{page.relative_to(ROOT)}: {target}")
    assert errors == []
    assert "CONTRACT.md" not in (ROOT / "README.md").read_text(), "the spec is docs/endpoints.md, in this repository"
