"""The arrows of ARCHITECTURE.md hold: import-linter's contracts in pyproject.toml are all kept,
and the checker does see an import that breaks one (function-level imports included)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _lint(config: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is not installed (make dev)"
    return subprocess.run([exe, "--config", str(config), "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_every_import_contract_is_kept():
    r = _lint(ROOT / "pyproject.toml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "5 kept, 0 broken" in r.stdout


def test_a_forbidden_import_breaks_a_contract(tmp_path):
    """Reversed layers, and a lazy (function-level) import: the checker reports both."""
    config = tmp_path / "contracts.toml"
    config.write_text('''
[tool.importlinter]
root_packages = ["catalog"]

[[tool.importlinter.contracts]]
name = "models above services (false: services import models)"
type = "layers"
layers = ["catalog.models", "catalog.services"]

[[tool.importlinter.contracts]]
name = "auth never reaches the request transactions (false: it does, inside functions)"
type = "forbidden"
source_modules = ["catalog.auth"]
forbidden_modules = ["catalog.context"]
''')
    r = _lint(config)
    assert r.returncode != 0
    assert "0 kept, 2 broken" in r.stdout, r.stdout
    assert "catalog.services" in r.stdout and "catalog.context" in r.stdout
