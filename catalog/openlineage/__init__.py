"""OpenLineage ingestion support: the 2-0-2 event schema and its validator."""
