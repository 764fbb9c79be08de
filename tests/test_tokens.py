import json
import os
import stat

import pytest

from helpers import TEST_PROJECT, copy_project
from tblocal import tokens
from tblocal.project import load_project
from tblocal.errors import BadRequest, NotFound
from tblocal.tokens import TokenStore


@pytest.fixture(scope="module")
def project():
    return load_project(TEST_PROJECT)


def known(store):
    """name -> scopes of the admin token and the tokens these tests rely on."""
    return {g.name: g.scopes for g in store.grants if g.name in ("admin token", "clicks_append", "top_users_read")}


def test_scopes_are_exactly_the_datafiles(tmp_path, project):
    store = TokenStore(tmp_path / "tokens.json", project)
    assert known(store) == {
        "admin token": ("ADMIN",),
        "clicks_append": ("DATASOURCES:APPEND:clicks",),
        "top_users_read": ("PIPES:READ:top_users",),
    }
    assert store.admin.name == "admin token"
    assert len({g.token for g in store.grants}) == len(store.grants)
    assert all(g.token.startswith("p.") and len(g.token) > 40 for g in store.grants)


def test_values_are_stable_across_reload_and_kept_private(tmp_path, project):
    path = tmp_path / "tokens.json"
    first = {g.name: g.token for g in TokenStore(path, project).grants}
    again = {g.name: g.token for g in TokenStore(path, project).grants}
    assert first == again
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(path.read_text()) == {"values": first, "custom": {}}


def test_tb_token_sets_the_admin_value(tmp_path, project):
    path = tmp_path / "tokens.json"
    made = TokenStore(path, project).admin.token
    store = TokenStore(path, project, admin_token="p.fixed")
    assert store.admin.token == "p.fixed" != made
    assert store.find("p.fixed") is store.admin


def test_a_token_line_shared_by_two_resources_gets_both_scopes(tmp_path):
    root = copy_project(tmp_path / "p")
    path = root / "pipes" / "user_clicks.pipe"
    path.write_text('TOKEN "top_users_read" READ\n\n' + path.read_text())
    store = TokenStore(tmp_path / "tokens.json", load_project(root))
    assert store.by_name("top_users_read").scopes == ("PIPES:READ:top_users", "PIPES:READ:user_clicks")


def test_scopes_follow_the_datafiles_not_the_saved_file(tmp_path, project):
    path = tmp_path / "tokens.json"
    old = TokenStore(path, project)
    root = copy_project(tmp_path / "p")
    ds = root / "datasources" / "clicks.datasource"
    ds.write_text(ds.read_text().replace('TOKEN "clicks_append" APPEND\n', ""))
    new = TokenStore(path, load_project(root))
    assert new.by_name("clicks_append") is None
    assert new.find(old.by_name("clicks_append").token) is None
    assert new.by_name("top_users_read").token == old.by_name("top_users_read").token


def test_find_by_value(tmp_path, project):
    store = TokenStore(tmp_path / "tokens.json", project)
    for grant in store.grants:
        assert store.find(grant.token) is grant
    assert store.find(store.admin.token + "x") is None
    assert store.find(store.admin.token[:-1]) is None
    assert store.find("") is None
    assert store.find(None) is None
    assert store.find("clicks_append") is None  # a name is not a token


def test_find_compares_every_grant_in_constant_time(tmp_path, project, monkeypatch):
    store = TokenStore(tmp_path / "tokens.json", project)
    calls = []
    real = tokens.hmac.compare_digest

    def counting(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", counting)
    assert store.find(store.admin.token) is store.admin  # the first grant matches...
    assert len(calls) == len(store.grants)  # ...and every other one is still compared


def test_static_tokens_through_the_api_survive_a_reload(tmp_path, project):
    path = tmp_path / "tokens.json"
    store = TokenStore(path, project)
    made = store.create("reporting", ["PIPES:READ:top_users", "DATASOURCES:READ:clicks:user = 'u1'", "PIPES:READ:top_users"])
    assert made.scopes == ("PIPES:READ:top_users", "DATASOURCES:READ:clicks") and made.filters == {"clicks": "user = 'u1'"}
    assert made.as_json()["scopes"] == [{"type": "PIPES:READ", "resource": "top_users"},
                                        {"type": "DATASOURCES:READ", "resource": "clicks", "filter": "user = 'u1'"}]
    again = TokenStore(path, project)
    assert again.by_name("reporting") == made and again.find(made.token) == made
    altered = again.alter("reporting", ["TOKENS"])
    assert altered.scopes == ("TOKENS",) and altered.token == made.token
    fresh = again.refresh("reporting")
    assert fresh.token != made.token and again.find(made.token) is None
    again.remove("reporting")
    assert TokenStore(path, project).by_name("reporting") is None


def test_refreshing_the_admin_token_changes_it_unless_tb_token_sets_it(tmp_path, project):
    store = TokenStore(tmp_path / "tokens.json", project)
    old = store.admin.token
    assert store.refresh("admin token").token != old == old
    assert TokenStore(tmp_path / "tokens.json", project).admin.token == store.admin.token
    pinned = TokenStore(tmp_path / "pinned.json", project, admin_token="p.fixed")
    with pytest.raises(BadRequest, match="TB_TOKEN"):
        pinned.refresh("admin token")


@pytest.mark.parametrize("call, args, error", [
    ("create", ("", ["ADMIN"]), "'name' parameter is required"),
    ("create", ("top_users_read", ["ADMIN"]), "already exists"),
    ("create", ("x", []), "At least one scope"),
    ("create", ("x", ["PIPES:READ:nope"]), "does not have"),
    ("create", ("x", ["DATASOURCES:READ:nope:a = 1"]), "does not have"),
    ("create", ("x", ["PIPES:APPEND:top_users"]), "does not support"),
    ("create", ("x", ["WORKSPACE:DEPLOY"]), "does not support"),
    ("alter", ("top_users_read", ["ADMIN"]), "comes from the datafiles"),
    ("alter", ("admin token", ["PIPES:READ:top_users"]), "comes from the datafiles"),
    ("remove", ("clicks_append",), "comes from the datafiles"),
])
def test_bad_token_changes_are_400(tmp_path, project, call, args, error):
    store = TokenStore(tmp_path / "tokens.json", project)
    with pytest.raises(BadRequest, match=error):
        getattr(store, call)(*args)
    assert json.loads((tmp_path / "tokens.json").read_text())["custom"] == {}


def test_an_unknown_token_is_404(tmp_path, project):
    store = TokenStore(tmp_path / "tokens.json", project)
    for call, args in (("refresh", ("nope",)), ("remove", ("nope",)), ("alter", ("nope", ["ADMIN"]))):
        with pytest.raises(NotFound):
            getattr(store, call)(*args)
