"""Settings read from the environment, validated once at start-up."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

from catalog.errors import ConfigError

DEFAULT_SQLITE = "sqlite:///" + str(Path.cwd() / "var" / "catalog.db")
# Where `make install` puts Swagger UI (npm's swagger-ui-dist, package.json) for /api/docs.
DEFAULT_API_DOCS_DIR = str(Path(__file__).resolve().parents[1] / "node_modules"
                           / "swagger-ui-dist")
# Where it puts the pages' other libraries (dagre for the lineage graph), served at /vendor/.
DEFAULT_WEB_VENDOR_DIR = str(Path(__file__).resolve().parents[1] / "node_modules")


# Settings where 0 is meaningful (it switches the feature off); every other integer is positive.
ZERO_MEANS_OFF = frozenset({"statement_timeout_ms", "reap_interval_seconds",
                            "token_cache_seconds", "trusted_proxies", "max_queued_runs"})

# The groups of OpenLineage facets, by where an event carries them; CATALOG_STRICT_FACETS names
# those whose schema violations refuse the event (catalog.openlineage validates by them).
FACET_GROUPS = ("run", "job", "dataset", "input", "output")


def _int(name: str, raw: str, minimum: int = 1) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        bound = "positive" if minimum == 1 else f">= {minimum}"
        raise ConfigError(f"{name} must be {bound}, got {value}")
    return value


def _bool(name: str, raw: str) -> bool:
    if raw.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if raw.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be 1/0, true/false, yes/no or on/off, got {raw!r}")


def _facet_groups(raw: str) -> tuple[str, ...]:
    """``run,job`` -> ("job", "run"); ``all`` -> every group. Unknown names fail validation."""
    names = {name.strip().lower() for name in raw.split(",") if name.strip()}
    return FACET_GROUPS if names == {"all"} else tuple(sorted(names))


@dataclass(frozen=True)
class Settings:
    """Deployment settings; every field maps to a ``CATALOG_*`` environment variable."""

    database_url: str = DEFAULT_SQLITE
    # Largest accepted request body (bytes, after gzip decoding).
    max_body_bytes: int = 16 * 1024 * 1024
    # Upper bound of `limit` on list endpoints.
    max_page_size: int = 1000
    # Upper bound of `depth` on lineage queries.
    max_lineage_depth: int = 50
    # Most nodes a lineage neighbourhood returns (and walks): past it the answer is truncated
    # and names its frontier. Also the upper bound of its `limit`.
    max_lineage_nodes: int = 10_000
    # Most events accepted in one batch request.
    max_batch_events: int = 5000
    # PostgreSQL statement_timeout for every statement the service runs (ms; 0 = none). A query
    # cut off answers 503. SQLite has no equivalent (see README).
    statement_timeout_ms: int = 30_000
    # A run in START/RUNNING with no event for this long is stale: the reaper marks it ABORT.
    stale_run_seconds: int = 6 * 3600
    # How often each server process reaps stale runs (seconds; 0 = only `catalog runs reap`).
    reap_interval_seconds: int = 0
    # How long a process trusts a bearer token it verified before asking the database again
    # (seconds; 0 = ask on every request). A revoked token keeps working this long at most.
    token_cache_seconds: int = 30
    # Where pipeline runs started through the API keep their files: each run gets
    # <work_dir>/<pipeline>/<run id>, chosen by the server, never by the client.
    work_dir: str = str(Path.cwd() / "var" / "work")
    # Folder whose files API-started runs may read, named relative to it. Unset: API runs accept
    # the synthetic source only.
    data_dir: str | None = None
    # The module a run's worker process runs (``python -m``): a setting, never request data.
    worker_module: str = "pipelines.worker"
    # Most API-started pipeline runs executing at once, across every worker: a worker takes a
    # queued run only while fewer run (on the embedded pool: its size per server process).
    max_api_runs: int = 2
    # Most API-started runs waiting for a worker beyond the free slots; one more answers 429
    # (0: a run starts at once or is refused).
    max_queued_runs: int = 8
    # The broker runs go through (redis://host:port/db): `catalog worker`s on any host take them.
    # Unset: each server process runs them in its own supervised pool, no broker needed.
    queue_url: str | None = field(default=None, repr=False)
    # The queue's name on that broker (several catalogs may share one Redis).
    queue_name: str = "catalog-runs"
    # A taken run's supervisor checks in this often at most (seconds / 4); one silent for this
    # long died with its worker, and the reaper ends the run ABORT and revokes its token.
    run_lease_seconds: int = 120
    # Largest synthetic run (events) and largest input file (bytes) an API-started run may take.
    max_run_events: int = 20_000_000
    max_run_input_bytes: int = 4 * 1024**3
    # URL workers use to report back. Unset: the server's own address (self_url).
    public_url: str | None = None
    # The address this server listens on, set by `catalog serve` and the gunicorn config from
    # what they bind (never from a request's Host header).
    self_url: str | None = None
    # Host names requests may carry (comma-separated in CATALOG_TRUSTED_HOSTS; a leading dot
    # matches subdomains). Empty: any host, as in development.
    trusted_hosts: tuple[str, ...] = ()
    # Reverse proxies in front of the server whose X-Forwarded-For/-Proto to believe (0: none).
    # Login lockout counts per client address, which behind a proxy only this reveals.
    trusted_proxies: int = 0
    # Facet groups (FACET_GROUPS) in which a facet that breaks its schema refuses the event (422),
    # as CATALOG_STRICT_FACETS=run,job or =all. In the others (default: all of them) such a facet
    # is stored with the raw event, not interpreted, and answered with a warning.
    strict_facets: tuple[str, ...] = ()
    # Swagger UI's files, served by /api/docs (503 while they are missing); an installed
    # package (not an editable checkout) sets CATALOG_API_DOCS_DIR to where npm put them.
    api_docs_dir: str = DEFAULT_API_DOCS_DIR
    # node_modules/ with the pages' libraries (CATALOG_WEB_VENDOR_DIR for an installed package).
    web_vendor_dir: str = DEFAULT_WEB_VENDOR_DIR
    # Send the session cookie with the Secure flag (only over HTTPS); set it in production.
    secure_cookies: bool = False
    # Skip the "database at head" check (tests that build the schema with create_all).
    skip_schema_check: bool = False
    # Let requests without credentials read the catalog as a viewer (a local demo only).
    anonymous_read: bool = False
    # Signs the pages' session cookie (login and CSRF tokens). Unset: a random key per process,
    # so logins and forms break across restarts and between workers; set CATALOG_SECRET_KEY
    # to the same value on every worker in production.
    secret_key: str | None = field(default=None, repr=False)
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read and validate ``CATALOG_*`` variables; raise :class:`ConfigError` on a bad value."""
        env = os.environ if environ is None else environ
        kwargs: dict = {}
        if env.get("CATALOG_DATABASE_URL"):
            kwargs["database_url"] = env["CATALOG_DATABASE_URL"]
        for key in ("anonymous_read", "secure_cookies"):
            if env.get("CATALOG_" + key.upper()):
                kwargs[key] = _bool("CATALOG_" + key.upper(), env["CATALOG_" + key.upper()])
        if env.get("CATALOG_TRUSTED_HOSTS"):
            kwargs["trusted_hosts"] = tuple(
                h.strip() for h in env["CATALOG_TRUSTED_HOSTS"].split(",") if h.strip())
        if env.get("CATALOG_STRICT_FACETS"):
            kwargs["strict_facets"] = _facet_groups(env["CATALOG_STRICT_FACETS"])
        for key in ("work_dir", "data_dir", "public_url", "self_url", "secret_key",
                    "worker_module", "api_docs_dir", "web_vendor_dir", "queue_url",
                    "queue_name"):
            if env.get("CATALOG_" + key.upper()):
                kwargs[key] = env["CATALOG_" + key.upper()]
        for f in fields(cls):
            key = "CATALOG_" + f.name.upper()
            if f.type == "int" and env.get(key):
                kwargs[f.name] = _int(key, env[key], 0 if f.name in ZERO_MEANS_OFF else 1)
        return cls(**kwargs).validated()

    def validated(self) -> Settings:
        """Check cross-field rules; return self."""
        if not self.database_url.startswith(("sqlite", "postgresql")):
            raise ConfigError(
                "CATALOG_DATABASE_URL must be a sqlite:// or postgresql+psycopg:// URL, "
                f"got {self.database_url.split(':', 1)[0]!r}"
            )
        # Overrides passed to create_app skip from_env's parsing: check their types here too.
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (not isinstance(value, int) or isinstance(value, bool)
                                    or value < (0 if f.name in ZERO_MEANS_OFF else 1)):
                bound = ">= 0" if f.name in ZERO_MEANS_OFF else "positive"
                raise ConfigError(f"CATALOG_{f.name.upper()} must be an integer {bound}, "
                                  f"got {value!r}")
        unknown = [g for g in self.strict_facets if g not in FACET_GROUPS]
        if isinstance(self.strict_facets, str) or unknown:
            raise ConfigError(f"CATALOG_STRICT_FACETS names facet groups among "
                              f"{', '.join(FACET_GROUPS)} (or all), got {self.strict_facets!r}")
        for name in ("public_url", "self_url"):
            url = getattr(self, name)
            if url and not url.startswith(("http://", "https://")):
                raise ConfigError(
                    f"CATALOG_{name.upper()} must be an http:// or https:// URL, got {url!r}")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*",
                            self.worker_module):
            raise ConfigError("CATALOG_WORKER_MODULE must be a dotted module name, got "
                              f"{self.worker_module!r}")
        if self.queue_url and not self.queue_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("CATALOG_QUEUE_URL must be a redis://, rediss:// or unix:// URL, "
                              f"got {self.queue_url.split(':', 1)[0]!r}")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", self.queue_name):
            raise ConfigError("CATALOG_QUEUE_NAME must be 1 to 100 letters, digits, '.', '_' or "
                              f"'-', got {self.queue_name!r}")
        if self.data_dir is not None and not Path(self.data_dir).is_dir():
            raise ConfigError(f"CATALOG_DATA_DIR must be an existing folder, got {self.data_dir!r}")
        return self

    @property
    def callback_url(self) -> str | None:
        """Where workers report: the public URL, else the server's own address."""
        return self.public_url or self.self_url


def own_url(host: str, port: int | str) -> str:
    """The URL a process on this host reaches a server bound to ``host:port`` at."""
    host = host.strip("[]")
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
