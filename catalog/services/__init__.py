"""Service layer: plain functions over a SQLAlchemy Session; they flush, never commit."""
