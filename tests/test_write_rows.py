"""tblocal.write.rows: staging column types, one-line bodies, CSV headers."""

from helpers import TEST_PROJECT
from tblocal.project import load_project
from tblocal.write.rows import _columns, _is_csv_header, _one_object_line


def test_columns_staging_types_and_defaults():
    cols = {c.name: c for c in _columns(load_project(TEST_PROJECT).datasources["clicks"])}
    assert [(c.key, c.type, c.stage_type, c.default, c.nullable) for c in cols.values()] == [
        ("id", "String", "Nullable(String)", None, False),
        ("user", "String", "Nullable(String)", None, False),
        ("kind", "LowCardinality(String)", "Nullable(String)", "'click'", False),
        ("ts", "DateTime", "Nullable(DateTime)", None, False),
        ("value", "UInt32", "Nullable(Int128)", "0", False),
        ("tags", "String", "Nullable(String)", "'{}'", False),
    ]


def test_one_object_line_and_csv_header():
    assert _one_object_line(b' {"a": 1} \n')
    assert not _one_object_line(b'{"a": 1}\n{"a": 2}')
    assert not _one_object_line(b'{"a": 1}{"a": 2}')
    assert not _one_object_line(b"[1]")
    ds = load_project(TEST_PROJECT).datasources["clicks"]
    assert _is_csv_header(b'"id","user","kind"', ds)
    assert _is_csv_header(b"id,user", ds)
    assert not _is_csv_header(b"c1,u1,click", ds)


# A JSON column that keeps each event whole (`json:$`) or one sub-object (`json:$.data`), beside columns read
# from inside it, as Tinybird's datafile reference shows (`record JSON `json:$`` beside `json:$.time`).
EVENTS = """SCHEMA >
    `event_time` DateTime64(3) `json:$.tinybirdIngestTime` DEFAULT now(),
    `event_type` String `json:$.data.type` DEFAULT 'unknown',
    `event` JSON `json:$` DEFAULT '{}',
    `data` JSON `json:$.data`

ENGINE MergeTree
ENGINE_SORTING_KEY event_time
"""
RAW = """SCHEMA >
    `at` DateTime `json:$.time` DEFAULT now(),
    `record` String `json:$`,
    `document` JSON `json:$`,
    `at_text` String `json:$.time`

ENGINE MergeTree
ENGINE_SORTING_KEY at
"""
READS = """NODE by_user
SQL >
    SELECT event.data.user_id AS user_id, event.data.client_id::String AS client_id, data.type::String AS kind, event_type
    FROM events ORDER BY event.data.user_id::Int64

TYPE endpoint
"""


def test_json_columns_read_whole_rows_and_sub_objects_beside_paths_inside_them(local):
    import json

    from helpers import datafiles, ndjson, scratch_workspace
    files = datafiles(**{"datasources/events.datasource": EVENTS, "datasources/raw_events.datasource": RAW, "pipes/events_by_user.pipe": READS})
    with scratch_workspace(local, "json_columns", files) as token:
        sent = [{"tinybirdIngestTime": "2024-05-01 10:00:00.000", "data": {"type": "click", "user_id": 7, "client_id": 12}},
                {"data": {"user_id": 8, "client_id": "c-9"}}]
        r = local.post("/v0/events", params={"name": "events", "token": token, "wait": "true"}, content=ndjson(sent))
        assert r.json() == {"successful_rows": 2, "quarantined_rows": 0}, r.text
        appended = [{"tinybirdIngestTime": "2024-05-02 10:00:00.000", "data": {"type": "view", "user_id": 9, "client_id": 1}}]
        r = local.post("/v0/datasources", params={"name": "events", "mode": "append", "format": "ndjson", "token": token},
                       files={"ndjson": ("rows.ndjson", ndjson(appended))})
        assert r.status_code == 200, r.text
        r = local.get("/v0/pipes/events_by_user.json", params={"token": token})
        assert r.status_code == 200, r.text
        assert r.json()["data"] == [
            {"user_id": 7, "client_id": "12", "kind": "click", "event_type": "click"},
            {"user_id": 8, "client_id": "c-9", "kind": "", "event_type": "unknown"},
            {"user_id": 9, "client_id": "1", "kind": "view", "event_type": "view"}]
        r = local.get("/v0/sql", params={"token": token, "q": "SELECT toString(event) AS event FROM events ORDER BY event_time LIMIT 1 FORMAT JSON"})
        assert json.loads(r.json()["data"][0]["event"])["data"] == sent[0]["data"]  # the whole event, kept
        r = local.post("/v0/events", params={"name": "raw_events", "token": token, "wait": "true"},
                       content=ndjson([{"time": "2024-05-01 10:00:00", "a": [1, {"b": None}], "n": {"b": 2}}]))
        assert r.json() == {"successful_rows": 1, "quarantined_rows": 0}, r.text
        r = local.get("/v0/sql", params={"token": token, "q": "SELECT at, at_text, record, document.n.b AS b FROM raw_events FORMAT JSON"})
        assert [(row["at"], row["at_text"], json.loads(row["record"]), row["b"]) for row in r.json()["data"]] == [  # two readers of one path each
            ("2024-05-01 10:00:00", "2024-05-01 10:00:00", {"time": "2024-05-01 10:00:00", "a": [1, {"b": None}], "n": {"b": 2}}, 2)]
        # what a JSON column cannot parse goes to the quarantine with its reason; the rest of the body lands
        r = local.post("/v0/events", params={"name": "events", "token": token, "wait": "true"},
                       content=ndjson([{"data": "not an object"}, {"data": {"user_id": 10}}]))
        assert r.json() == {"successful_rows": 1, "quarantined_rows": 1}, r.text
        r = local.get("/v0/sql", params={"token": token, "q": "SELECT c__error_column, c__error FROM events_quarantine FORMAT JSON"})
        assert r.json()["data"] == [{"c__error_column": ["data"], "c__error": ["Value not an object of column data is not a JSON object"]}]
