"""The typed project of tests/test_sdk_typed.py, as the SDK README writes one: a data source and an endpoint."""

from tinybird_sdk import define_datasource, define_endpoint, engine, node, p, t

page_views = define_datasource(
    "page_views",
    {
        "description": "Page views of the typed-project test",
        "schema": {"timestamp": t.date_time(), "pathname": t.string(), "session_id": t.string()},
        "engine": engine.merge_tree({"sorting_key": ["pathname", "timestamp"]}),
    },
)

top_pages = define_endpoint(
    "top_pages",
    {
        "description": "Most visited pages",
        "params": {"start_date": p.date_time(), "limit": p.int32().optional(10)},
        "nodes": [
            node(
                {
                    "name": "aggregated",
                    "sql": """
                        SELECT pathname, count() AS views
                        FROM page_views
                        WHERE timestamp >= {{DateTime(start_date)}}
                        GROUP BY pathname
                        ORDER BY views DESC, pathname ASC
                        LIMIT {{Int32(limit, 10)}}
                    """,
                }
            )
        ],
        "output": {"pathname": t.string(), "views": t.uint64()},
    },
)
