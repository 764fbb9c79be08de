"""Runs the earlier Python SDK (tinybird-python-sdk, module `tb`) for tests/test_sdk_streams.py, in .venv-sdk.

stdin: {"url", "token", "mode": "sink" | "logging", "rows" | "messages"}. `sink` writes rows through
the README's buffered `Datasource` (a small buffer, so it flushes several times); `logging` logs
each message through `TinybirdLoggingHandler`. stdout: {"requests": [status, ...]} of every POST.
"""

import json
import logging
import sys

import tb.api
from tb.datasource import Buffer, Datasource
from tb.logger import TinybirdLoggingHandler

statuses: list[int] = []
_send = tb.api.API.send


def counted_send(self, path, method="POST", **kwargs):
    try:
        response = _send(self, path, method, **kwargs)
    except Exception as e:  # raise_for_status: keep the status, then fail as the SDK does
        statuses.append(getattr(getattr(e, "response", None), "status_code", 0))
        raise
    statuses.append(response.status_code)
    return response


tb.api.API.send = counted_send


def main() -> None:
    plan = json.load(sys.stdin)
    if plan["mode"] == "sink":
        with Datasource("events", plan["token"], api_url=plan["url"], buffer=Buffer(max_wait_records=plan["flush_every"])) as ds:
            for row in plan["rows"]:
                ds << row
    else:
        log = logging.getLogger("sdk_test_app")
        log.setLevel(logging.INFO)
        handler = TinybirdLoggingHandler(plan["token"], plan["url"], app_name=plan["app_name"])
        log.addHandler(handler)
        for message in plan["messages"]:
            log.warning("%s", message)
    json.dump({"requests": statuses}, sys.stdout)


if __name__ == "__main__":
    main()
