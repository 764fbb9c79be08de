"""Hand-computed cases for tests/reference.py, one group per endpoint of docs/endpoints.md."""

from __future__ import annotations

import json

import pytest

import reference as ref


def ev(ts: str, event_type: str = "view", *, user: str = "u1", content: str = "a",
       rec: str = "", session: str = "s1", duration: int = 0, meta=None,
       platform: str = "web", device: str = "desktop", event_id: str | None = None) -> dict:
    """One raw event as it would come out of the NDJSON."""
    return {
        "event_id": event_id or f"{ts}-{event_type}-{content}", "user_id": user,
        "event_type": event_type, "content_id": content, "recommendation_id": rec,
        "timestamp": ts, "session_id": session, "device": device, "platform": platform,
        "duration": duration,
        "metadata": meta if isinstance(meta, str) else json.dumps(meta or {}),
    }


# ---------------------------------------------------------------- helpers

def test_ch_round_is_clickhouse_float_rounding():
    assert ref.ch_round(2.675, 2) == 2.68  # Python's round(2.675, 2) gives 2.67
    assert ref.ch_round(0.125, 2) == 0.12  # exact tie: half to even
    assert ref.ch_round(0.375, 2) == 0.38
    assert ref.ch_round(1 / 3, 4) == 0.3333


def test_ratio_zero_denominator():
    assert ref.ratio(5, 0) == 0.0
    assert ref.ratio(2, 3) == 0.6667


def test_entropy_bits():
    assert ref.entropy_bits(["a", "a", "b", "c"]) == pytest.approx(1.5)
    assert ref.entropy_bits(["a"]) == 0


def test_normalize_timestamps_and_defaults():
    raw = {"event_id": "e", "user_id": "u", "event_type": "view", "content_id": "c",
           "timestamp": "2024-01-01T10:00:00+02:00", "session_id": "s"}
    e = ref.normalize_event(raw)
    assert ref.fmt_ts(e["timestamp"]) == "2024-01-01 08:00:00"
    assert (e["recommendation_id"], e["duration"], e["metadata"]) == ("", 0, "{}")
    assert (e["_algorithm"], e["_content_type"]) == ("unknown", "unknown")
    assert ref.fmt_ts(ref.normalize_event(dict(raw, timestamp="2024-01-01T10:00:00Z"))["timestamp"]) \
        == "2024-01-01 10:00:00"


@pytest.mark.parametrize("change", [
    {"timestamp": "yesterday"}, {"duration": "abc"}, {"duration": -5}, {"user_id": None},
])
def test_quarantine_bound_rows_dropped(change):
    raw = dict(ev("2024-01-01 00:00:00"), **change)
    if change.get("user_id", "x") is None:
        del raw["user_id"]
    assert ref.normalize_event(raw) is None


def test_metadata_reading():
    assert ref.read_metadata("not json") == {}
    assert ref.read_metadata("[1, 2]") == {}
    e = ref.normalize_event(ev("2024-01-01 00:00:00", meta={"algorithm": "", "content_type": 5}))
    assert (e["_algorithm"], e["_content_type"]) == ("unknown", "unknown")


@pytest.mark.parametrize("endpoint, params, name", [
    ("content_engagement", {"limit": "0"}, "limit"),
    ("content_engagement", {"limit": "10001"}, "limit"),
    ("content_engagement", {"offset": "-1"}, "offset"),
    ("content_engagement", {"limit": "abc"}, "limit"),
    ("content_engagement", {"event_type": "hover"}, "event_type"),
    ("user_content_affinity", {"by": "user"}, "by"),
    ("user_content_affinity", {"half_life_days": "x"}, "half_life_days"),
    ("session_analysis", {"start_date": "2024-02-01 00:00:00", "end_date": "2024-01-01 00:00:00"},
     "start_date"),
    ("session_analysis", {"end_date": "tomorrow"}, "end_date"),
])
def test_bad_params_name_the_parameter(endpoint, params, name):
    with pytest.raises(ValueError, match=name):
        ref.run(endpoint, [], params)


def test_compare_rows_tolerance():
    exp = [{"content_id": "a", "events": 3, "avg_duration": 1.25, "ctr": 0.3333}]
    ref.compare_rows(exp, [{"content_id": "a", "events": 3, "avg_duration": 1.26, "ctr": 0.3334}])
    for bad in ({"events": 4}, {"events": 3.0}, {"avg_duration": 1.27}, {"ctr": 0.3336},
                {"content_id": "b"}):
        with pytest.raises(AssertionError):
            ref.compare_rows(exp, [dict(exp[0], **bad)])
    with pytest.raises(AssertionError, match="row count"):
        ref.compare_rows(exp, [])
    with pytest.raises(AssertionError, match="columns"):
        ref.compare_rows(exp, [{"events": 3, "content_id": "a", "avg_duration": 1.25, "ctr": 0.3333}])


# ---------------------------------------------------------------- user_content_affinity

def test_affinity_no_decay_weights_and_other_types():
    events = [
        ev("2024-01-01 10:00:00", "view", content="a", duration=60),   # 1 + 1
        ev("2024-01-03 10:00:00", "click", content="a"),               # 2
        ev("2024-01-05 10:00:00", "hover", content="a", duration=120),  # nothing
        ev("2024-01-02 10:00:00", "share", content="b", duration=30),  # 4 + 0.5
        ev("2024-01-02 10:00:00", "like", user="u2", content="a"),     # 3
    ]
    rows = ref.user_content_affinity(events, half_life_days="0")
    assert rows == [
        {"user_id": "u1", "content_id": "b", "events": 1, "views": 0, "clicks": 0, "likes": 0,
         "shares": 1, "total_duration": 30, "affinity_score": 4.5,
         "last_interaction": "2024-01-02 10:00:00"},
        {"user_id": "u1", "content_id": "a", "events": 3, "views": 1, "clicks": 1, "likes": 0,
         "shares": 0, "total_duration": 180, "affinity_score": 4.0,
         "last_interaction": "2024-01-05 10:00:00"},
        {"user_id": "u2", "content_id": "a", "events": 1, "views": 0, "clicks": 0, "likes": 1,
         "shares": 0, "total_duration": 0, "affinity_score": 3.0,
         "last_interaction": "2024-01-02 10:00:00"},
    ]
    assert list(rows[0]) == ref.COLUMNS["user_content_affinity"]


def test_affinity_decay_uses_calendar_days_and_latest_event():
    events = [
        ev("2024-01-01 23:59:59", content="a"),
        ev("2024-01-02 00:00:00", content="b"),  # t0 = this one: a is 1 calendar day older
    ]
    rows = ref.user_content_affinity(events, half_life_days="1")
    assert [(r["content_id"], r["affinity_score"]) for r in rows] == [("b", 1.0), ("a", 0.5)]


def test_affinity_decay_from_end_date_and_default_half_life():
    events = [ev("2024-01-01 12:00:00", content="a", duration=120),  # (1 + 2) * 0.5**(30/30)
              ev("2024-01-31 08:00:00", content="b"),                 # 1 * 0.5**(0/30)
              ev("2024-02-05 00:00:00", content="c")]                 # after end_date: dropped
    rows = ref.user_content_affinity(events, end_date="2024-01-31 23:59:59")
    assert [(r["content_id"], r["affinity_score"]) for r in rows] == [("a", 1.5), ("b", 1.0)]
    rows = ref.user_content_affinity(events, end_date="2024-02-15 00:00:00", half_life_days="15")
    # ages 45 and 15 days: 3 * 0.5**3 = 0.375, 1 * 0.5 = 0.5, c: 1 * 0.5**(10/15)
    assert [(r["content_id"], r["affinity_score"]) for r in rows] == [
        ("c", 0.63), ("b", 0.5), ("a", 0.375)]


def test_affinity_custom_weights():
    events = [ev("2024-01-01 00:00:00", "view", duration=90),
              ev("2024-01-01 00:00:01", "click"),
              ev("2024-01-01 00:00:02", "like"),
              ev("2024-01-01 00:00:03", "share", duration=30)]
    rows = ref.user_content_affinity(events, half_life_days="0", view_weight="10",
                                     click_weight="0.5", like_weight="0", share_weight="1",
                                     duration_weight="2")
    # 10 + 2*1.5 + 0.5 + 0 + 1 + 2*0.5 = 15.5
    assert rows[0]["affinity_score"] == 15.5


def test_affinity_by_content_type_and_user_filter():
    events = [
        ev("2024-01-01 00:00:00", content="a", meta={"content_type": "video"}),
        ev("2024-01-01 00:00:00", content="b", meta={"content_type": "video"}),
        ev("2024-01-01 00:00:00", content="c", meta={"content_type": ""}),
        ev("2024-01-01 00:00:00", content="d", meta="{broken"),
        ev("2024-01-01 00:00:00", user="u_josé", content="e", meta={"content_type": "video"}),
    ]
    rows = ref.user_content_affinity(events, by="content_type", user_id="u1", half_life_days=0)
    assert [(r["user_id"], r["content_type"], r["events"], r["affinity_score"]) for r in rows] == [
        ("u1", "unknown", 2, 2.0), ("u1", "video", 2, 2.0)]
    assert list(rows[0])[1] == "content_type"


def test_affinity_t0_comes_from_filtered_events():
    events = [ev("2024-01-01 00:00:00", user="u1"), ev("2024-01-11 00:00:00", user="u2")]
    # With user_id=u1 the latest filtered event is u1's own: age 0.
    assert ref.user_content_affinity(events, user_id="u1", half_life_days="10")[0]["affinity_score"] == 1.0
    assert ref.user_content_affinity(events, half_life_days="10")[1]["affinity_score"] == 0.5


# ---------------------------------------------------------------- recommendation_performance

def test_recommendation_performance():
    cf = {"algorithm": "cf", "content_type": "video", "source": "home", "position": 1}
    events = [
        ev("2024-01-01 00:00:00", "view", rec="r1", meta=cf, duration=10),
        ev("2024-01-01 00:00:05", "click", rec="r1", meta=cf, duration=1),
        ev("2024-01-01 00:00:06", "like", rec="r1", meta=cf, duration=0),
        ev("2024-01-01 00:01:00", "view", user="u2", rec="r2", meta=cf, duration=20),
        ev("2024-01-01 00:02:00", "view", user="u2", rec="r3", meta=cf, duration=0),
        ev("2024-01-01 00:03:00", "view", rec="r4", meta="not json", duration=7),
        ev("2024-01-01 00:03:00", "click", rec="r5", meta={"algorithm": ""}, duration=2),
        ev("2024-01-01 00:04:00", "view", rec="", meta=cf, duration=1000),  # not recommended
        ev("2024-01-01 00:04:00", "hover", rec="r1", meta=cf, duration=3),
    ]
    rows = ref.recommendation_performance(events)
    assert rows == [
        {"algorithm": "cf", "recommendations": 3, "users": 2, "impressions": 3, "clicks": 1,
         "likes": 1, "shares": 0, "ctr": 0.3333, "engagement_rate": 0.6667,
         "avg_duration": 5.67},  # (10+1+0+20+0+3)/6
        {"algorithm": "unknown", "recommendations": 2, "users": 1, "impressions": 1,
         "clicks": 1, "likes": 0, "shares": 0, "ctr": 1.0, "engagement_rate": 1.0,
         "avg_duration": 4.5},
    ]
    assert [r["algorithm"] for r in ref.recommendation_performance(events, algorithm="unknown")] == ["unknown"]
    assert ref.recommendation_performance(events, platform="ios") == []


def test_recommendation_performance_zero_impressions_and_rounding():
    events = [ev("2024-01-01 00:00:00", "click", rec="r", meta={"algorithm": "x"}, duration=1),
              ev("2024-01-01 00:00:00", "click", rec="r", meta={"algorithm": "x"}, duration=2),
              ev("2024-01-01 00:00:00", "click", rec="r", meta={"algorithm": "x"}, duration=2)]
    row = ref.recommendation_performance(events)[0]
    assert (row["ctr"], row["engagement_rate"], row["avg_duration"]) == (0.0, 0.0, 1.67)


# ---------------------------------------------------------------- session_analysis

def test_session_analysis():
    events = [
        ev("2024-01-01 10:00:00", "view", content="a", duration=30),
        ev("2024-01-01 10:01:00", "click", content="a", duration=2),
        ev("2024-01-01 10:02:00", "view", content="b", duration=40),
        ev("2024-01-01 10:05:00", "hover", content="c", duration=1),
        ev("2024-01-02 09:00:00", "view", session="s2", user="u2", content="a",
           platform="ios", device="mobile"),
    ]
    rows = ref.session_analysis(events)
    assert rows == [
        {"session_id": "s2", "user_id": "u2", "platform": "ios", "device": "mobile",
         "session_start": "2024-01-02 09:00:00", "session_end": "2024-01-02 09:00:00",
         "duration_seconds": 0, "engaged_seconds": 0, "events": 1, "unique_content": 1,
         "views": 1, "clicks": 0, "likes": 0, "shares": 0, "interaction_depth": 1.0,
         "content_diversity": 0.0},
        {"session_id": "s1", "user_id": "u1", "platform": "web", "device": "desktop",
         "session_start": "2024-01-01 10:00:00", "session_end": "2024-01-01 10:05:00",
         "duration_seconds": 300, "engaged_seconds": 73, "events": 4, "unique_content": 3,
         "views": 2, "clicks": 1, "likes": 0, "shares": 0, "interaction_depth": 1.3333,
         "content_diversity": 1.5},
    ]
    assert [r["session_id"] for r in ref.session_analysis(events, min_events="2")] == ["s1"]
    assert [r["session_id"] for r in ref.session_analysis(events, platform="ios")] == ["s2"]
    # Filters apply to events before grouping: s1 without its 10:05 hover.
    row = ref.session_analysis(events, end_date="2024-01-01 10:04:59")[0]
    assert (row["events"], row["duration_seconds"], row["content_diversity"]) == (3, 120, 0.9183)


def test_session_analysis_order_ties_by_session_id():
    events = [ev("2024-01-01 00:00:00", session="sb"), ev("2024-01-01 00:00:00", session="sa"),
              ev("2024-01-01 00:00:01", session="sc")]
    assert [r["session_id"] for r in ref.session_analysis(events)] == ["sc", "sa", "sb"]
    assert [r["session_id"] for r in ref.session_analysis(events, limit="1", offset="1")] == ["sa"]


# ---------------------------------------------------------------- content_engagement

def test_content_engagement():
    events = [
        ev("2024-01-01 00:00:00", "view", content="a", duration=10),
        ev("2024-01-01 00:00:01", "view", content="a", user="u2", duration=20),
        ev("2024-01-01 00:00:02", "view", content="a", user="u3", duration=5),
        ev("2024-01-01 00:00:03", "click", content="a", duration=1),
        ev("2024-01-02 00:00:00", "click", content="b", duration=2),
        ev("2024-01-02 00:00:01", "share", content="b", duration=3),
        ev("2024-01-02 00:00:02", "click", content="b", duration=3),
        ev("2024-01-03 00:00:00", "hover", content="c", duration=4),
    ]
    rows = ref.content_engagement(events)
    assert rows == [
        {"content_id": "a", "events": 4, "views": 3, "clicks": 1, "likes": 0, "shares": 0,
         "unique_users": 3, "total_duration": 36, "avg_duration": 9.0, "ctr": 0.3333,
         "engagement_rate": 0.3333, "first_event": "2024-01-01 00:00:00",
         "last_event": "2024-01-01 00:00:03"},
        {"content_id": "b", "events": 3, "views": 0, "clicks": 2, "likes": 0, "shares": 1,
         "unique_users": 1, "total_duration": 8, "avg_duration": 2.67, "ctr": 0.0,
         "engagement_rate": 0.0, "first_event": "2024-01-02 00:00:00",
         "last_event": "2024-01-02 00:00:02"},
        {"content_id": "c", "events": 1, "views": 0, "clicks": 0, "likes": 0, "shares": 0,
         "unique_users": 1, "total_duration": 4, "avg_duration": 4.0, "ctr": 0.0,
         "engagement_rate": 0.0, "first_event": "2024-01-03 00:00:00",
         "last_event": "2024-01-03 00:00:00"},
    ]
    # Ranked by clicks; content without clicks disappears; other columns still count everything.
    by_clicks = ref.content_engagement(events, event_type="click")
    assert [(r["content_id"], r["clicks"], r["events"]) for r in by_clicks] == [("b", 2, 3), ("a", 1, 4)]
    assert ref.content_engagement(events, event_type="like") == []
    assert [r["content_id"] for r in ref.content_engagement(events, start_date="2024-01-02 00:00:01")] == ["b", "c"]
    assert [r["events"] for r in ref.content_engagement(events, start_date="2024-01-02 00:00:01")] == [2, 1]


def test_content_engagement_escaped_ids():
    tricky = "c'quote\"x"
    events = [ev("2024-01-01 00:00:00", content=tricky, user="u_josé"),
              ev("2024-01-01 00:00:00", content="a")]
    rows = ref.content_engagement(events, content_id=tricky)
    assert [(r["content_id"], r["unique_users"]) for r in rows] == [(tricky, 1)]


# ---------------------------------------------------------------- user_recommendations

def test_user_recommendations():
    events = [
        ev("2024-01-01 00:00:00", "view", rec="r1", meta={"algorithm": "alpha"}, duration=30),
        ev("2024-01-01 00:00:10", "click", rec="r1", meta={"algorithm": "beta"}, duration=2),
        ev("2024-01-01 00:05:00", "view", rec="r2", meta="{}", duration=5),
        ev("2024-01-01 00:05:00", "view", user="u2", rec="r0", meta={"algorithm": "zeta"}),
        ev("2024-01-01 00:06:00", "view", rec="", duration=99),  # not a recommendation
    ]
    rows = ref.user_recommendations(events)
    assert rows == [
        {"user_id": "u2", "recommendation_id": "r0", "algorithm": "zeta", "impressions": 1,
         "clicks": 0, "likes": 0, "shares": 0, "ctr": 0.0, "engaged_seconds": 0,
         "first_seen": "2024-01-01 00:05:00", "last_seen": "2024-01-01 00:05:00",
         "converted": 0},
        {"user_id": "u1", "recommendation_id": "r2", "algorithm": "unknown", "impressions": 1,
         "clicks": 0, "likes": 0, "shares": 0, "ctr": 0.0, "engaged_seconds": 5,
         "first_seen": "2024-01-01 00:05:00", "last_seen": "2024-01-01 00:05:00",
         "converted": 0},
        {"user_id": "u1", "recommendation_id": "r1", "algorithm": "beta", "impressions": 1,
         "clicks": 1, "likes": 0, "shares": 0, "ctr": 1.0, "engaged_seconds": 32,
         "first_seen": "2024-01-01 00:00:00", "last_seen": "2024-01-01 00:00:10",
         "converted": 1},
    ]
    # The algorithm filter applies per event: only r1's view is 'alpha'.
    only_alpha = ref.user_recommendations(events, algorithm="alpha")
    assert [(r["recommendation_id"], r["algorithm"], r["converted"]) for r in only_alpha] == [("r1", "alpha", 0)]
    assert [r["recommendation_id"] for r in ref.user_recommendations(events, user_id="u1", limit=1)] == ["r2"]
    assert ref.user_recommendations(events, recommendation_id="r0")[0]["user_id"] == "u2"


def test_default_limit_is_50():
    events = [ev("2024-01-01 00:00:00", content=f"c{i:03d}") for i in range(60)]
    assert len(ref.content_engagement(events)) == 50
    assert len(ref.content_engagement(events, offset=55)) == 5
