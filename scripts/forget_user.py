"""Forget a user: remove every event of USER_ID from user_events and from every materialized view, through
the Forward API only (so it works on tblocal, Tinybird Local and a hosted workspace).

How: one replace of user_events with the condition `user_id IN (<ids>)` and a body holding no row of that
user. Tinybird (and tblocal) then deletes the user's rows and re-materializes every view for the
partitions (months) those rows were in, from the rows that remain: the per-user views lose the user,
and the global views' distinct-user states are recomputed without them. Then it checks: the user is in
no data source, and each global view's distinct users per day equal user_events' own count.
Idempotent: run again, it finds nothing to remove and checks again.

Target: TB_HOST/TB_TOKEN, else tblocal on http://127.0.0.1:7181 with the token from its GET /tokens.
    python scripts/forget_user.py USER_ID [USER_ID...]     (several ids: one replace for all of them)
"""

import argparse
import json
import os
import re
import sys
import time

import requests

DEFAULT_HOST = "http://127.0.0.1:7181"
LANDING = "user_events"
PATTERN = re.compile(r"[%*?\[\]\\]")  # a wildcard or an escape: never an id here
# A row that never matches the condition (an empty user_id): the replace drops it, it is only there so the body is not empty.
PLACEHOLDER = {"event_id": "forget-user-placeholder", "user_id": "", "event_type": "view", "content_id": "",
               "timestamp": "1970-01-02 00:00:00", "session_id": ""}
# Global views: (data source, distinct-users state column, the events of user_events it counts).
GLOBAL_VIEWS = [("content_engagement_mv", "unique_users", "1"),
                ("recommendation_performance_mv", "users", "recommendation_id != ''")]


class Api:
    """The Forward API of one workspace."""

    def __init__(self, host: str, token: str):
        self.host, self.token = host.rstrip("/"), token

    def sql(self, q: str) -> list[dict]:
        r = requests.post(f"{self.host}/v0/sql", data={"q": q + " FORMAT JSON"}, params={"token": self.token}, timeout=600)
        if r.status_code != 200:
            raise SystemExit(f"forget-user: /v0/sql answered {r.status_code}: {r.text[:500]}")
        return r.json()["data"]

    def replace(self, datasource: str, condition: str, body: bytes) -> dict:
        r = requests.post(f"{self.host}/v1/datasources/{datasource}/replace", data=body, timeout=3600,
                          params={"token": self.token, "format": "ndjson", "replace_condition": condition},
                          headers={"Content-Type": "application/x-ndjson"})
        if r.status_code != 200:
            raise SystemExit(f"forget-user: the replace answered {r.status_code}: {r.text[:500]}")
        job = r.json()
        while job.get("status") not in ("done", "error", "cancelled"):  # hosted Tinybird answers a queued job
            time.sleep(2)
            job = requests.get(f"{self.host}/v0/jobs/{job['id']}", params={"token": self.token}, timeout=60).json()
        if job["status"] != "done":
            raise SystemExit(f"forget-user: the replace job ended {job['status']}: {job.get('error')}")
        return job


def target(env=os.environ) -> Api:
    """TB_HOST/TB_TOKEN, else the tblocal on 7181 and its admin token."""
    host, token = env.get("TB_HOST"), env.get("TB_TOKEN")
    if host and token:
        return Api(host, token)
    host = host or DEFAULT_HOST
    return Api(host, requests.get(f"{host}/tokens", timeout=10).json()["admin_token"])


def literal(user_id: str) -> str:
    """user_id as a ClickHouse string literal; refuses an empty id or a pattern."""
    if not user_id.strip():
        raise SystemExit("forget-user: USER_ID is empty")
    if PATTERN.search(user_id):
        raise SystemExit(f"forget-user: {user_id!r} looks like a pattern; give one exact user id")
    return "'" + user_id.replace("'", "\\'") + "'"


def per_user_sources(api: Api) -> list[str]:
    """The data sources with a user_id column (user_events and the per-user views)."""
    r = requests.get(f"{api.host}/v0/datasources", params={"token": api.token}, timeout=60)
    r.raise_for_status()
    return sorted(d["name"] for d in r.json()["datasources"] if any(c["name"] == "user_id" for c in d.get("columns", [])))


def remaining(api: Api, user: str) -> dict[str, int]:
    """Rows of user left in each data source that has a user_id."""
    return {ds: int(api.sql(f"SELECT count() AS n FROM {ds} WHERE user_id IN {user}")[0]["n"]) for ds in per_user_sources(api)}


def global_mismatches(api: Api, months: list[int]) -> list[str]:
    """Days of the given months where a global view's distinct users differ from user_events'."""
    if not months:
        return []
    within = f"toYYYYMM(day) IN ({', '.join(map(str, months))})"
    out = []
    for view, state, where in GLOBAL_VIEWS:
        got = {r["day"]: int(r["n"]) for r in api.sql(
            f"SELECT day, uniqExactMerge({state}) AS n FROM {view} WHERE {within} GROUP BY day")}
        want = {r["day"]: int(r["n"]) for r in api.sql(
            f"SELECT toDate(timestamp) AS day, uniqExact(user_id) AS n FROM {LANDING} WHERE ({where}) "
            f"AND toYYYYMM(timestamp) IN ({', '.join(map(str, months))}) GROUP BY day")}
        out += [f"{view} {day}: {got.get(day, 0)} users, user_events has {want.get(day, 0)}"
                for day in sorted(set(got) | set(want)) if got.get(day, 0) != want.get(day, 0)]
    return out


def forget(api: Api, user_id: str | list[str], log=print) -> dict:
    """Remove the user (or users) everywhere and check it; returns what was found and removed."""
    ids = [user_id] if isinstance(user_id, str) else list(user_id)
    if not ids:
        raise SystemExit("forget-user: no USER_ID given")
    user = "(" + ", ".join(literal(u) for u in ids) + ")"
    user_id = ", ".join(ids)
    before = remaining(api, user)
    months = sorted({int(r["m"]) for r in api.sql(
        f"SELECT DISTINCT toYYYYMM(timestamp) AS m FROM {LANDING} WHERE user_id IN {user}")})
    log(f"forget-user: {user_id!r}: {before.get(LANDING, 0)} events in months {months or 'none'}; rows per data source {before}")
    started = time.perf_counter()
    if before.get(LANDING, 0):
        job = api.replace(LANDING, f"user_id IN {user}", (json.dumps(PLACEHOLDER) + "\n").encode())
        log(f"forget-user: replace job {job['id']} done in {time.perf_counter() - started:.1f} s")
    left = {ds: n for ds, n in remaining(api, user).items() if n}
    if left:  # a view the replace could not recompute (e.g. skipped for its partition key): delete there
        for ds in left:
            r = requests.post(f"{api.host}/v0/datasources/{ds}/delete", params={"token": api.token},
                              data={"delete_condition": f"user_id IN {user}"}, timeout=3600)
            if r.status_code != 200:
                raise SystemExit(f"forget-user: deleting from {ds} answered {r.status_code}: {r.text[:500]}")
        left = {ds: n for ds, n in remaining(api, user).items() if n}
    wrong = global_mismatches(api, months)
    if left or wrong:
        raise SystemExit(f"forget-user: {user_id!r} is still counted: {left or ''} {'; '.join(wrong[:10])}")
    log(f"forget-user: {user_id!r} is in no data source and no view ({time.perf_counter() - started:.1f} s)")
    return {"before": before, "months": months}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("user_id", nargs="+", help="exact user ids (no pattern)")
    args = p.parse_args(argv)
    forget(target(), args.user_id)


if __name__ == "__main__":
    sys.exit(main())
