# The pages' JavaScript (Swagger UI for /api/docs, dagre for the lineage graph), from npm as
# package-lock.json pins it (nothing of it is committed).
FROM node:20-slim AS api-docs
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# Catalog service: gunicorn over the Flask app; database URL from the environment.
FROM python:3.11-slim

# /data is the service user's: the SQLite database and the folders of pipeline runs started
# through the API. Input files for those runs are read from CATALOG_DATA_DIR only; mount a data
# set (read-only) and set it, e.g. -v /srv/datasets:/datasets:ro -e CATALOG_DATA_DIR=/datasets.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    CATALOG_DATABASE_URL=sqlite:////data/catalog.db \
    CATALOG_WORK_DIR=/data/work \
    CATALOG_BIND=0.0.0.0:8000 WEB_CONCURRENCY=4 \
    CATALOG_REAP_INTERVAL_SECONDS=300 \
    CATALOG_API_DOCS_DIR=/app/api-docs CATALOG_WEB_VENDOR_DIR=/app/vendor

WORKDIR /app
# The service image leaves out the ranker's torch extra: serving the catalog never needs it.
COPY pyproject.toml README.md ./
COPY catalog ./catalog
COPY migrations ./migrations
COPY pipelines ./pipelines
COPY ranker ./ranker
COPY recocatalog ./recocatalog
COPY --from=api-docs /build/node_modules/swagger-ui-dist ./api-docs
COPY --from=api-docs /build/node_modules/@dagrejs ./vendor/@dagrejs
RUN pip install . \
    && useradd --system --uid 10001 --home /data catalog \
    && mkdir -p /data/work && chown -R catalog /data && chmod 0700 /data

VOLUME ["/data"]
USER catalog
EXPOSE 8000
# /healthz runs a query on the database: 503 (so unhealthy) when the database is down.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)" || exit 1
# Migrate, then serve with the project's gunicorn settings (catalog/gunicorn_conf.py: workers from
# WEB_CONCURRENCY, settings checked once with a one-line error, JSON request logs on stderr).
# gunicorn stops gracefully on SIGTERM, docker's default stop signal.
CMD ["sh", "-c", "catalog db upgrade && exec gunicorn -c python:catalog.gunicorn_conf"]
