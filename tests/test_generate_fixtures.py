"""Tests for scripts/generate_fixtures.py: determinism, shape and realistic proportions."""

from __future__ import annotations

import collections
import datetime as dt
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "generate_fixtures.py"
FIXTURE = ROOT / "fixtures" / "user_events.ndjson"

COLUMNS = ["event_id", "user_id", "event_type", "content_id", "recommendation_id",
           "timestamp", "session_id", "device", "platform", "duration", "metadata"]


def _load_module():
    spec = importlib.util.spec_from_file_location("generate_fixtures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look the module up in sys.modules while the class is built.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


gen = _load_module()


def generate(events: int, seed: int, start: str = "2024-01-01", days: int = 30) -> str:
    """Run the generator in-process and return its NDJSON text."""
    out = io.StringIO()
    opts = gen.Options(events=events, seed=seed, start=dt.date.fromisoformat(start), days=days)
    assert gen.write_events(opts, out, progress=False) == events
    return out.getvalue()


@pytest.fixture(scope="module")
def sample() -> list[dict]:
    return [json.loads(line) for line in generate(8000, seed=7).splitlines()]


def test_same_seed_same_bytes():
    assert generate(3000, seed=1) == generate(3000, seed=1)


def test_different_seed_differs():
    assert generate(3000, seed=1) != generate(3000, seed=2)


def test_cli_stdout_matches_file(tmp_path):
    out = tmp_path / "e.ndjson"
    args = [sys.executable, str(SCRIPT), "--events", "500", "--seed", "3", "--days", "2"]
    subprocess.run(args + ["--out", str(out)], check=True)
    stdout = subprocess.run(args + ["--out", "-"], check=True, capture_output=True).stdout
    assert stdout == out.read_bytes()
    assert stdout.decode("utf-8").count("\n") == 500


def test_committed_fixture_is_reproducible():
    # The fixture must be exactly what the documented command produces.
    assert FIXTURE.read_text(encoding="utf-8") == generate(20000, seed=42)


def test_shape_and_types(sample):
    for event in sample:
        assert list(event) == COLUMNS
        for col in COLUMNS:
            if col == "duration":
                assert isinstance(event[col], int) and 0 <= event[col] < 2**32
            else:
                assert isinstance(event[col], str)
        dt.datetime.strptime(event["timestamp"], "%Y-%m-%d %H:%M:%S")
        assert event["event_id"] and event["user_id"] and event["session_id"]


def test_timestamps_inside_window():
    events = [json.loads(line) for line in generate(2000, seed=5, start="2024-03-01", days=3).splitlines()]
    stamps = [e["timestamp"] for e in events]
    assert min(stamps) >= "2024-03-01 00:00:00"
    assert max(stamps) <= "2024-03-03 23:59:59"
    assert max(stamps) >= "2024-03-03 00:00:00"  # the whole window is used


def test_event_ids_unique(sample):
    assert len({e["event_id"] for e in sample}) == len(sample)


def test_about_half_recommended_with_metadata(sample):
    rec = [e for e in sample if e["recommendation_id"]]
    assert 0.4 < len(rec) / len(sample) < 0.6
    algorithms = collections.Counter()
    for event in rec:
        try:
            meta = json.loads(event["metadata"])
        except json.JSONDecodeError:
            continue  # a few deliberately invalid metadata strings
        algorithms[meta.get("algorithm", "")] += 1
        if "algorithm" in meta:
            assert set(meta) == {"algorithm", "content_type", "source", "position"}
    assert len([a for a in algorithms if a]) >= 4


def test_algorithms_have_different_ctr():
    events = [json.loads(line) for line in generate(30000, seed=11).splitlines()]
    views, clicks = collections.Counter(), collections.Counter()
    for event in events:
        if not event["recommendation_id"] or event["metadata"] == "not-json":
            continue
        algorithm = json.loads(event["metadata"]).get("algorithm")
        if algorithm:
            views[algorithm] += event["event_type"] == "view"
            clicks[algorithm] += event["event_type"] == "click"
    ctrs = sorted(clicks[a] / views[a] for a in views)
    assert ctrs[-1] > 2 * ctrs[0]


def test_organic_metadata_variety(sample):
    organic = {e["metadata"] for e in sample if not e["recommendation_id"]}
    assert "{}" in organic
    assert any("source" in json.loads(m) for m in organic)


def test_event_type_mix(sample):
    counts = collections.Counter(e["event_type"] for e in sample)
    assert counts["view"] > counts["click"] > counts["like"] > counts["share"] > 0
    assert 0 < counts["hover"] < 0.05 * len(sample)


def test_zipf_content_skew(sample):
    counts = sorted(collections.Counter(e["content_id"] for e in sample).values(), reverse=True)
    assert counts[0] > 10 * counts[len(counts) // 2]


def test_platform_device_consistent_per_user(sample):
    per_user = collections.defaultdict(set)
    for event in sample:
        per_user[event["user_id"]].add((event["platform"], event["device"]))
    assert all(len(v) == 1 for v in per_user.values())
    assert {p for v in per_user.values() for p, _ in v} == {"ios", "android", "web"}


def test_sessions_are_short_and_single_user(sample):
    sessions = collections.defaultdict(list)
    for event in sample:
        sessions[event["session_id"]].append(event)
    assert max(len(v) for v in sessions.values()) <= 20
    for events in sessions.values():
        assert len({e["user_id"] for e in events}) == 1
        span = (dt.datetime.fromisoformat(events[-1]["timestamp"])
                - dt.datetime.fromisoformat(events[0]["timestamp"]))
        assert dt.timedelta(0) <= span < dt.timedelta(hours=12)


def test_views_last_longer_than_clicks(sample):
    def mean(kind):
        durations = [e["duration"] for e in sample if e["event_type"] == kind]
        return sum(durations) / len(durations)
    assert mean("view") > 5 * mean("click")


def test_special_ids_present(sample):
    users = {e["user_id"] for e in sample}
    content = {e["content_id"] for e in sample}
    assert "u_josé" in users
    assert "c'quote\"x" in content
