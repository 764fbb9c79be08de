#!/usr/bin/env python3
"""Fuzz every route of tblocal's route table with random and mutated requests (seeded, repeatable).

Each case picks a route (its path parameters real names, mutated or random), a token (admin, a read token, a bad
one, none) and where it travels (header, query string, form body), then parameters from the names the routes read
with mutated values, sent in the query string and a body of one kind: none, form, JSON (objects, arrays, deep or
broken), multipart (fields and files), raw bytes (NDJSON, CSV, binary, gzip or not). Passes when no answer is a
5xx, every 4xx is Tinybird's JSON error ({"error": "..."}), no connection is reset or times out, and the server is
healthy at the end.

Targets --url with --admin-token and --read-token, or with --start-server starts `python -m tblocal serve` on
tests/project in a temporary data dir, with body limits of 64 KB and 256 KB so that some cases are 413s, and stops
it at the end. Prints a JSON summary on its last line; exits 1 on
any failure. `make test` runs a small slice (tests/test_fuzz_routes.py); `make fuzz` a larger one.
"""

import argparse
import collections
import gzip
import json
import random
import string
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tblocal.api.app import ROUTES  # noqa: E402
from tblocal.launcher import ServerProcess  # noqa: E402

# Routes that change the server's shape: a build or deploy of random parts could empty the workspace the other cases
# read, and each new workspace is a database of its own. With an admin token they get a scratch workspace's, and go last.
SHAPE_CHANGING = {("POST", "/v1/build"), ("POST", "/v1/deploy"), ("POST", "/v1/workspaces"), ("POST", "/v0/workspaces"),
                  ("POST", "/v1/workspaces/"), ("POST", "/v0/workspaces/"), ("POST", "/v1/deployments/{id}/set-live"),
                  ("DELETE", "/v1/workspaces/{workspace}"), ("DELETE", "/v0/workspaces/{workspace}"),
                  ("POST", "/v0/tokens/{token}/refresh"), ("DELETE", "/v0/tokens/{token}"), ("PUT", "/v0/tokens/{token}")}
REAL_NAMES = {
    "name": ["clicks", "clicks_daily_mv", "top_users", "kinds", "user_clicks", "clicks_copy", "nope"],
    "file": ["top_users.json", "kinds.csv", "user_clicks.ndjson", "top_users.parquet", "top_users", "nope.json", "top_users.xml"],
    "token": ["nope", "top_users_read"],
    "id": ["nope", "00000000-0000-0000-0000-000000000000"],
    "workspace": ["nope", "fuzz"],
}
PARAM_NAMES = ["name", "mode", "format", "url", "q", "wait", "delete_condition", "dry_run", "replace_condition",
               "skip_incompatible_partition_key", "expiration_time", "scope", "limit", "users", "kind", "start",
               "min_clicks", "_mode", "check", "auto_promote", "include_deleted", "partition", "pipe",
               "output_format_json_quote_64bit_integers", "assign_to_organization_id", "with_organization", "x"]
SEED_VALUES = ["", "0", "1", "-1", "true", "false", "TRUE", "yes", "2147483648", "1e309", "NaN", "clicks", "top_users",
               "append", "replace", "create", "ndjson", "csv", "parquet", "json", "click", "tap", "u1", "2024-01-01 00:00:00",
               "2024-13-45", "SELECT 1", "SELECT * FROM clicks", "SELECT * FROM system.tables", "user = 'u1'", "1 = 1",
               "PIPES:READ:top_users", "ADMIN", "DATASOURCES:APPEND:clicks", "http://127.0.0.1:1/x.csv", "ftp://x/y",
               "file:///etc/passwd", "é€😀", "a,b,c", "{{ error('x') }}", "'; DROP TABLE clicks; --", "\\", "%", "%00",
               "[1, 2]", "{\"a\": 1}", "x" * 300]


def mutate(rng: random.Random, value: str) -> str:
    """value with a random edit: cut, doubled, a character flipped or inserted, or wholly random text."""
    choice = rng.randrange(7)
    if choice == 0 or not value:
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(1, 40)))
    if choice == 1:
        return value[: rng.randrange(len(value) + 1)]
    if choice == 2:
        return value * rng.randrange(2, 5)
    i = rng.randrange(len(value))
    if choice == 3:
        return value[:i] + chr(rng.randrange(1, 0x2FFF)) + value[i + 1:]
    if choice == 4:
        return value[:i] + rng.choice("'\"{}[]%&=;,\n\t ") + value[i:]
    return value


def value(rng: random.Random) -> str:
    base = rng.choice(SEED_VALUES)
    return mutate(rng, base) if rng.random() < 0.4 else base


def params(rng: random.Random, n: int) -> list[tuple[str, str]]:
    names = [rng.choice(PARAM_NAMES) if rng.random() < 0.85 else mutate(rng, "param") for _ in range(n)]
    return [(name, value(rng)) for name in names]


def path_for(rng: random.Random, template: str) -> str:
    path = template
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        key = path[start + 1:end].split(":")[0]
        pick = rng.choice(REAL_NAMES.get(key, ["x"]))
        if rng.random() < 0.3:
            pick = mutate(rng, pick)
        safe = requests.utils.quote(pick, safe="") or "x"
        path = path[:start] + safe + path[end + 1:]
    return path


def rows_body(rng: random.Random) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:
        return "\n".join(json.dumps({"id": f"z{i}", "user": f"u{i % 5}", "ts": "2024-02-01 00:00:00", "value": i}) for i in range(rng.randrange(1, 20))).encode()
    if kind == 1:
        return "\n".join(f"z{i},u{i % 5},click,2024-02-01 00:00:00,{i},{{}}" for i in range(rng.randrange(1, 20))).encode()
    if kind == 2:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    if kind == 3:
        return mutate(rng, json.dumps({"id": "m", "user": "u", "ts": "2024-02-01 00:00:00"})).encode()
    return b"PAR1" + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 100))) + b"PAR1"


def body_for(rng: random.Random, token_in_form: str | None) -> tuple[dict, dict]:
    """requests keyword arguments for a random body, and headers it needs."""
    kind = rng.choice(["none", "form", "json", "multipart", "raw", "raw"])
    if rng.random() < 0.03:  # past the started server's limits: a 413, read to the end so the client reads it
        big = b'{"id": "big", "user": "u", "ts": "2024-02-01 00:00:00"}\n' * (LARGE_BODY_BYTES // 56)
        return ({"files": [("csv", ("big.ndjson", big))]}, {}) if rng.random() < 0.5 else ({"data": big}, {})
    extra = [("token", token_in_form)] if token_in_form is not None else []
    if kind == "form" or (kind == "none" and extra):
        return {"data": params(rng, rng.randrange(0, 5)) + extra}, {}
    if kind == "json":
        shape = rng.randrange(5)
        if shape == 0:
            doc = dict(params(rng, rng.randrange(0, 5)) + extra)
        elif shape == 1:
            doc = {"name": value(rng), "scopes": [{"type": rng.choice(["PIPES:READ", "DATASOURCES:READ", "X"]), "resource": value(rng),
                                                   "fixed_params": {"limit": rng.choice([1, "x", None])}}], "limits": {"rps": rng.choice([1, -1, "x"])}}
        elif shape == 2:
            doc = [1, 2, value(rng)]
        elif shape == 3:
            return {"data": ("[" * rng.randrange(1, 3000)).encode()}, {"Content-Type": "application/json"}
        else:
            return {"data": mutate(rng, json.dumps({"q": "SELECT 1"})).encode()}, {"Content-Type": "application/json"}
        return {"data": json.dumps(doc).encode()}, {"Content-Type": "application/json"}
    if kind == "multipart":
        fields = params(rng, rng.randrange(0, 4)) + extra
        field_name = rng.choice(["csv", "ndjson", "parquet", "file", "data_project://", mutate(rng, "csv")])
        filename = rng.choice(["events.ndjson", "events.csv", "x.parquet", "a.datasource", "b.pipe", "", mutate(rng, "f.csv")])
        return {"data": fields, "files": [(field_name, (filename, rows_body(rng)))]}, {}
    if kind == "raw":
        data = rows_body(rng)
        headers = {"Content-Type": rng.choice(["application/x-ndjson", "text/plain", "text/csv", "application/octet-stream",
                                               "application/x-www-form-urlencoded", mutate(rng, "multipart/form-data")])}
        if rng.random() < 0.2:
            data = gzip.compress(data) if rng.random() < 0.7 else b"\x1f\x8b" + data
            headers["Content-Encoding"] = "gzip"
        return {"data": data}, headers
    return {}, {}


LARGE_BODY_BYTES = 300_000
LIMITS = {"TBLOCAL_MAX_BODY_BYTES": "65536", "TBLOCAL_MAX_APPEND_BYTES": "262144"}  # of a started server: large bodies stay cheap


def cases(rng: random.Random, n: int, tokens: dict[str, str | None]):
    """n random requests, every route in turn: (method, template, path, requests kwargs, token name); shape-changing
    routes go last and never with the admin token."""
    routes = [(m, r.path) for r in ROUTES for m in sorted(r.methods or []) if m != "HEAD"]
    rng.shuffle(routes)
    made = []
    for i in range(n):
        method, template = routes[i % len(routes)]
        who = rng.choices(["admin", "read", "bad", "none"], weights=[4, 2, 2, 2])[0]
        if (method, template) in SHAPE_CHANGING and who == "admin":
            who = "scratch"
        token = tokens[who]
        where = rng.choice(["header", "query"] if method == "GET" else ["header", "query", "form"])
        query = params(rng, rng.randrange(0, 6))
        headers: dict = {}
        if token is not None and where == "header":
            headers["Authorization"] = f"Bearer {token}"
        elif token is not None and where == "query":
            query.append(("token", token))
        kwargs, body_headers = body_for(rng, token if where == "form" else None) if method != "GET" else ({}, {})
        headers = {k: "".join(c for c in v if " " <= c <= "~") for k, v in {**headers, **body_headers}.items()}  # what HTTP carries
        made.append((method, template, path_for(rng, template), {"params": query, "headers": headers, **kwargs}, who))
    made.sort(key=lambda c: (c[0], c[1]) in SHAPE_CHANGING)
    return made


def error_shape(response: requests.Response) -> str | None:
    """Why a 4xx is not Tinybird's error shape, {"error": "...", "documentation": "..."}, or None."""
    try:
        body = response.json()
    except ValueError:
        return "a 4xx whose body is not JSON"
    if not isinstance(body, dict) or not isinstance(body.get("error"), str) or not body["error"]:
        return 'a 4xx without {"error": "..."}'
    return None


def run(url: str, tokens: dict[str, str | None], n: int, seed: int) -> dict:
    """Send n seeded cases to url; a summary of what came back."""
    rng = random.Random(seed)
    statuses, families, failures, examples = collections.Counter(), collections.Counter(), 0, []
    session = requests.Session()
    for method, template, path, kwargs, who in cases(rng, n, tokens):
        families[f"{method} {template}"] += 1
        try:
            r = session.request(method, url + path, timeout=60, **kwargs)
            status = str(r.status_code)
            problem = "server error" if r.status_code >= 500 else error_shape(r) if r.status_code >= 400 else None
            if problem:
                failures += 1
                examples.append({"case": f"{method} {path}", "token": who, "status": r.status_code, "problem": problem, "body": r.text[:300]})
        except requests.RequestException as e:
            status = type(e).__name__
            failures += 1
            examples.append({"case": f"{method} {path}", "token": who, "error": str(e)[:300]})
            session = requests.Session()
        statuses[status] += 1
    healthy = requests.get(url + "/v0/health", timeout=10).status_code == 200
    return {"cases": n, "seed": seed, "failures": failures, "healthy_after": healthy, "statuses": dict(statuses),
            "routes": len(families), "families": dict(families), "examples": examples[:10]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=20241206)
    parser.add_argument("--url")
    parser.add_argument("--admin-token")
    parser.add_argument("--read-token")
    parser.add_argument("--start-server", action="store_true", help="serve tests/project from a temporary data dir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fuzz-routes-") as tmp:
        server = ServerProcess(ROOT / "tests" / "project", Path(tmp) / "data", env=LIMITS).start() if args.start_server else None
        try:
            url = server.url if server else args.url
            admin = server.admin_token if server else args.admin_token
            read = args.read_token or next(t["token"] for t in requests.get(url + "/v0/tokens", headers={"Authorization": f"Bearer {admin}"}, timeout=10).json()["tokens"]
                                           if t["name"] == "top_users_read")
            started = time.monotonic()
            user = requests.get(url + "/tokens", timeout=10).json()["user_token"]
            scratch = requests.post(url + "/v1/workspaces", data={"name": "fuzz_scratch"}, headers={"Authorization": f"Bearer {user}"}, timeout=60)
            tokens = {"admin": admin, "read": read, "bad": "p.not-a-token", "none": None, "scratch": scratch.json()["token"]}
            summary = run(url, tokens, args.cases, args.seed)
            summary["seconds"] = round(time.monotonic() - started, 1)
        finally:
            if server:
                server.stop()
    print(json.dumps(summary))
    return 0 if summary["failures"] == 0 and summary["healthy_after"] else 1


if __name__ == "__main__":
    sys.exit(main())
