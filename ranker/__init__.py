"""PyTorch Transformer ranker; registered and tracked through catalog.client."""
