"""Settings read from the environment, validated once at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from catalog.errors import ConfigError

DEFAULT_SQLITE = "sqlite:///" + str(Path.cwd() / "var" / "catalog.db")


def _int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {value}")
    return value


def _bool(name: str, raw: str) -> bool:
    if raw.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if raw.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be 1/0, true/false, yes/no or on/off, got {raw!r}")


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
    # Most events accepted in one batch request.
    max_batch_events: int = 5000
    # Where pipeline runs started through the API keep their files.
    work_dir: str = str(Path.cwd() / "var" / "work")
    # URL workers use to report back; default: the URL the request came in on.
    public_url: str | None = None
    # Skip the "database at head" check (tests that build the schema with create_all).
    skip_schema_check: bool = False
    # Let requests without credentials read the catalog as a viewer (a local demo only).
    anonymous_read: bool = False
    # Signs the login session cookie; set the same value on every worker (random if unset, so
    # logins then last one process's lifetime).
    secret_key: str | None = field(default=None, repr=False)
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read and validate ``CATALOG_*`` variables; raise :class:`ConfigError` on a bad value."""
        env = os.environ if environ is None else environ
        kwargs: dict = {}
        if env.get("CATALOG_DATABASE_URL"):
            kwargs["database_url"] = env["CATALOG_DATABASE_URL"]
        if env.get("CATALOG_ANONYMOUS_READ"):
            kwargs["anonymous_read"] = _bool("CATALOG_ANONYMOUS_READ",
                                             env["CATALOG_ANONYMOUS_READ"])
        for key in ("work_dir", "public_url", "secret_key"):
            if env.get("CATALOG_" + key.upper()):
                kwargs[key] = env["CATALOG_" + key.upper()]
        for f in fields(cls):
            key = "CATALOG_" + f.name.upper()
            if f.type == "int" and env.get(key):
                kwargs[f.name] = _int(key, env[key])
        return cls(**kwargs).validated()

    def validated(self) -> Settings:
        """Check cross-field rules; return self."""
        if not self.database_url.startswith(("sqlite", "postgresql")):
            raise ConfigError(
                "CATALOG_DATABASE_URL must be a sqlite:// or postgresql+psycopg:// URL, "
                f"got {self.database_url.split(':', 1)[0]!r}"
            )
        return self
