-- The naive SQL of each endpoint's contract (docs/endpoints.md, one section per endpoint), straight on a
-- raw copy of user_events: one GROUP BY over the filtered events, no materialized view.
-- `make bench` runs these in plain chDB and compares their time (and their first rows) with the
-- endpoints'. {table} is user_events_by_user (keyed user_id, timestamp) for a call with user_id,
-- else user_events (tblocal's key); {filters} the call's WHERE (dates, user_id, platform...), {t0}
-- end_date or the latest filtered timestamp, {key}/{key_expr} the `by` key of affinity,
-- {having}/{order} content_engagement's event_type ranking. Default weights and limits.

-- name: user_content_affinity
SELECT
    user_id,
    {key_expr} AS {key},
    count() AS events,
    countIf(event_type = 'view') AS views,
    countIf(event_type = 'click') AS clicks,
    countIf(event_type = 'like') AS likes,
    countIf(event_type = 'share') AS shares,
    sum(duration) AS total_duration,
    round(sum(if(event_type IN ('view', 'click', 'like', 'share'),
        (multiIf(event_type = 'view', 1, event_type = 'click', 2, event_type = 'like', 3, 4) + duration / 60)
        * pow(0.5, dateDiff('day', toDate(timestamp), toDate({t0})) / 30), 0)), 4) AS affinity_score,
    max(timestamp) AS last_interaction
FROM {table}
WHERE {filters}
GROUP BY user_id, {key}
ORDER BY affinity_score DESC, user_id ASC, {key} ASC
LIMIT 50;

-- name: recommendation_performance
SELECT
    if(JSONExtractString(metadata, 'algorithm') = '', 'unknown', JSONExtractString(metadata, 'algorithm')) AS algorithm,
    uniqExact(recommendation_id) AS recommendations,
    uniqExact(user_id) AS users,
    countIf(event_type = 'view') AS impressions,
    countIf(event_type = 'click') AS clicks,
    countIf(event_type = 'like') AS likes,
    countIf(event_type = 'share') AS shares,
    round(if(impressions = 0, 0, clicks / impressions), 4) AS ctr,
    round(if(impressions = 0, 0, (clicks + likes + shares) / impressions), 4) AS engagement_rate,
    round(avg(duration), 2) AS avg_duration
FROM {table}
WHERE recommendation_id != '' AND {filters}
GROUP BY algorithm
ORDER BY impressions DESC, algorithm ASC
LIMIT 50;

-- name: session_analysis
SELECT
    session_id,
    user_id,
    platform,
    device,
    min(timestamp) AS session_start,
    max(timestamp) AS session_end,
    dateDiff('second', session_start, session_end) AS duration_seconds,
    sum(duration) AS engaged_seconds,
    count() AS events,
    uniqExact(content_id) AS unique_content,
    countIf(event_type = 'view') AS views,
    countIf(event_type = 'click') AS clicks,
    countIf(event_type = 'like') AS likes,
    countIf(event_type = 'share') AS shares,
    round(if(unique_content = 0, 0, events / unique_content), 4) AS interaction_depth,
    round(entropy(content_id), 4) AS content_diversity
FROM {table}
WHERE {filters}
GROUP BY session_id, user_id, platform, device
ORDER BY session_start DESC, session_id ASC, user_id ASC, platform ASC, device ASC
LIMIT 50;

-- name: content_engagement
SELECT
    content_id,
    count() AS events,
    countIf(event_type = 'view') AS views,
    countIf(event_type = 'click') AS clicks,
    countIf(event_type = 'like') AS likes,
    countIf(event_type = 'share') AS shares,
    uniqExact(user_id) AS unique_users,
    sum(duration) AS total_duration,
    round(if(events = 0, 0, total_duration / events), 2) AS avg_duration,
    round(if(views = 0, 0, clicks / views), 4) AS ctr,
    round(if(views = 0, 0, (clicks + likes + shares) / views), 4) AS engagement_rate,
    min(timestamp) AS first_event,
    max(timestamp) AS last_event
FROM {table}
WHERE {filters}
GROUP BY content_id
{having}
ORDER BY {order} DESC, content_id ASC
LIMIT 50;

-- name: user_recommendations
SELECT
    user_id,
    recommendation_id,
    max(if(JSONExtractString(metadata, 'algorithm') = '', 'unknown', JSONExtractString(metadata, 'algorithm'))) AS algorithm,
    countIf(event_type = 'view') AS impressions,
    countIf(event_type = 'click') AS clicks,
    countIf(event_type = 'like') AS likes,
    countIf(event_type = 'share') AS shares,
    round(if(impressions = 0, 0, clicks / impressions), 4) AS ctr,
    sum(duration) AS engaged_seconds,
    min(timestamp) AS first_seen,
    max(timestamp) AS last_seen,
    if(clicks + likes + shares > 0, 1, 0) AS converted
FROM {table}
WHERE recommendation_id != '' AND {filters}
GROUP BY user_id, recommendation_id
ORDER BY last_seen DESC, recommendation_id ASC, user_id ASC
LIMIT 50;
