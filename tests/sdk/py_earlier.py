"""Runs the earlier Python SDK (tinybird-python-sdk, module `tb`) for tests/test_sdk_*.py, in .venv-sdk.

stdin: {"url", "token", "mode": "sink" | "logging", "rows" | "messages", "flush_every", "stop_after"}.
`sink` writes rows through the README's buffered `Datasource` (flushing every flush_every rows);
`logging` logs each message through `TinybirdLoggingHandler`. stdout: {"requests": [status, ...],
"sleeps": [s, ...]}: every POST the SDK made and every wait it took between them. With stop_after,
the run ends after that many requests (the SDK retries a 429 forever, waiting or not).
"""

import json
import logging
import sys

import requests

import tb.api
from tb.datasource import Buffer, Datasource
from tb.logger import TinybirdLoggingHandler

statuses: list[int] = []
sleeps: list[float] = []
stop_after: int | None = None
_post, _sleep = requests.Session.post, tb.api.time.sleep


class Stop(Exception):
    """Ends a run that reached stop_after requests."""


def counted_post(self, *args, **kwargs):
    if stop_after is not None and len(statuses) >= stop_after:
        raise Stop
    response = _post(self, *args, **kwargs)
    statuses.append(response.status_code)
    return response


def recorded_sleep(seconds: float) -> None:
    sleeps.append(seconds)
    _sleep(seconds)


requests.Session.post = counted_post
tb.api.time.sleep = recorded_sleep


def main() -> None:
    global stop_after
    plan = json.load(sys.stdin)
    stop_after = plan.get("stop_after")
    try:
        if plan["mode"] == "sink":
            with Datasource("events", plan["token"], api_url=plan["url"], buffer=Buffer(max_wait_records=plan["flush_every"])) as ds:
                for row in plan["rows"]:
                    ds << row
        else:
            log = logging.getLogger("sdk_test_app")
            log.setLevel(logging.INFO)
            log.addHandler(TinybirdLoggingHandler(plan["token"], plan["url"], app_name=plan["app_name"]))
            for message in plan["messages"]:
                log.warning("%s", message)
    except Stop:
        pass
    json.dump({"requests": statuses, "sleeps": sleeps}, sys.stdout)


if __name__ == "__main__":
    main()
