"""pipelines/ and ranker/ talk to the catalog only through its client modules, as any outside
pipeline would; the client modules stay free of the app's internals."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENT_MODULES = {"catalog.client", "catalog.facets", "catalog.client_options"}


def _catalog_imports(path: Path) -> set[str]:
    """Every ``catalog...`` module ``path`` imports, at any depth of the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "catalog"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "catalog":  # from catalog import client, facets
                found |= {f"catalog.{a.name}" for a in node.names}
            elif node.module.startswith("catalog."):
                found.add(node.module)
    return found


def test_pipelines_and_ranker_import_only_the_client_modules():
    seen = {}
    for package in ("pipelines", "ranker"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for module in _catalog_imports(path) - CLIENT_MODULES:
                seen.setdefault(module, []).append(str(path.relative_to(ROOT)))
    assert seen == {}
    # The walk finds what is there: the report module uses both.
    assert _catalog_imports(ROOT / "pipelines" / "report.py") == {"catalog.client",
                                                                  "catalog.facets"}


def test_client_modules_import_nothing_of_the_app():
    assert _catalog_imports(ROOT / "catalog" / "client.py") == {"catalog.facets"}
    assert _catalog_imports(ROOT / "catalog" / "facets.py") == set()
    # The command-line contract (exit codes, JSON, progress) the kit re-exports for them.
    assert _catalog_imports(ROOT / "catalog" / "client_options.py") == {"catalog.client",
                                                                       "catalog.cli_contract"}
    assert _catalog_imports(ROOT / "catalog" / "cli_contract.py") == set()
    code = ("import sys, catalog.client, catalog.facets, catalog.client_options; "
            "print(sorted(m for m in ('flask', 'sqlalchemy', 'catalog.models', 'catalog.services',"
            " 'catalog.app') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
