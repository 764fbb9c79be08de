"""tblocal.access: scope names, what a Grant allows, and how a request's token is resolved (in-process app)."""

import pytest
from starlette.requests import Request

from tblocal.access import Grant, access, admin_access, require_user, resolve, scope_name, token_of
from tblocal.errors import Forbidden

READER = Grant("r", "p.r", ("PIPES:READ:top_users", "DATASOURCES:READ:clicks"))
APPENDER = Grant("a", "p.w", ("DATASOURCES:APPEND:clicks",))
ADMIN = Grant("admin token", "p.a", ("ADMIN",))


def request(app=None, headers: dict | None = None, query: str = "") -> Request:
    """A real starlette Request over an ASGI scope, as a route receives it."""
    scope = {"type": "http", "method": "GET", "path": "/", "query_string": query.encode(),
             "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]}
    if app is not None:
        scope["app"] = app
    return Request(scope)


def test_scope_names():
    assert scope_name("pipe", "READ", "top_users") == "PIPES:READ:top_users"
    assert scope_name("datasource", "APPEND", "clicks") == "DATASOURCES:APPEND:clicks"
    assert scope_name("datasource", "READ", "clicks") == "DATASOURCES:READ:clicks"


def test_grant_can_and_json():
    reader = Grant("r", "p.r", ("PIPES:READ:top_users",))
    admin = Grant("admin token", "p.a", ("ADMIN",))
    assert reader.can("PIPES:READ:top_users") and not reader.can("PIPES:READ:other") and not reader.can("ADMIN")
    assert admin.can("DATASOURCES:APPEND:anything")
    assert reader.as_json() == {"name": "r", "token": "p.r", "scopes": [{"type": "PIPES:READ", "resource": "top_users"}]}
    assert admin.as_json() == {"name": "admin token", "token": "p.a", "scopes": [{"type": "ADMIN"}]}


def test_what_each_grant_allows():
    table = {g.name: (g.is_admin, g.can_read_pipe("top_users"), g.can_read_pipe("kinds"), g.can_read_datasource("clicks"),
                      g.can_append("clicks"), g.can_see_datasource("clicks"), g.can_see_datasource("clicks_daily_mv"))
             for g in (READER, APPENDER, ADMIN)}
    assert table == {
        "r": (False, True, False, True, False, True, False),
        "a": (False, False, False, False, True, True, False),
        "admin token": (True, True, True, True, True, True, True),
    }


def test_token_of_prefers_the_bearer_header():
    assert token_of(request(headers={"Authorization": "Bearer  p.h "}, query="token=p.q")) == "p.h"
    assert token_of(request(headers={"Authorization": "bearer p.h"})) == "p.h"
    assert token_of(request(query="token=p.q")) == "p.q"
    assert token_of(request(headers={"Authorization": "Basic xyz"})) is None
    assert token_of(request()) is None


@pytest.fixture
def registry(local):
    return local.app.state.workspaces


def test_resolve_admin_user_and_datafile_tokens(registry):
    default = registry.default
    assert resolve(registry, default.tokens.admin.token) == (default, default.tokens.admin)
    assert resolve(registry, registry.user_token) == (default, default.tokens.admin)  # the user token acts as admin
    appender = default.tokens.by_name("clicks_append")
    assert resolve(registry, appender.token) == (default, appender)
    assert appender.can_append("clicks") and not appender.is_admin


@pytest.mark.parametrize("token, message", [
    (None, "Authentication is required: pass a token with ?token= or an Authorization: Bearer header"),
    ("", "Authentication is required: pass a token with ?token= or an Authorization: Bearer header"),
    ("p.nope", "Invalid token"),
])
def test_resolve_refuses_missing_and_unknown_tokens(registry, token, message):
    with pytest.raises(Forbidden) as e:
        resolve(registry, token)
    assert e.value.message == message and e.value.status == 403


def test_access_and_the_two_admin_gates(local, registry):
    default = registry.default
    admin, appender = default.tokens.admin.token, default.tokens.by_name("clicks_append").token
    assert access(request(local.app, query=f"token={appender}")) == (default, default.tokens.by_name("clicks_append"))
    assert admin_access(request(local.app, {"Authorization": f"Bearer {admin}"}), "no") is default
    with pytest.raises(Forbidden) as e:
        admin_access(request(local.app, query=f"token={appender}"), "Truncating needs the admin token")
    assert e.value.message == "Truncating needs the admin token"
    assert require_user(request(local.app, query=f"token={registry.user_token}")) is None
    assert require_user(request(local.app, query=f"token={admin}")) is None
    with pytest.raises(Forbidden) as e:
        require_user(request(local.app, query=f"token={appender}"))
    assert e.value.message == "Managing workspaces needs the user token or the admin token (GET /tokens)"


def test_read_all_reads_every_pipe_and_datasource_and_nothing_else():
    grant = Grant("r", "p.r", ("WORKSPACE:READ_ALL",))
    assert grant.can_read_pipe("top_users") and grant.can_read_datasource("clicks")
    assert not grant.can_append("clicks") and not grant.is_admin and not grant.can_manage_tokens
    assert Grant("t", "p.t", ("TOKENS",)).can_manage_tokens and Grant("a", "p.a", ("ADMIN",)).can_manage_tokens


def test_fixed_params_win_over_the_request():
    grant = Grant("front", "eyJ", ("PIPES:READ:top_users",), fixed_params={"top_users": {"kind": "tap", "limit": "3"}})
    assert grant.pinned({"kind": "click", "start": "2024-01-01 00:00:00"}, {"top_users"}) == {
        "kind": "tap", "limit": "3", "start": "2024-01-01 00:00:00"}
    assert grant.pinned({"kind": "click"}, {"other"}) == {"kind": "click"}


def test_two_pipes_fixing_one_param_differently_cannot_be_read_together():
    grant = Grant("front", "eyJ", ("PIPES:READ:a", "PIPES:READ:b"), fixed_params={"a": {"user": "u1"}, "b": {"user": "u2"}})
    assert grant.pinned({}, {"a"}) == {"user": "u1"}
    with pytest.raises(Forbidden, match="different values"):
        grant.pinned({}, {"a", "b"})


def test_a_filtered_datasource_is_read_through_its_filter():
    grant = Grant("f", "p.f", ("DATASOURCES:READ:clicks",), filters={"clicks": "user = 'u1'"})
    assert grant.row_filters("tb") == {"clicks": "(SELECT * FROM tb.`clicks` WHERE user = 'u1')"}
    assert grant.as_json()["scopes"] == [{"type": "DATASOURCES:READ", "resource": "clicks", "filter": "user = 'u1'"}]
    assert Grant("t", "p.t", ("TOKENS",)).as_json()["scopes"] == [{"type": "TOKENS"}]
