-- Name: confidence_distribution
-- Description: How sure the model was: answers per confidence bucket of width 0.1 (0.0 holds [0, 0.1), 0.9 holds [0.9, 1]), per category.
SELECT
  CAST(floor(least(confidence, 0.9999) * 10) AS double) / 10 AS bucket,
  category,
  count(*) AS headlines
FROM results
GROUP BY CAST(floor(least(confidence, 0.9999) * 10) AS double) / 10, category
ORDER BY bucket, category
