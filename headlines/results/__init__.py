"""Live results, locally: the record's schema and the dashboard's SQL (``schema``), the store of
records under the work directory (Parquet files queried with DuckDB), and what reads it.

The record contract itself is ``functions/api/results_schema.json``; the SQL files under
``queries/`` are the same ones Athena's named queries run in AWS.
"""
