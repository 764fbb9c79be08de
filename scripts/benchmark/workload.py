"""What the benches send: generated events, their batches, the endpoint cases and each case's naive SQL."""

import json
import re
import subprocess
from pathlib import Path

from . import PY, ROOT

NAIVE_SQL = Path(__file__).with_name("naive.sql")
DATE_RANGE = {"start_date": "2024-03-18 06:30:00", "end_date": "2024-03-25 18:45:10"}
# The naive side's tables: user_events as tblocal keys it, and a copy keyed for one user's lookups.
RAW_TABLE, USER_TABLE = "user_events", "user_events_by_user"


def ensure_data(data_dir: str | Path, events: int, seed: int, days: int, **generator) -> Path:
    """The NDJSON file of scripts/generate_fixtures.py for these options (generated once, then reused)."""
    extra = "".join(f"-{v}{k[0]}" for k, v in sorted(generator.items()))
    path = Path(data_dir) / f"events-{events}-{seed}-{days}d{extra}.ndjson"
    if not path.exists():
        print(f"bench: generating {events:,} events -> {path}", flush=True)
        tmp = path.with_suffix(".tmp")
        args = [PY, str(ROOT / "scripts" / "generate_fixtures.py"), "--events", str(events), "--seed", str(seed),
                "--start", "2024-01-01", "--days", str(days), "--out", str(tmp), "--no-progress"]
        for key, value in generator.items():
            args += [f"--{key}", str(value)]
        subprocess.run(args, check=True)
        tmp.rename(path)
    return path


def batches(path: Path, rows: int):
    """rows-line chunks of the file, as bytes."""
    with open(path, "rb") as f:
        buf = []
        for line in f:
            buf.append(line)
            if len(buf) == rows:
                yield b"".join(buf)
                buf = []
        if buf:
            yield b"".join(buf)


def sample_users(path: Path, k: int = 20) -> list[str]:
    """k user_ids spread over the file (deterministic)."""
    users = []
    total = path.stat().st_size
    with open(path, "rb") as f:
        for i in range(k):
            f.seek(total * i // k)
            f.readline()
            line = f.readline()
            if line:
                uid = json.loads(line)["user_id"]
                if uid not in users:
                    users.append(uid)
    return users


def cases(users: list[str]) -> list[dict]:
    """Endpoint calls with typical parameters; user-scoped cases rotate over users."""
    u = {"user_id": users}
    return [
        {"name": "affinity_user", "pipe": "user_content_affinity", "scope": "user", "params": {**u}},
        {"name": "affinity_user_type_range", "pipe": "user_content_affinity", "scope": "user",
         "params": {**u, "by": "content_type", **DATE_RANGE}},
        {"name": "affinity_global", "pipe": "user_content_affinity", "scope": "global", "params": {}},
        {"name": "recperf_global", "pipe": "recommendation_performance", "scope": "global", "params": {}},
        {"name": "recperf_range_ios", "pipe": "recommendation_performance", "scope": "global",
         "params": {**DATE_RANGE, "platform": "ios"}},
        {"name": "sessions_user", "pipe": "session_analysis", "scope": "user", "params": {**u}},
        {"name": "sessions_range", "pipe": "session_analysis", "scope": "global", "params": {**DATE_RANGE}},
        {"name": "content_global", "pipe": "content_engagement", "scope": "global", "params": {}},
        {"name": "content_range_click", "pipe": "content_engagement", "scope": "global",
         "params": {**DATE_RANGE, "event_type": "click"}},
        {"name": "userrecs_user", "pipe": "user_recommendations", "scope": "user", "params": {**u}},
        {"name": "userrecs_global", "pipe": "user_recommendations", "scope": "global", "params": {}},
    ]


def case_params(case: dict, i: int) -> dict:
    """The i-th call's parameters: list values rotate."""
    return {k: (v[i % len(v)] if isinstance(v, list) else v) for k, v in case["params"].items()}


def naive_templates() -> dict[str, str]:
    """`-- name: <pipe>` sections of naive.sql."""
    out, name, lines = {}, None, []
    for line in NAIVE_SQL.read_text().splitlines():
        m = re.match(r"--\s*name:\s*(\w+)", line)
        if m:
            if name:
                out[name] = "\n".join(lines).strip().rstrip(";")
            name, lines = m.group(1), []
        elif name:
            lines.append(line)
    if name:
        out[name] = "\n".join(lines).strip().rstrip(";")
    return out


def _q(value: str) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def naive_sql(template: str, params: dict) -> str:
    """The naive SQL with the call's filters substituted; a call with user_id reads the table keyed by user."""
    conds = []
    if "start_date" in params:
        conds.append(f"timestamp >= toDateTime({_q(params['start_date'])})")
    if "end_date" in params:
        conds.append(f"timestamp <= toDateTime({_q(params['end_date'])})")
    for key in ("user_id", "platform", "device", "content_id"):
        if key in params:
            conds.append(f"{key} = {_q(params[key])}")
    if "event_type" in params:
        et = params["event_type"]
        having, order = f"HAVING {et}s > 0", f"{et}s"
    else:
        having, order = "", "events"
    table = USER_TABLE if "user_id" in params else RAW_TABLE
    key = params.get("by", "content_id")
    key_expr = "content_id" if key == "content_id" else (
        "if(JSONHas(metadata, 'content_type'), JSONExtractString(metadata, 'content_type'), 'unknown')")
    filters = " AND ".join(conds) or "1"
    t0 = f"toDateTime({_q(params['end_date'])})" if "end_date" in params else f"(SELECT max(timestamp) FROM {table} WHERE {filters})"
    return template.format(filters=filters, having=having, order=order, key=key, key_expr=key_expr, t0=t0, table=table)
