"""DuckDB feature pipelines (issue: feature pipelines) — they report to the catalog via catalog.client."""
