# Catalog service: gunicorn over the Flask app; database URL from the environment.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    CATALOG_DATABASE_URL=sqlite:////data/catalog.db

WORKDIR /app
# The service image leaves out the ranker's torch extra: serving the catalog never needs it.
COPY pyproject.toml README.md ./
COPY catalog ./catalog
COPY migrations ./migrations
COPY pipelines ./pipelines
COPY ranker ./ranker
RUN pip install . \
    && useradd --system --uid 10001 --home /data catalog \
    && mkdir -p /data && chown catalog /data

USER catalog
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
    CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/api/v1/namespaces?limit=1', timeout=4)" || exit 1
# Migrate, then serve; the app refuses a database that is not at the head revision.
CMD ["sh", "-c", "catalog db upgrade && exec gunicorn --bind 0.0.0.0:8000 --workers ${WEB_CONCURRENCY:-4} --access-logfile - 'catalog.app:create_app()'"]
