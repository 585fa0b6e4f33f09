"""DuckDB feature pipelines; they report to the catalog through catalog.client."""
