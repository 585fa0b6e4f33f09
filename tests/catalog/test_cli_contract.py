"""What scripts rely on from the ``catalog`` command: its exit codes (the README's table), one
JSON document with ``--json``, ``--token`` wherever it talks HTTP, ``--version``, and progress
on stderr only when asked for. Checked in-process with click's runner and, for the exit codes,
by running the installed command."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from catalog.cli_contract import CommandFailed, ExitCode, progress
from catalog.cli_options import CatalogGroup, status_exit_code
from catalog.client import CatalogRequestError, CatalogUnavailable
from catalog.errors import (
    Conflict,
    DatabaseUnavailable,
    NotFound,
    PromotionRefused,
    TooManyRequests,
    ValidationFailed,
)
from recocatalog.cli import main
from tests.live_server import free_port, live_server

ROOT = Path(__file__).resolve().parents[2]
CATALOG = str(Path(sys.executable).parent / "catalog")  # the installed command


def _commands(cmd: click.Command, path: tuple[str, ...] = ()):
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from _commands(sub, (*path, name))
    else:
        yield " ".join(path), cmd


def _options(cmd: click.Command) -> set[str]:
    return {o for p in cmd.params if isinstance(p, click.Option) for o in p.opts}


# --- the codes ----------------------------------------------------------------------------------


def test_the_readme_documents_every_exit_code():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("### Exit codes", 1)[1].split("\n\n", 2)[1]
    documented = dict(re.findall(r"^\| (\d) \| `(\w+)` \|", table, re.MULTILINE))
    assert documented == {str(c.value): c.name for c in ExitCode}
    assert [c.value for c in ExitCode] == [0, 1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("status, error, code", [
    (400, "BadRequest", ExitCode.BAD_INPUT),
    (422, "ValidationFailed", ExitCode.BAD_INPUT),
    (413, "PayloadTooLarge", ExitCode.BAD_INPUT),
    (401, "Unauthorized", ExitCode.REFUSED),
    (403, "Forbidden", ExitCode.REFUSED),
    (404, "NotFound", ExitCode.REFUSED),
    (409, "Conflict", ExitCode.REFUSED),
    (409, "PromotionRefused", ExitCode.CHECKS_FAILED),
    (429, "TooManyRequests", ExitCode.UNAVAILABLE),
    (500, None, ExitCode.UNAVAILABLE),
    (503, "DatabaseUnavailable", ExitCode.UNAVAILABLE),
])
def test_a_catalog_answer_maps_to_one_code(status, error, code):
    assert status_exit_code(status, error) is code


def _group_raising(exc: BaseException) -> click.Group:
    @click.group(cls=CatalogGroup)
    def top():
        """Top."""

    @top.group()
    def sub():
        """A plain subgroup, as pipeline and ranker are."""

    @sub.command()
    def go():
        """Fail."""
        raise exc

    return top


@pytest.mark.parametrize("exc, code, line", [
    (CatalogUnavailable("catalog at http://x is unreachable: Connection refused"),
     ExitCode.UNAVAILABLE, "catalog at http://x is unreachable: Connection refused"),
    (CatalogRequestError(403, {"error": "Forbidden", "message": "role viewer may not"}),
     ExitCode.REFUSED, "catalog refused the request (403): role viewer may not"),
    (CatalogRequestError(409, {"error": "PromotionRefused", "message": "gate"}, "pii"),
     ExitCode.CHECKS_FAILED, "catalog refused the request (409): pii"),
    (CatalogRequestError(502, "<html>bad gateway</html>"),
     ExitCode.UNAVAILABLE, "catalog refused the request (502): <html>bad gateway</html>"),
    (NotFound("no model 'm'"), ExitCode.REFUSED, "no model 'm'"),
    (Conflict("user 'ann' already exists"), ExitCode.REFUSED, "user 'ann' already exists"),
    (ValidationFailed("password too short"), ExitCode.BAD_INPUT, "password too short"),
    (PromotionRefused("gate"), ExitCode.CHECKS_FAILED, "gate"),
    (TooManyRequests("2 runs in progress"), ExitCode.UNAVAILABLE, "2 runs in progress"),
    (DatabaseUnavailable("the catalog database is unreachable; retry later"),
     ExitCode.UNAVAILABLE, "the catalog database is unreachable; retry later"),
    (CommandFailed("no such file: x.csv", ExitCode.BAD_INPUT), ExitCode.BAD_INPUT,
     "no such file: x.csv"),
])
def test_a_known_failure_is_one_line_on_stderr_and_its_code(exc, code, line):
    r = CliRunner().invoke(_group_raising(exc), ["sub", "go"])
    assert (r.exit_code, r.stdout, r.stderr) == (code, "", f"error: {line}\n")


def test_a_bug_keeps_its_traceback_and_status_1():
    r = CliRunner().invoke(_group_raising(KeyError("oops")), ["sub", "go"])
    assert r.exit_code == ExitCode.UNEXPECTED and isinstance(r.exception, KeyError)
    script = ("import click, sys\n"
              "from catalog.cli_options import CatalogGroup\n"
              "@click.group(cls=CatalogGroup)\n"
              "def top(): pass\n"
              "@top.command()\n"
              "def go(): raise KeyError('oops')\n"
              "top(['go'])\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == ExitCode.UNEXPECTED
    assert "Traceback" in done.stderr and done.stderr.strip().endswith("KeyError: 'oops'")


def test_usage_errors_are_clicks_own_code():
    r = CliRunner().invoke(main, ["tokens", "create", "--role", "viewer"])
    assert r.exit_code == ExitCode.USAGE and "Missing option '--name'" in r.stderr


# --- options every command shares ---------------------------------------------------------------


def test_every_command_that_reports_has_json():
    without = {name for name, cmd in _commands(main) if "--json" not in _options(cmd)}
    # serve, ranker serve and demo run a server until stopped; audit export writes the trail as
    # JSON lines or CSV (--format), a stream rather than one document.
    assert without == {"serve", "ranker serve", "demo", "audit export"}


def test_every_command_that_talks_http_has_token_beside_catalog_url():
    http = {name for name, cmd in _commands(main) if "--catalog-url" in _options(cmd)}
    assert http == {"pipeline run", "pipeline register", "ranker train", "ranker evaluate",
                    "ranker promote", "ranker score", "ranker compress", "ranker serve",
                    "ranker land-events", "ranker tune"}
    for name, cmd in _commands(main):
        if name in http:
            (token,) = [p for p in cmd.params if p.name == "token"]
            assert token.opts == ["--token"] and token.envvar == "CATALOG_TOKEN", name


def test_long_commands_take_progress():
    shown = {name for name, cmd in _commands(main) if "--progress" in _options(cmd)}
    assert shown == {"pipeline run", "ranker train", "ranker score", "ranker compress",
                     "ranker tune", "export", "import"}


def test_version_is_the_installed_package_version():
    r = CliRunner().invoke(main, ["--version"])
    assert r.exit_code == 0
    assert r.stdout == f"catalog, version {importlib.metadata.version('recocatalog')}\n"


# --- progress -----------------------------------------------------------------------------------


def test_progress_is_quiet_unless_asked_for_when_stderr_is_not_a_terminal(capsys):
    with progress("export", 3, unit="rows") as shown:
        shown.advance()
    with progress("export", 3, unit="rows", show=False) as shown:
        shown.advance()
    assert capsys.readouterr() == ("", "")


def test_asked_for_progress_off_a_terminal_is_plain_lines_ending_at_the_total(capsys):
    with progress("pipeline", 3, unit="steps", show=True) as shown:
        shown.advance(note="a done")  # the first line at once
        shown.advance(note="b done")  # within a second of it: held back
        shown.update(2, note="c running")
    assert capsys.readouterr() == ("", "pipeline: 1/3 steps a done\n"
                                       "pipeline: 2/3 steps c running\n")
    with progress("scoring", unit="users", show=True) as shown:
        shown.update(5, 40)
        shown.update(40, 40)  # done: shown at once
    assert capsys.readouterr().err == "scoring: 5/40 users\nscoring: 40/40 users\n"


# --- the installed command ----------------------------------------------------------------------


def _catalog(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([CATALOG, *args], capture_output=True, text=True, timeout=120, **kw)


def test_installed_command_exit_codes_without_a_server():
    done = _catalog("--version")
    assert (done.returncode, done.stdout) == (
        ExitCode.OK, f"catalog, version {importlib.metadata.version('recocatalog')}\n")
    done = _catalog("pipeline", "run", "--source", "csv")
    assert done.returncode == ExitCode.USAGE and done.stdout == ""

    url = f"http://127.0.0.1:{free_port()}"
    done = _catalog("pipeline", "register", "--catalog-url", url, "--json")
    assert (done.returncode, done.stdout) == (ExitCode.UNAVAILABLE, "")
    assert done.stderr == f"error: catalog at {url} is unreachable: Connection refused\n"

    nowhere = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/catalog"
    done = _catalog("users", "list", "--json", "--database-url", nowhere)
    assert (done.returncode, done.stdout) == (ExitCode.UNAVAILABLE, "")
    assert done.stderr == "error: the catalog database is unreachable; retry later\n"


def test_installed_command_refused_token_and_bad_input(tmp_path, sqlite_url, catalog):
    with live_server(sqlite_url, tmp_path) as url:
        done = _catalog("pipeline", "register", "--catalog-url", url, "--token",
                        "cat_not_a_token")
        assert (done.returncode, done.stdout) == (ExitCode.REFUSED, "")
        assert done.stderr.startswith("error: catalog refused the request (401): ")
        assert done.stderr.count("\n") == 1
        done = _catalog("pipeline", "register", "--catalog-url", url, "--json")  # env token
        assert done.returncode == ExitCode.OK, done.stderr
        assert done.stdout.count("\n") == 1 and '"pipeline": "feature_pipeline"' in done.stdout
    done = _catalog("import", str(tmp_path / "missing.jsonl"), "--database-url", sqlite_url)
    assert (done.returncode, done.stdout) == (ExitCode.BAD_INPUT, "")
    assert done.stderr == f"error: no such export file: {tmp_path / 'missing.jsonl'}\n"
