"""No value reaches DuckDB SQL by string pasting in pipelines/ or ranker/.

Paths and texts go through prepared parameters, the relation API, or ``pipelines.tables.literal``
(the one quoting helper, where DuckDB takes no parameter: a view's definition); identifiers
through ``pipelines.tables.quote``. A source scan keeps it so.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import duckdb
import pytest

from pipelines.duckdb_engine import connect
from pipelines.tables import literal, quote

ROOT = Path(__file__).resolve().parents[2]

HOSTILE = [
    "it's",
    "''",
    "x'); copy (select 1) to '/tmp/pwned.csv'; --",
    "back\\slash\\",
    "\\'",
    "new\nline",
    "tab\tand\rcarriage",
    "unicode ✓ ünïcödé",
    "$1 ? %s {0}",
    '"double" quotes',
]


@pytest.mark.parametrize("value", HOSTILE)
def test_literal_round_trips_any_text(value):
    con = duckdb.connect()
    assert con.execute(f"select {literal(value)}").fetchone()[0] == value


@pytest.mark.parametrize("value", HOSTILE)
def test_quote_round_trips_any_identifier(value):
    con = duckdb.connect()
    con.execute(f"create table {quote(value)} (x int)")
    assert con.execute("select table_name from duckdb_tables()").fetchone()[0] == value


def test_literal_refuses_nul():
    with pytest.raises(ValueError, match="NUL"):
        literal("a\x00b")


# (No backslash here: DuckDB reads one in a file path as a separator, whatever the quoting.)
@pytest.mark.parametrize("folder", ["o'brien", "x'); copy (select 42) to 'pwned.csv'; --",
                                    "line\nbreak", "it''s"])
def test_a_workdir_with_sql_in_its_name_is_only_a_name(tmp_path, folder):
    """The runner's source views read files under a hostile folder name, and run nothing else."""
    work = tmp_path / folder
    raw = work / "raw"
    raw.mkdir(parents=True)
    con = duckdb.connect()
    con.execute("copy (select 1 as source_row) to ? (format parquet)",
                [str(raw / "events.parquet")])
    con.execute("copy (select 2 as item_id) to ? (format parquet)", [str(raw / "items.parquet")])
    con.close()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    fc = connect(work)
    try:
        assert fc.execute("select * from raw_events").fetchall() == [(1,)]
        assert fc.execute("select * from raw_items").fetchall() == [(2,)]
    finally:
        fc.close()
    after = sorted(p.name for p in tmp_path.rglob("*"))
    assert set(after) - set(before) <= {"features.duckdb", "features.duckdb.wal"}
    assert not list(Path.cwd().glob("pwned*")) and not list(tmp_path.rglob("pwned*"))


# --- the source scan --------------------------------------------------------------------------

# Looks like SQL: an f-string with one of these words is checked.
_SQL_WORDS = re.compile(r"\b(select|from|create|copy|insert|delete|update|attach|set|where|"
                        r"join|cast|read_parquet|read_csv)\b", re.I)
# Calls whose result is safe to splice: quoting helpers and numeric casts.
_SAFE_CALLS = {"quote", "literal", "int", "float"}
# Interpolations read and judged safe, by file: (expression, why).
_VETTED = {
    "pipelines/duckdb_engine.py": {
        "step.sql": "a step's SQL file from the repository, not a value"},
    "pipelines/tables.py": {"', '.join(parts)": "aggregates over quote()d column names"},
    # The fingerprint's SQL: fragments this module composes from quote()d column names and the
    # constant templates of its Dialects; no value of any row or setting reaches it.
    "pipelines/fingerprint.py": dict.fromkeys(
        ["', '.join(parts)", "d.byte_length.format(quote(n))", "d.byte_length.format(text)",
         "d.epoch_us.format(x)", "d.text_type", "exponent", "e", "m", "originals", "source",
         "texts", "text", "x"], "SQL composed from quote()d names and constant templates"),
    "ranker/data.py": {"dense_sql": "built from quote()d column names just above"},
    # Messages and documentation that happen to contain SQL words.
    "pipelines/steps.py": {"path.name": "an error message"},
    "pipelines/column_lineage.py": {"', '.join(invented)": "an error message"},
    "ranker/registry.py": {"k": "documentation text", "name": "documentation text",
                           "version['version']": "documentation text"},
}


def _pasted(source: str, rel: str) -> list[str]:
    vetted = _VETTED.get(rel, {})
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.JoinedStr):
            continue
        text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
        if not _SQL_WORDS.search(text):
            continue
        for part in node.values:
            if not isinstance(part, ast.FormattedValue):
                continue
            expr = part.value
            if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) \
                    and expr.func.id in _SAFE_CALLS:
                continue
            if isinstance(expr, ast.Name) and expr.id.isupper():
                continue  # a module constant
            if ast.unparse(expr) in vetted:
                continue
            found.append(f"{rel}:{node.lineno}: {{{ast.unparse(expr)}}}")
    return found


def test_no_value_is_pasted_into_sql_in_pipelines_or_ranker():
    files = sorted([*ROOT.joinpath("pipelines").rglob("*.py"),
                    *ROOT.joinpath("ranker").rglob("*.py")])
    assert len(files) > 20
    pasted = [hit for f in files for hit in _pasted(f.read_text(), f.relative_to(ROOT).as_posix())]
    assert pasted == [], "values pasted into SQL (use a parameter, quote() or literal()):\n" \
        + "\n".join(pasted)


def test_the_scan_catches_a_pasted_path():
    """The scan itself can fail: the pattern this issue found, and a vetted name in another
    file, are reported."""
    bad = ('def f(con, path, step):\n'
           '    con.execute(f"create view v as select * from read_parquet(\'{path}\')")\n'
           '    con.execute(f"create table t as {step.sql}")\n')
    assert _pasted(bad, "pipelines/probe.py") == ["pipelines/probe.py:2: {path}",
                                                  "pipelines/probe.py:3: {step.sql}"]
    assert _pasted(bad, "pipelines/duckdb_engine.py") == ["pipelines/duckdb_engine.py:2: {path}"]
