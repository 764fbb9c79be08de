"""docs/tblocal.md names every route of tblocal's one route table (the route list is kept true by this test)."""

import re
from pathlib import Path

from tblocal.api.app import ROUTES

DOC = (Path(__file__).resolve().parent.parent / "docs" / "tblocal.md").read_text()


def documented(path: str) -> bool:
    """Whether the doc names path, its {params} written as <anything> and /v1 or /v0 alike."""
    pattern = re.escape(path.rstrip("/") or "/")
    pattern = re.sub(r"\\\{[^}]+\\\}", r"<[^>]+>", pattern).replace("/v1/", "/v[01]/").replace("/v0/", "/v[01]/")
    return re.search(rf"`(GET |POST |PUT |DELETE |GET/POST )?{pattern}[`?/\[. ]", DOC) is not None


def test_every_route_is_in_the_doc():
    paths = sorted({r.path for r in ROUTES})
    assert [p for p in paths if not documented(p)] == []
