-- Name: traffic_per_source
-- Description: Headlines and requests per hour and source (api, feed, batch), with the mean and the slowest latency of the model call.
SELECT
  date_trunc('hour', "time") AS hour,
  source,
  count(*) AS headlines,
  count(DISTINCT request_id) AS requests,
  round(avg(latency_ms), 3) AS mean_latency_ms,
  round(max(latency_ms), 3) AS max_latency_ms
FROM results
GROUP BY date_trunc('hour', "time"), source
ORDER BY hour, source
