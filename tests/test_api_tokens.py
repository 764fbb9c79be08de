"""The Token API in-process (tblocal/api/tokens.py): tokens by id and name, static tokens and JWTs with their
parameters in the query string, a form or a JSON body, as the Forward CLI and both SDKs send them."""

import time

import jwt
import pytest

from helpers import click, ndjson


@pytest.fixture(scope="module")
def admin(local):
    return local.get("/tokens").json()["workspace_admin_token"]


def get(local, path, token, **params):
    return local.get(path, params={"token": token, **params})


def test_tokens_by_id_and_name(local, admin):
    listed = get(local, "/v0/tokens", admin).json()["tokens"]
    read = next(t for t in listed if t["name"] == "top_users_read")
    assert get(local, f"/v0/tokens/{read['id']}", admin).json() == read == get(local, "/v0/tokens/top_users_read", admin).json()
    assert get(local, "/v0/tokens/nope", admin).status_code == 404
    assert get(local, "/v0/tokens/top_users_read", read["token"]).status_code == 403


def test_a_jwt_from_a_json_body_as_both_sdks_send_it(local, admin):
    """tinybird_sdk/api/api.py create_token and @tinybirdco/sdk createToken: POST /v0/tokens/?expiration_time=<unix>,
    Content-Type application/json, {"name", "scopes": [...fixed_params...], "limits"}; they read response["token"]."""
    exp = int(time.time()) + 600
    body = {"name": "sdk_jwt", "scopes": [{"type": "PIPES:READ", "resource": "top_users", "fixed_params": {"limit": 1}}],
            "limits": {"rps": 5}}
    r = local.post("/v0/tokens/", params={"expiration_time": exp}, json=body, headers={"Authorization": f"Bearer {admin}"})
    assert (r.status_code, list(r.json())) == (200, ["token"])
    workspace_id = get(local, "/v0/workspace", admin).json()["id"]
    assert jwt.decode(r.json()["token"], admin, algorithms=["HS256"]) == {
        "workspace_id": workspace_id, "name": "sdk_jwt", "exp": exp, "limits": {"rps": 5},
        "scopes": [{"type": "PIPES:READ", "resource": "top_users", "fixed_params": {"limit": 1}}]}
    rows = ndjson([click(i, user=f"jwt_user_{i}") for i in range(3)])
    assert local.post("/v0/events", params={"name": "clicks", "wait": "true", "token": admin}, content=rows).status_code == 200
    assert get(local, "/v0/pipes/top_users.json", r.json()["token"], limit="3").json()["rows"] == 1  # fixed_params win


def test_a_jwt_without_a_name_anywhere_is_400(local, admin):
    r = local.post("/v0/tokens/", params={"expiration_time": int(time.time()) + 60, "token": admin},
                   json={"scopes": [{"type": "PIPES:READ", "resource": "top_users"}]})
    assert (r.status_code, r.json()) == (400, {"error": "The 'name' parameter is required",
                                               "documentation": "https://www.tinybird.co/docs/forward/administration/tokens/jwt"})


def test_a_static_token_takes_its_name_and_scopes_from_a_form_or_json(local, admin):
    auth = {"Authorization": f"Bearer {admin}"}
    r = local.post("/v0/tokens", data={"name": "form_static", "scope": ["PIPES:READ:kinds", "DATASOURCES:APPEND:clicks"]}, headers=auth)
    assert (r.status_code, r.json()["name"], r.json()["scopes"]) == (200, "form_static", [
        {"type": "PIPES:READ", "resource": "kinds"}, {"type": "DATASOURCES:APPEND", "resource": "clicks"}])
    r = local.post("/v0/tokens", json={"name": "json_static", "scopes": ["PIPES:READ:kinds"]}, headers=auth)
    assert (r.status_code, r.json()["name"], r.json()["scopes"]) == (200, "json_static", [{"type": "PIPES:READ", "resource": "kinds"}])
    for name in ("form_static", "json_static"):
        assert local.delete(f"/v0/tokens/{name}", headers=auth).status_code == 204
