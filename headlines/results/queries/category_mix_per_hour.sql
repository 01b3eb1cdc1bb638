-- Name: category_mix_per_hour
-- Description: Headlines classified per hour and category, with each category's share of the hour and its mean confidence.
SELECT
  date_trunc('hour', "time") AS hour,
  category,
  count(*) AS headlines,
  round(CAST(count(*) AS double) / sum(count(*)) OVER (PARTITION BY date_trunc('hour', "time")), 4) AS share,
  round(avg(confidence), 4) AS mean_confidence
FROM results
GROUP BY date_trunc('hour', "time"), category
ORDER BY hour, category
