"""tblocal.access: scope names, what a Grant allows (and the one 403 it answers), and how a token is resolved."""

import pytest

from tblocal.access import Grant, resolve, scope_name
from tblocal.errors import Forbidden

READER = Grant("r", "p.r", ("PIPES:READ:top_users", "DATASOURCES:READ:clicks"))
APPENDER = Grant("a", "p.w", ("DATASOURCES:APPEND:clicks",))
ADMIN = Grant("admin token", "p.a", ("ADMIN",))


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
    (None, "Authentication is required: pass a token in an Authorization: Bearer header or a token parameter"),
    ("", "Authentication is required: pass a token in an Authorization: Bearer header or a token parameter"),
    ("p.nope", "Invalid token"),
])
def test_resolve_refuses_missing_and_unknown_tokens(registry, token, message):
    with pytest.raises(Forbidden) as e:
        resolve(registry, token)
    assert e.value.message == message and e.value.status == 403


def test_ensure_answers_the_one_no_access_403():
    reader = Grant("r", "p.r", ("PIPES:READ:top_users", "DATASOURCES:READ:clicks"), filters={"clicks": "n > 1"})
    reader.ensure("read pipe", "top_users")
    reader.ensure("query", "clicks")
    reader.ensure("see", "clicks")
    refusals = []
    for action, resource in (("read pipe", "kinds"), ("see", "events"), ("query", "clicks_quarantine"), ("append", "clicks")):
        with pytest.raises(Forbidden) as e:
            reader.ensure(action, resource, "https://docs")
        refusals.append((e.value.status, e.value.message, e.value.documentation))
    assert refusals == [
        (403, "The token you have provided doesn't have access to the pipe 'kinds'", "https://docs"),
        (403, "The token you have provided doesn't have access to 'events'", "https://docs"),
        (403, "The token you have provided doesn't have access to 'clicks_quarantine'", "https://docs"),
        (403, "The token you have provided doesn't have access to append to 'clicks'", "https://docs"),
    ]


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
