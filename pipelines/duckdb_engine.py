"""The DuckDB engine: steps build tables in ``features.duckdb``, one transaction each.

A build runs in a transaction left open until the runner commits it (its inputs passed their
checks) or rolls it back; readers never see a half-built table. What each output was built from
(the no-op check) is a table in the same database.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines import sandbox, tables
from pipelines.engine import PipelineFailed, raw_uri, source_paths, variables
from pipelines.steps import Step
from pipelines.tables import literal, quote

STATE_TABLE = "_pipeline_state"


def connect(workdir: Path, *, sources_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the feature database and expose the landed Parquet files as source views.

    ``sources_only``: an in-memory database with the views alone (describing the landed files
    for a run whose steps another engine builds).
    """
    workdir = Path(workdir)
    con = sandbox.connect(":memory:" if sources_only else workdir / "features.duckdb")
    for source, path in source_paths(workdir).items():
        if not path.is_file():
            con.close()
            raise PipelineFailed(f"source file missing: {path}")
        # A view's definition cannot hold a parameter: the path goes in as a quoted literal.
        con.execute(f"create or replace view {quote(source)} as "
                    f"select * from read_parquet({literal(path)})")
    for name, value in variables().items():
        con.execute(f"set variable {quote(name)} = ?", [value])
    con.execute(
        f"create table if not exists {STATE_TABLE} (output varchar primary key, "
        "state_key varchar, fingerprint varchar, updated_at timestamp)"
    )
    return con


class DuckDBEngine:
    """:class:`pipelines.engine.Engine` over one DuckDB connection (or a cursor of it)."""

    name = "duckdb"
    version = duckdb.__version__

    def __init__(self, con: duckdb.DuckDBPyConnection, workdir: Path):
        self.con, self.workdir = con, Path(workdir)
        self.location = self.workdir / "features.duckdb"

    @classmethod
    def open(cls, workdir: Path, *, sources_only: bool = False) -> DuckDBEngine:
        return cls(connect(workdir, sources_only=sources_only), workdir)

    def cursor(self) -> DuckDBEngine:
        return DuckDBEngine(self.con.cursor(), self.workdir)

    def close(self) -> None:
        self.con.close()

    def columns(self, table: str) -> list[tuple[str, str]]:
        return tables.columns(self.con, table)

    def count(self, table: str) -> int:
        return self.con.execute(f"select count(*) from {quote(table)}").fetchone()[0]

    def exists(self, table: str) -> bool:
        return self.con.execute("select count(*) from information_schema.tables "
                                "where table_name = ?", [table]).fetchone()[0] > 0

    def build(self, step: Step) -> None:
        self.con.execute("begin transaction")
        try:
            self.con.execute(f"create or replace table {quote(step.output)} as {step.sql}")
        except duckdb.Error as exc:
            self.con.execute("rollback")
            raise PipelineFailed(f"step {step.name} failed in DuckDB: {exc}") from None

    def commit(self) -> None:
        self.con.execute("commit")

    def discard(self) -> None:
        self.con.execute("rollback")

    def fingerprint(self, table: str) -> tuple[str, int]:
        return tables.fingerprint(self.con, table)

    def fingerprint_and_profile(self, table: str) -> tuple[str, int, dict]:
        return tables.fingerprint_and_profile(self.con, table)

    def previous(self, output: str) -> tuple[str, str] | None:
        row = self.con.execute(
            f"select state_key, fingerprint from {STATE_TABLE} where output = ?", [output]
        ).fetchone()
        return (row[0], row[1]) if row else None

    def remember(self, output: str, state_key: str, fingerprint: str) -> None:
        self.con.execute(f"insert or replace into {STATE_TABLE} values (?, ?, ?, now())",
                         [output, state_key, fingerprint])

    def forget(self, output: str) -> None:
        self.con.execute(f"delete from {STATE_TABLE} where output = ?", [output])

    def validate(self, table: str, suite: dict):
        from pipelines.quality import validate_duckdb

        return validate_duckdb(self.con, table, suite)

    def dataset_uri(self, table: str) -> str:
        return raw_uri(self.workdir, table) or f"duckdb://{self.location}"
