// The typed project of tests/test_sdk_typed.py, as the SDK README writes one: a data source and an endpoint.
import { Tinybird, defineDatasource, defineEndpoint, engine, node, p, t } from "@tinybirdco/sdk";

export const pageViews = defineDatasource("page_views", {
  description: "Page views of the typed-project test",
  schema: {
    timestamp: t.dateTime(),
    pathname: t.string(),
    session_id: t.string(),
  },
  engine: engine.mergeTree({ sortingKey: ["pathname", "timestamp"] }),
});

export const topPages = defineEndpoint("top_pages", {
  description: "Most visited pages",
  params: {
    start_date: p.dateTime(),
    limit: p.int32().optional(10),
  },
  nodes: [
    node({
      name: "aggregated",
      sql: `
        SELECT pathname, count() AS views
        FROM page_views
        WHERE timestamp >= {{DateTime(start_date)}}
        GROUP BY pathname
        ORDER BY views DESC, pathname ASC
        LIMIT {{Int32(limit, 10)}}
      `,
    }),
  ],
  output: { pathname: t.string(), views: t.uint64() },
});

export const tinybird = new Tinybird({
  datasources: { pageViews },
  pipes: { topPages },
  baseUrl: process.env.TINYBIRD_URL,
  token: process.env.TINYBIRD_TOKEN,
});
