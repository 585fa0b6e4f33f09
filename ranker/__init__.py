"""PyTorch Transformer ranker (issue: ranker) — registered and tracked via catalog.client."""
