"""The one policy table: which permission each endpoint needs, and which roles hold it.

Every endpoint of the app must be listed here: an endpoint missing from ``POLICY`` is refused to
everyone but admin (default deny), and ``tests/catalog/test_route_roles.py`` fails until it is
mapped. A value is a permission for every method of the endpoint, or ``{METHOD: permission}``.
"""

from __future__ import annotations

# No credentials needed.
PUBLIC = "public"

READ = "catalog.read"              # namespaces, datasets, jobs, runs, lineage, search, models
AUDIT_READ = "audit.read"          # the audit trail and point-in-time reads of it
LINEAGE_WRITE = "lineage.write"    # OpenLineage events
DATASETS_WRITE = "datasets.write"  # dataset registration without OpenLineage
MODELS_WRITE = "models.write"      # model names and versions
MODELS_PROMOTE = "models.promote"  # aliases (production is gated)
PIPELINES_RUN = "pipelines.run"    # start (queue) a pipeline run for a worker, or cancel one
METADATA_WRITE = "metadata.write"  # steward edits: descriptions, owners, tags, namespaces
CLASSIFY = "classifications.write"  # sensitivity tags on columns, detector suggestions
EXEMPT = "exemptions.write"        # approve a model's use of sensitive columns
ADMIN = "admin"                    # users and tokens

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "steward": frozenset({READ, METADATA_WRITE, CLASSIFY, EXEMPT}),
    "pipeline": frozenset({READ, LINEAGE_WRITE, DATASETS_WRITE, MODELS_WRITE, MODELS_PROMOTE,
                           PIPELINES_RUN}),
    "auditor": frozenset({READ, AUDIT_READ}),
    "viewer": frozenset({READ}),
}

POLICY: dict[str, str | dict[str, str]] = {
    # Flask's static files, the login page, liveness and readiness probes.
    "static": PUBLIC,
    "auth.login": PUBLIC,
    "auth.logout": PUBLIC,
    "ops.healthz": PUBLIC,
    "ops.readyz": PUBLIC,
    # OpenLineage ingestion and the raw event feed.
    "lineage.post_lineage": LINEAGE_WRITE,
    "lineage.post_lineage_batch": LINEAGE_WRITE,
    "lineage.list_events": READ,
    # Marquez-shaped reads.
    "namespaces.list_namespaces": READ,
    "namespaces.get_namespace": READ,
    "namespaces.put_namespace": METADATA_WRITE,
    "datasets.list_datasets": READ,
    "datasets.get_dataset": READ,
    "datasets.put_dataset": DATASETS_WRITE,
    "datasets.list_versions": READ,
    "datasets.get_version": READ,
    "jobs.list_jobs": READ,
    "jobs.get_job": READ,
    "jobs.list_runs": READ,
    "jobs.get_run": READ,
    "search.get_search": READ,
    "graph.get_lineage": READ,
    "graph.get_column_lineage": READ,
    "graph.get_upstream": READ,
    "graph.get_downstream": READ,
    "openapi.openapi_json": READ,
    # Swagger UI: the page reads the catalog's API; its files are a third party's static files.
    "api_docs.page": READ,
    "api_docs.asset": PUBLIC,
    "web_vendor.asset": PUBLIC,
    "sources.list_sources": READ,
    "sources.get_source": READ,
    # Marquez's tag writes are steward edits, like the dataset form's tags.
    "tags.get_tags": READ,
    "tags.put_tag": METADATA_WRITE,
    "tags.tag_dataset": METADATA_WRITE,
    "tags.tag_field": METADATA_WRITE,
    # Model registry.
    "models.list_models": READ,
    "models.get_model": READ,
    "models.get_version": READ,
    "models.put_model": MODELS_WRITE,
    "models.post_version": MODELS_WRITE,
    "models.put_alias": MODELS_PROMOTE,
    # Pipelines driven by the catalog.
    "pipelines.list_pipelines": READ,
    "pipelines.get_pipeline": READ,
    "pipelines.list_runs": READ,
    "pipelines.start_run": PIPELINES_RUN,
    "pipelines.cancel_run": PIPELINES_RUN,
    # Governance: audit trail, classifications, exemptions.
    "audit.list_entries": AUDIT_READ,
    "audit.export_entries": AUDIT_READ,
    "governance.get_classifications": READ,
    "governance.put_classification": CLASSIFY,
    "governance.delete_classification": CLASSIFY,
    "governance.detect": CLASSIFY,
    "governance.list_exemptions": READ,
    "governance.post_exemption": EXEMPT,
    "governance.revoke_exemption": EXEMPT,
    # Web pages: reading is reading the catalog; edit forms are steward edits.
    "web_home.home": READ,
    "web_home.search": READ,
    "web_datasets.dataset": READ,
    "web_datasets.edit_dataset": METADATA_WRITE,
    "web_datasets.edit_columns": METADATA_WRITE,
    "web_datasets.classify_column": CLASSIFY,
    "web_jobs.job": READ,
    "web_jobs.run": READ,
    "web_models.models": READ,
    "web_models.model": READ,
    "web_lineage.lineage": READ,
    "web_lineage.graph_json": READ,
    "web_lineage.columns_json": READ,
    "web_trace.dataset_trace": READ,
    "web_trace.model_trace": READ,
    "web_health.health": READ,
    "web_pipelines.pipelines": READ,
    "web_pipelines.start_run": PIPELINES_RUN,
    "web_audit.audit_page": AUDIT_READ,
}


def required_permission(endpoint: str | None, method: str) -> str | None:
    """The permission ``method`` on ``endpoint`` needs; None when the endpoint is unmapped."""
    entry = POLICY.get(endpoint or "")
    if entry is None and endpoint and endpoint.endswith(".static"):
        entry = PUBLIC  # a blueprint's own static folder
    if isinstance(entry, dict):
        method = "GET" if method in ("HEAD", "OPTIONS") else method
        return entry.get(method)
    return entry


def role_allows(role: str, permission: str | None) -> bool:
    """Whether ``role`` holds ``permission``; admin holds every one, unmapped ones included."""
    if role == "admin":
        return True
    if permission is None:
        return False
    return permission == PUBLIC or permission in ROLE_PERMISSIONS.get(role, frozenset())
