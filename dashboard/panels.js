/* One panel per endpoint: what it asks for, which columns it shows, and its chart.
   Everything shown comes from the endpoint's JSON; the page runs no SQL of its own. */
(function (Dash) {
  "use strict";

  var DURATION_BUCKETS = [
    { label: "<1m", max: 60 },
    { label: "1\u20135m", max: 300 },
    { label: "5\u201315m", max: 900 },
    { label: "15\u201330m", max: 1800 },
    { label: "30\u201360m", max: 3600 },
    { label: "\u22651h", max: Infinity },
  ];

  /** Sessions of the page shown, counted per duration bucket. */
  function durationHistogram(rows) {
    var counts = DURATION_BUCKETS.map(function () { return 0; });
    rows.forEach(function (r) {
      var i = DURATION_BUCKETS.findIndex(function (b) { return Number(r.duration_seconds) < b.max; });
      counts[i] += 1;
    });
    return Dash.vbars(DURATION_BUCKETS.map(function (b, i) {
      return { label: b.label, value: counts[i], title: b.label + ": " + counts[i] + (counts[i] === 1 ? " session" : " sessions") };
    }));
  }

  Dash.PANELS = [
    {
      pipe: "recommendation_performance",
      title: "Recommendation performance",
      blurb: "CTR and engagement rate per algorithm, over events that came from a recommendation.",
      filters: ["start_date", "end_date", "platform", "device", "algorithm"],
      pageSize: 50,
      columns: function () {
        return ["algorithm", "recommendations", "users", "impressions", "clicks", "likes", "shares", "ctr", "engagement_rate", "avg_duration"];
      },
      chart: function (rows) {
        return Dash.hbars(
          rows.map(function (r) { return { label: r.algorithm, values: { ctr: r.ctr, engagement_rate: r.engagement_rate } }; }),
          [{ key: "ctr", name: "CTR", cls: "s-a" }, { key: "engagement_rate", name: "Engagement rate", cls: "s-b" }]
        );
      },
    },
    {
      pipe: "content_engagement",
      title: "Top content",
      blurb: "Content ranked by the chosen event type (or all events), with CTR, unique users and average duration.",
      filters: ["start_date", "end_date", "platform", "device"],
      controls: [{ name: "event_type", label: "Rank by", options: [["", "all events"], ["view", "views"], ["click", "clicks"], ["like", "likes"], ["share", "shares"]] }],
      pageSize: 10,
      columns: function () {
        return ["content_id", "events", "views", "clicks", "likes", "shares", "unique_users", "avg_duration", "ctr", "engagement_rate"];
      },
    },
    {
      pipe: "session_analysis",
      title: "Recent sessions",
      blurb: "Latest sessions first, with duration, depth (events per content) and diversity (entropy in bits). The chart counts the sessions of this page by duration.",
      filters: ["start_date", "end_date", "platform", "device"],
      controls: [{ name: "min_events", label: "Min events", type: "number", placeholder: "1" }],
      pageSize: 10,
      columns: function () {
        return ["session_id", "user_id", "platform", "device", "session_start", "duration_seconds", "events", "unique_content", "interaction_depth", "content_diversity"];
      },
      chart: durationHistogram,
      chartBeside: false, // the table needs the full width; the histogram is small
      lookupColumn: "user_id",
    },
    {
      pipe: "user_content_affinity",
      title: "What the user is drawn to",
      blurb: "Affinity score per content (or content type): weighted events plus time spent, decayed with age.",
      user: true,
      filters: ["start_date", "end_date"],
      controls: [{ name: "by", label: "By", options: [["content_id", "content"], ["content_type", "content type"]] }],
      pageSize: 10,
      columns: function (params) {
        return [params.by || "content_id", "events", "views", "clicks", "likes", "shares", "total_duration", "affinity_score", "last_interaction"];
      },
      chart: function (rows, params) {
        var key = params.by || "content_id";
        return Dash.hbars(
          rows.map(function (r) { return { label: r[key], values: { affinity_score: r.affinity_score } }; }),
          [{ key: "affinity_score", name: "Affinity score", cls: "s-a" }]
        );
      },
    },
    {
      pipe: "user_recommendations",
      title: "Recommendations the user saw",
      blurb: "Each recommendation shown to the user, latest first; converted = at least one click, like or share.",
      user: true,
      filters: ["start_date", "end_date", "algorithm"],
      pageSize: 10,
      columns: function () {
        return ["recommendation_id", "algorithm", "impressions", "clicks", "likes", "shares", "ctr", "engaged_seconds", "first_seen", "last_seen", "converted"];
      },
      format: { converted: function (v) { return Number(v) === 1 ? "yes" : "no"; } },
      summary: function (rows) {
        var converted = rows.filter(function (r) { return Number(r.converted) === 1; }).length;
        return converted + " of " + rows.length + " converted.";
      },
    },
    {
      pipe: "api_usage",
      title: "API health",
      blurb: "Calls per endpoint as the host recorded them (tinybird.pipe_stats_rt: the last 7 days), busiest first: errors (HTTP status 400 or more) and latency percentiles in ms. The chart shows p50 and p95.",
      filters: [], // the shared dates pick events, not calls
      pageSize: 10,
      empty: "No endpoint calls recorded yet.",
      columns: function () {
        return ["pipe_name", "requests", "errors", "error_rate", "p50_ms", "p95_ms", "p99_ms", "rows_read", "last_call"];
      },
      chart: function (rows) {
        return Dash.hbars(
          rows.map(function (r) { return { label: r.pipe_name, values: { p50_ms: r.p50_ms, p95_ms: r.p95_ms } }; }),
          [{ key: "p50_ms", name: "p50 ms", cls: "s-a" }, { key: "p95_ms", name: "p95 ms", cls: "s-b" }]
        );
      },
    },
  ];
})(window.Dash = window.Dash || {});
