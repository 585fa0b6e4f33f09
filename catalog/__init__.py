"""Data asset catalog for recommendation loops: datasets, jobs, runs, lineage, quality, models."""

__all__ = ["create_app"]


def create_app(config=None):
    """Build the Flask application (see :func:`catalog.app.create_app`)."""
    from catalog.app import create_app as _create_app

    return _create_app(config)
