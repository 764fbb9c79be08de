#!/usr/bin/env python3
"""Mint a per-user JWT for user_content_affinity and user_recommendations, as an app backend does.

    TB_HOST=http://127.0.0.1:7181 TB_TOKEN=<admin token> scripts/user_token.py USER_ID [--ttl 1h] [--rps 10]

Prints a JWT that reads only USER_ID's rows of the two per-user endpoints: `user_id` is a fixed
parameter, so whatever user_id the browser sends, the endpoint answers for USER_ID. The token is
signed here with the workspace admin token (HS256, PyJWT), as Tinybird documents for production:
no call per user session, nothing stored. The one call made is GET /v0/workspace for the
workspace id the token must carry; pass --workspace-id (or TB_WORKSPACE_ID) to skip it.
TB_HOST defaults to tblocal on 127.0.0.1:7181. See docs/access.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jwt
import requests
from humanfriendly import parse_timespan

PIPES = ("user_content_affinity", "user_recommendations")
DEFAULT_HOST = "http://127.0.0.1:7181"


def workspace_id(host: str, admin: str) -> str:
    """The id of the workspace admin opens (GET /v0/workspace)."""
    r = requests.get(host.rstrip("/") + "/v0/workspace", headers={"Authorization": f"Bearer {admin}"}, timeout=30)
    if r.status_code != 200:
        raise SystemExit(f"user_token: GET /v0/workspace answered {r.status_code}: {r.text[:300]}")
    return r.json()["id"]


def payload(workspace: str, user_id: str, ttl_s: float, rps: int) -> dict:
    """The JWT payload: both per-user endpoints with user_id fixed; named per user so limits.rps counts per user."""
    body = {
        "workspace_id": workspace,
        "name": f"app_user_{user_id}",
        "exp": int(time.time() + ttl_s),
        "scopes": [{"type": "PIPES:READ", "resource": pipe, "fixed_params": {"user_id": user_id}} for pipe in PIPES],
    }
    if rps > 0:
        body["limits"] = {"rps": rps}
    return body


def mint(host: str, admin: str, user_id: str, ttl_s: float = 3600, rps: int = 0, workspace: str | None = None) -> str:
    """A signed JWT for user_id's rows, valid ttl_s seconds, at most rps calls a second (0: no limit)."""
    if not user_id or not user_id.strip():
        raise SystemExit("user_token: USER_ID must not be empty")
    return jwt.encode(payload(workspace or workspace_id(host, admin), user_id, ttl_s, rps), admin, algorithm="HS256")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("user_id")
    p.add_argument("--ttl", default="1h", help="lifetime, e.g. 15m, 1h, 1d (default 1h)")
    p.add_argument("--rps", type=int, default=10, help="calls per second this user may make; 0 = no limit (default 10)")
    p.add_argument("--workspace-id", default=os.environ.get("TB_WORKSPACE_ID"), help="skip GET /v0/workspace")
    args = p.parse_args(argv)
    admin = os.environ.get("TB_TOKEN")
    if not admin:
        raise SystemExit("user_token: set TB_TOKEN to the workspace admin token")
    host = os.environ.get("TB_HOST") or DEFAULT_HOST
    print(mint(host, admin, args.user_id, parse_timespan(args.ttl), args.rps, args.workspace_id))


if __name__ == "__main__":
    main()
