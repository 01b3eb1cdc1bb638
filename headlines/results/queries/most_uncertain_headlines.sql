-- Name: most_uncertain_headlines
-- Description: The 50 answers with the lowest confidence, newest first among equals: the headlines most worth labelling next (the keyed hash where the text is not stored).
SELECT
  "time",
  source,
  model_version,
  coalesce(headline, headline_hash) AS headline,
  category,
  confidence,
  link
FROM results
ORDER BY confidence ASC, "time" DESC, request_id
LIMIT 50
