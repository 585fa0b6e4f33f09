"""Migrations are the schema's only source: one head, no drift, and the app refuses old schemas."""

from __future__ import annotations

import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from catalog import db as catalog_db
from catalog.cli_contract import ExitCode
from catalog.errors import SchemaNotCurrent
from catalog.models import Base
from catalog.models.search import include_name


def test_single_head(sqlite_url):
    heads = ScriptDirectory.from_config(catalog_db.alembic_config(sqlite_url)).get_heads()
    assert len(heads) == 1


def test_models_match_migrations(engine):
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(
                conn, opts={"compare_type": True, "include_name": include_name}),
            Base.metadata,
        )
    assert diff == []


def test_app_refuses_database_not_at_head(tmp_path):
    from catalog.app import create_app

    url = f"sqlite:///{tmp_path / 'old.db'}"
    with pytest.raises(SchemaNotCurrent, match="catalog db upgrade"):
        create_app({"database_url": url})
    catalog_db.upgrade(url)
    assert create_app({"database_url": url}).extensions["catalog"].settings.database_url == url


def test_downgrade_upgrade_round_trip(tmp_path):
    url = f"sqlite:///{tmp_path / 'rt.db'}"
    catalog_db.upgrade(url)
    catalog_db.downgrade(url, "base")
    engine = catalog_db.make_engine(url)
    assert catalog_db.current_revision(engine) is None
    catalog_db.upgrade(url)
    assert catalog_db.current_revision(engine) == catalog_db.head_revision(url)
    engine.dispose()


def test_cli_db_upgrade_and_current(runner, tmp_path):
    from catalog.cli import main

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    head = catalog_db.head_revision(url)
    r = runner.invoke(main, ["db", "current", "--database-url", url])
    assert r.exit_code == ExitCode.CHECKS_FAILED and r.stdout == f"base (head is {head})\n"
    assert r.stderr == (f"error: database at base, not at head {head}: run "
                        "`catalog db upgrade`\n")
    r = runner.invoke(main, ["db", "current", "--database-url", url, "--json"])
    assert r.exit_code == ExitCode.CHECKS_FAILED
    assert json.loads(r.stdout) == {"revision": None, "head": head, "at_head": False}
    r = runner.invoke(main, ["db", "upgrade", "--database-url", url, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"revision": head}
    r = runner.invoke(main, ["db", "current", "--database-url", url])
    assert r.exit_code == 0 and r.stdout == f"{head} (head)\n"
    r = runner.invoke(main, ["db", "current", "--database-url", url, "--json"])
    assert json.loads(r.stdout) == {"revision": head, "head": head, "at_head": True}
    r = runner.invoke(main, ["db", "downgrade", "--revision", "base", "--database-url", url])
    assert r.exit_code == 0 and r.stdout == "database at base\n"


def test_cli_serve_on_old_schema_is_one_line_error(runner, tmp_path):
    from catalog.cli import main

    url = f"sqlite:///{tmp_path / 'old.db'}"
    r = runner.invoke(main, ["serve", "--database-url", url])
    assert r.exit_code == ExitCode.UNAVAILABLE
    assert r.output.strip().startswith("error: database schema is at no revision")
    assert "Traceback" not in r.output


def test_bad_database_url_is_a_clear_error(runner):
    from catalog.cli import main

    r = runner.invoke(main, ["serve", "--database-url", "mysql://x/y"])
    assert r.exit_code == ExitCode.BAD_INPUT and "CATALOG_DATABASE_URL must be" in r.output


def test_revisions_never_load_one_another():
    """A revision is frozen: it must not import or load another revision's file, whose text may
    change later (0007 and 0008 once loaded 0004 by path)."""
    import ast
    from pathlib import Path

    versions = Path(__file__).resolve().parents[2] / "migrations" / "versions"
    for path in sorted(versions.glob("*.py")):
        text = path.read_text()
        assert "spec_from_file_location" not in text and "import_module" not in text, path.name
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith(("migrations", "catalog")), path.name
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith(("migrations", "catalog"))
                               for a in node.names), path.name
