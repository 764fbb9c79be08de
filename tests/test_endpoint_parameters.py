"""The five endpoint pipes declare their shared parameters with the same text (Forward has no include files).

Each parameter is declared once per pipe in a WITH item `{% if defined(p) %} ... {% end %} AS alias`;
where two pipes declare the same alias, the declaration (type, description, default) must be identical,
so a fix to one is made to all.
"""

import re

import pytest

from tblocal.launcher import ROOT

ENDPOINTS = ["user_content_affinity", "recommendation_performance", "session_analysis", "content_engagement", "user_recommendations"]
DATE_ALIASES = ["range_start", "range_end", "first_day", "last_day"]
# A WITH item declaring one parameter: no nested {% if %} between its {% if defined(...) %} and its {% end %} AS alias.
DECLARATION = re.compile(r"\{% if defined\((\w+)\) %\}(?:(?!\{% if ).)*?\{% end %\} AS (\w+)", re.S)
ORDER_CHECK = re.compile(r"\{% if defined\(start_date\) and defined\(end_date\) %\}.*?\{% end %\}\s*\{% end %\}", re.S)


def declarations(pipe: str) -> dict[str, str]:
    """alias -> its declaration text, whitespace-normalized, for every parameter WITH item of a pipe."""
    text = (ROOT / "pipes" / f"{pipe}.pipe").read_text()
    found: dict[str, str] = {}
    for m in DECLARATION.finditer(text):
        found.setdefault(m.group(2), " ".join(m.group(0).split()))
    return found


def test_every_endpoint_declares_the_date_range():
    for pipe in ENDPOINTS:
        assert [a for a in DATE_ALIASES if a in declarations(pipe)] == DATE_ALIASES, pipe


@pytest.mark.parametrize("alias", sorted({a for p in ENDPOINTS for a in declarations(p)}))
def test_a_shared_parameter_is_declared_identically(alias):
    texts = {p: declarations(p)[alias] for p in ENDPOINTS if alias in declarations(p)}
    assert len(set(texts.values())) == 1, f"{alias} differs between {sorted(texts)}"


def test_shared_declarations_are_found():
    # The check above must see the real blocks: at least the date range and the platform/device/user filters.
    shared = {a for a in {a for p in ENDPOINTS for a in declarations(p)} if sum(a in declarations(p) for p in ENDPOINTS) > 1}
    assert shared >= {*DATE_ALIASES, "platform_filter", "device_filter", "user_id_filter", "algorithm_filter"}


def test_every_endpoint_checks_the_date_order_the_same_way():
    checks = set()
    for pipe in ENDPOINTS:
        found = ORDER_CHECK.findall((ROOT / "pipes" / f"{pipe}.pipe").read_text())
        assert len(found) >= 1, pipe
        checks |= {" ".join(f.split()) for f in found}
    assert checks == {
        "{% if defined(start_date) and defined(end_date) %} {% if start_date.replace('T', ' ')[:19] > "
        "end_date.replace('T', ' ')[:19] %} {{ error('start_date must be earlier than or equal to end_date', 400) }} "
        "{% end %} {% end %}"
    }
