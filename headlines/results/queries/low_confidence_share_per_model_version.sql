-- Name: low_confidence_share_per_model_version
-- Description: Per model version: answers, the share with confidence below 0.5 (low confidence), mean confidence, and when it first and last answered.
SELECT
  model_version,
  count(*) AS headlines,
  round(avg(CASE WHEN confidence < 0.5 THEN 1.0 ELSE 0.0 END), 4) AS low_confidence_share,
  round(avg(confidence), 4) AS mean_confidence,
  min("time") AS first_seen,
  max("time") AS last_seen
FROM results
GROUP BY model_version
ORDER BY last_seen DESC, model_version
