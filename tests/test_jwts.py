"""JWT verification and minting (tblocal/jwts.py) with PyJWT-signed tokens: each way a token is refused is a 403."""

import time

import jwt
import pytest

from tblocal import jwts
from tblocal.errors import BadRequest, Forbidden

ADMIN = "p.admin-token-of-the-workspace"
WID = "0c5b8f6e-0000-4000-8000-000000000001"


def payload(**over) -> dict:
    body = {"workspace_id": WID, "name": "front", "exp": int(time.time()) + 10 * 365 * 86400,  # signed at collection: valid however long the suite runs
            "scopes": [{"type": "PIPES:READ", "resource": "top_users", "fixed_params": {"kind": "tap", "limit": 3}}]}
    return {**body, **over}


def sign(body: dict, key: str = ADMIN, **kw) -> str:
    return jwt.encode(body, key, algorithm=kw.pop("algorithm", "HS256"), **kw)


def refusal(token: str) -> str:
    with pytest.raises(Forbidden) as e:
        jwts.verify(token, ADMIN, {})
    assert e.value.status == 403 and e.value.documentation == jwts.JWT_DOCS
    return e.value.message


def test_a_valid_token_grants_its_scopes_with_fixed_params_and_rps():
    claims = jwts.verify(sign(payload(limits={"rps": 5})), ADMIN, {})
    assert claims == jwts.Claims("front", ("PIPES:READ:top_users",), {"top_users": {"kind": "tap", "limit": "3"}}, {}, 5)


def test_fixed_params_are_strings_as_a_query_string_carries_them():
    fixed = {"s": "a", "n": 7, "f": 1.5, "b": True, "list": ["x", 2]}
    claims = jwts.verify(sign(payload(scopes=[{"type": "PIPES:READ", "resource": "p", "fixed_params": fixed}])), ADMIN, {})
    assert claims.fixed_params == {"p": {"s": "a", "n": "7", "f": "1.5", "b": "true", "list": "x,2"}}


def test_a_scope_may_name_a_pipe_by_id():
    claims = jwts.verify(sign(payload(scopes=[{"type": "PIPES:READ", "resource": "t_123"}])), ADMIN, {"t_123": "top_users"})
    assert claims.scopes == ("PIPES:READ:top_users",)


def test_a_datasource_scope_may_name_it_by_id_and_its_filter_follows():
    scopes = [{"type": "DATASOURCES:READ", "resource": "t_456", "filter": "user = 'u1'"}]
    claims = jwts.verify(sign(payload(scopes=scopes)), ADMIN, {"t_456": "clicks"})
    assert (claims.scopes, claims.filters) == (("DATASOURCES:READ:clicks",), {"clicks": "user = 'u1'"})


def test_a_datasource_scope_carries_its_filter_and_rps_zero_is_no_limit():
    scopes = [{"type": "DATASOURCES:READ", "resource": "clicks", "filter": "user = 'u1'"}]
    claims = jwts.verify(sign(payload(scopes=scopes, limits={"rps": -3})), ADMIN, {})
    assert claims == jwts.Claims("front", ("DATASOURCES:READ:clicks",), {}, {"clicks": "user = 'u1'"}, 0)


@pytest.mark.parametrize("token, says", ids=[
    "expired", "other-key", "tampered", "hs512", "no-exp", "no-name", "no-scopes", "admin-scope", "append-scope",
    "scopes-not-a-list", "scope-without-resource", "rps-not-a-number", "not-a-jwt"], argvalues=[
    (sign(payload(exp=int(time.time()) - 1)), "expired"),
    (sign(payload(), key="p.another-workspace-admin-token"), "not signed with this workspace's admin token"),
    (sign(payload()) + "x", "not signed"),
    (sign(payload(), algorithm="HS512"), "must be HS256"),
    (sign({k: v for k, v in payload().items() if k != "exp"}), "'exp'"),
    (sign({k: v for k, v in payload().items() if k != "name"}), "'name'"),
    (sign({k: v for k, v in payload().items() if k != "scopes"}), "'scopes'"),
    (sign(payload(scopes=[{"type": "ADMIN", "resource": "x"}])), "scopes or limits"),
    (sign(payload(scopes=[{"type": "DATASOURCES:APPEND", "resource": "clicks"}])), "scopes or limits"),
    (sign(payload(scopes="PIPES:READ")), "scopes or limits"),
    (sign(payload(scopes=[{"type": "PIPES:READ"}])), "scopes or limits"),
    (sign(payload(limits={"rps": "many"})), "scopes or limits"),
    ("eyJ.not.ajwt", "Invalid token"),
])
def test_refusals(token, says):
    assert says in refusal(token)


def test_the_unsigned_alg_none_is_refused():
    header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    body = sign(payload()).split(".")[1]
    assert "must be HS256" in refusal(f"{header}.{body}.")


def test_the_workspace_is_read_before_the_signature():
    assert jwts.claimed_workspace(sign(payload(), key="anything")) == WID
    with pytest.raises(Forbidden):
        jwts.claimed_workspace(sign({k: v for k, v in payload().items() if k != "workspace_id"}))
    assert jwts.looks_like_jwt(sign(payload())) and not jwts.looks_like_jwt("p.static")


def test_mint_signs_what_tb_token_create_jwt_sends():
    scopes = [{"type": "PIPES:READ", "resource": "top_users", "fixed_params": {"kind": "tap"}}]
    token = jwts.mint(ADMIN, WID, "front", "2000000000", {"scopes": scopes, "limits": {"rps": 2}})
    assert jwt.decode(token, ADMIN, algorithms=["HS256"], options={"verify_exp": False}) == {
        "workspace_id": WID, "name": "front", "exp": 2000000000, "scopes": scopes, "limits": {"rps": 2}}


@pytest.mark.parametrize("name, exp, body", [
    ("", "2000000000", {"scopes": [{"type": "PIPES:READ", "resource": "p"}]}),
    ("front", "tomorrow", {"scopes": [{"type": "PIPES:READ", "resource": "p"}]}),
    ("front", "2000000000", {}),
    ("front", "2000000000", {"scopes": [{"type": "ADMIN", "resource": "p"}]}),
    ("front", "2000000000", {"scopes": ["PIPES:READ:p"]}),
])
def test_mint_refuses_bad_requests(name, exp, body):
    with pytest.raises(BadRequest):
        jwts.mint(ADMIN, WID, name, exp, body)
