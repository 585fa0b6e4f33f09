"""Alembic migrations: the only source of the catalog's database schema."""
