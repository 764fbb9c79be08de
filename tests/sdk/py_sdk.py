"""Runs calls of Tinybird's Python SDK (tinybird-sdk) for tests/test_sdk_api.py, in .venv-sdk.

stdin: {"url", "token", "calls": [[op, {args}], ...]}; stdout: one JSON answer per call,
{"ok": result} or {"error", "status"}, each with the HTTP requests it made and the sleeps the SDK
asked for (ms), so a test sees whether a retry waited as the server said.
"""

import json
import sys
import time
from datetime import date, datetime

import tinybird_sdk.api.api as api_module
from tinybird_sdk import create_client, create_tinybird_api
from tinybird_sdk.api.api import TinybirdApi, TinybirdApiError
from tinybird_sdk.api.tokens import TokenApiError
from tinybird_sdk.client.types import TinybirdError

requests_made: list[int] = []
sleeps: list[int] = []
_fetch, _sleep = api_module.tinybird_fetch, TinybirdApi._sleep_ms


def counted_fetch(*args, **kwargs):
    response = _fetch(*args, **kwargs)
    requests_made.append(response.status_code)
    return response


def recorded_sleep(self, delay_ms):
    sleeps.append(delay_ms)
    _sleep(self, delay_ms)


api_module.tinybird_fetch = counted_fetch
TinybirdApi._sleep_ms = recorded_sleep


def python_value(value):
    """{"datetime": iso} and {"date": iso} as the datetime and date objects the SDK documents for parameters."""
    if isinstance(value, dict) and value.keys() == {"datetime"}:
        return datetime.fromisoformat(value["datetime"])
    if isinstance(value, dict) and value.keys() == {"date"}:
        return date.fromisoformat(value["date"])
    return value


def run(url: str, token: str, op: str, a: dict):
    """One documented call of the SDK's README."""
    api = create_tinybird_api({"base_url": url, "token": a.get("token") or token})
    client = create_client({"base_url": url, "token": a.get("token") or token})
    if op == "query":  # with a token of its own (a JWT) through the client, as the README's JWT section does
        params = {k: python_value(v) for k, v in a.get("params", {}).items()}
        return client.query(a["pipe"], params) if "token" in a else api.query(a["pipe"], params)
    if op == "ingest":
        options = {k: a[k] for k in ("wait", "max_retries") if k in a}
        rows = a["rows"]
        return api.ingest(a["datasource"], rows[0], options) if len(rows) == 1 else api.ingest_batch(a["datasource"], rows, options)
    if op == "sql":
        return api.sql(a["sql"])
    if op == "append":
        source = {"file": a["file"]} if "file" in a else {"url": a["url"]}
        return api.append_datasource(a["datasource"], source)
    if op == "replace":
        return client.datasources.replace(a["datasource"], {"url": a["url"]})
    if op == "delete":
        options = {"delete_condition": a["condition"]}
        if "dry_run" in a:
            options["dry_run"] = a["dry_run"]
        return api.delete_datasource(a["datasource"], options)
    if op == "truncate":
        return api.truncate_datasource(a["datasource"])
    if op == "create_jwt":
        return client.tokens.create_jwt({"name": a["name"], "expires_at": int(time.time()) + a["expires_in"],
                                         "scopes": a["scopes"], **({"limits": a["limits"]} if "limits" in a else {})})
    if op == "workspace":
        return api.request_json("/v1/workspace")
    raise ValueError(f"unknown op {op}")


def main() -> None:
    plan = json.load(sys.stdin)
    answers = []
    for op, args in plan["calls"]:
        requests_made.clear()
        sleeps.clear()
        try:
            answer = {"ok": run(plan["url"], plan["token"], op, args)}
        except (TinybirdApiError, TokenApiError, TinybirdError) as e:
            answer = {"error": str(e), "status": getattr(e, "status_code", None) or getattr(e, "status", None)}
        answers.append({**answer, "requests": list(requests_made), "sleeps": list(sleeps)})
    json.dump(answers, sys.stdout, default=str)


if __name__ == "__main__":
    main()
