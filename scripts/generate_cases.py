"""Write tests/<pipe>.yaml regression cases (Tinybird Forward's test format) from the fixtures.

Each case's expected_result is the endpoint's NDJSON answer on a target loaded with
fixtures/, checked against the independent Python reference (tests/reference.py) before
it is written: a case is never recorded from a target that disagrees with the reference.

    .venv/bin/python scripts/generate_cases.py            # a tblocal it starts itself
    TB_HOST=... TB_TOKEN=... .venv/bin/python scripts/generate_cases.py   # any target
"""

import json
import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import reference  # noqa: E402
from tblocal.launcher import ServerProcess  # noqa: E402

SEED_RANGE = {"start_date": "2023-01-01 00:00:00", "end_date": "2023-12-31 23:59:59"}
EDGE_RANGE = {"start_date": "2024-01-03 13:45:07", "end_date": "2024-01-17 08:12:59"}
WEEK = {"start_date": "2024-01-08 00:00:00", "end_date": "2024-01-14 23:59:59"}
TOP5 = {"limit": "5"}

# (name, description, params, expected status) per endpoint. Error cases use the datafiles' own error()
# messages, so `tb test run` expects the same text on any target (a type error's wording is the server's).
CASES = {
    "user_content_affinity": [
        ("top_pairs_default", "Top 5 user/content pairs, default weights and 30-day half-life", {**TOP5}, 200),
        ("seed_readme_example", "The seed README's request: no 2023 events, so no rows", {"user_id": "u789", **SEED_RANGE, "limit": "50"}, 200),
        ("one_user_edge_range", "One user over a second-precision range", {"user_id": "u_johnsonjoshua", **EDGE_RANGE, "limit": "10"}, 200),
        ("by_content_type", "Affinity per content type for one user", {"user_id": "u_garzaanthony", "by": "content_type"}, 200),
        ("no_decay_custom_weights", "No decay, custom weights, paging", {"half_life_days": "0", "view_weight": "0.5", "share_weight": "10", "duration_weight": "0", "limit": "5", "offset": "5"}, 200),
        ("unicode_user", "A user id with non-ASCII characters", {"user_id": "u_josé"}, 200),
        ("bad_by", "Unknown grouping key", {"by": "platform"}, 400),
        ("bad_range", "start_date after end_date", {"start_date": "2024-01-10 00:00:00", "end_date": "2024-01-09 00:00:00"}, 400),
        ("bad_limit", "limit above 10000", {"limit": "10001"}, 400),
    ],
    "recommendation_performance": [
        ("all_algorithms", "Every algorithm over the whole fixture", {}, 200),
        ("seed_readme_example", "The seed README's request: ios in 2023, no rows", {"platform": "ios", **SEED_RANGE, "limit": "50"}, 200),
        ("ios_week", "iOS over one whole week", {"platform": "ios", **WEEK}, 200),
        ("tablet_edge_range", "Tablets over a second-precision range", {"device": "tablet", **EDGE_RANGE}, 200),
        ("one_algorithm", "Only the trending algorithm", {"algorithm": "trending"}, 200),
        ("bad_offset", "Negative offset", {"offset": "-1"}, 400),
    ],
    "session_analysis": [
        ("latest_sessions", "The 5 latest sessions", {**TOP5}, 200),
        ("seed_readme_example", "The seed README's request: android mobile in 2023, no rows", {"platform": "android", "device": "mobile", **SEED_RANGE, "limit": "50"}, 200),
        ("android_mobile_edge_range", "Android mobile sessions cut at second-precision edges", {"platform": "android", "device": "mobile", **EDGE_RANGE, "limit": "10"}, 200),
        ("long_sessions", "Sessions with at least 15 events", {"min_events": "15", "limit": "10"}, 200),
        ("one_user", "Every session of one user", {"user_id": "u_garzaanthony"}, 200),
        ("reversed_range", "start_date after end_date", {"start_date": "2024-01-10 00:00:00", "end_date": "2024-01-09 00:00:00"}, 400),
    ],
    "content_engagement": [
        ("top_content", "Top 5 content by events", {**TOP5}, 200),
        ("seed_readme_example", "The seed README's request: c456 views in 2023, no rows", {"content_id": "c456", "event_type": "view", **SEED_RANGE, "limit": "50"}, 200),
        ("ranked_by_shares", "Content ranked by shares over a week", {"event_type": "share", **WEEK, "limit": "10"}, 200),
        ("quoted_content_id", "A content id with quotes", {"content_id": "c'quote\"x"}, 200),
        ("web_desktop_edge_range", "Web desktop over a second-precision range", {"platform": "web", "device": "desktop", **EDGE_RANGE, "limit": "5"}, 200),
        ("bad_event_type", "event_type outside the enum", {"event_type": "hover"}, 400),
    ],
    "user_recommendations": [
        ("latest_pairs", "The 5 most recently seen user/recommendation pairs", {**TOP5}, 200),
        ("seed_readme_example", "The seed README's request: u789/r123 in 2023, no rows", {"user_id": "u789", "recommendation_id": "r123", **SEED_RANGE, "limit": "50"}, 200),
        ("one_user", "Every recommendation one user saw", {"user_id": "u_johnsonjoshua", "limit": "20"}, 200),
        ("one_recommendation", "One recommendation id", {"recommendation_id": "r_d8e88ebb7a9e8eef"}, 200),
        ("hybrid_edge_range", "Hybrid algorithm over a second-precision range", {"algorithm": "hybrid", **EDGE_RANGE, "limit": "10"}, 200),
        ("negative_offset", "Negative offset", {"offset": "-1"}, 400),
    ],
}


class _Literal(str):
    pass


yaml.add_representer(_Literal, lambda dumper, s: dumper.represent_scalar("tag:yaml.org,2002:str", s, style="|"))


def record(host: str, token: str, events: list[dict], out_dir: Path) -> int:
    """Query every case, check it against the reference, and write one YAML file per endpoint."""
    written = 0
    for pipe, cases in CASES.items():
        entries = []
        for name, description, params, status in cases:
            query = urlencode(params)
            r = requests.get(f"{host}/v0/pipes/{pipe}.ndjson", params={**dict(parse_qsl(query)), "token": token}, timeout=60)
            if r.status_code != status:
                raise SystemExit(f"{pipe}/{name}: expected HTTP {status}, got {r.status_code}: {r.text[:300]}")
            if status != 200:
                expected = r.json()["error"]  # what `tb test run` compares for an error answer
            else:
                rows = [json.loads(line) for line in r.text.splitlines() if line.strip()]
                reference.compare_rows(reference.run(pipe, events, params), rows)
                expected = "".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows)
            entries.append(
                {
                    "name": name,
                    "description": description,
                    "parameters": query,
                    "expected_result": _Literal(expected) if status == 200 and expected else expected,
                    "expected_http_status": status,
                }
            )
            written += 1
        path = out_dir / f"{pipe}.yaml"
        path.write_text(yaml.dump(entries, allow_unicode=True, sort_keys=False, width=10_000))
        print(f"wrote {path.relative_to(ROOT)} ({len(entries)} cases)", file=sys.stderr)
    return written


def main() -> None:
    """Record the cases against TB_HOST/TB_TOKEN, or against a tblocal started with fixtures/."""
    events = reference.load_events(ROOT / "fixtures" / "user_events.ndjson")
    host, token = os.environ.get("TB_HOST"), os.environ.get("TB_TOKEN")
    if host and token:
        record(host.rstrip("/"), token, events, ROOT / "tests")
        return
    with tempfile.TemporaryDirectory() as tmp:
        with ServerProcess(ROOT, Path(tmp) / "data", load_fixtures=ROOT / "fixtures") as server:
            record(server.url, server.admin_token, events, ROOT / "tests")


if __name__ == "__main__":
    main()
