"""The Spark engine: the same SQL steps on Spark SQL, outputs as Parquet in a warehouse folder.

Each step's SQL (DuckDB's dialect) runs as ``pipelines.dialect`` writes it for Spark, with the
variables it reads bound as named parameters. Sources are the landed Parquet files; an output is
the folder ``<workdir>/warehouse/<output>``, and every table is a temporary view of the session
over its files, so a step reads what the steps before it wrote, as DuckDB would.

A build writes into ``warehouse/.staging/`` and is committed by renaming its folder into place
(the previous folder moved aside first, then deleted), or discarded by deleting it: a reader
never finds a half-written output, and a build whose inputs then fail their checks leaves the
previous version as it was. A run that dies between the two renames leaves the previous folder
in ``.staging``; the next run puts it back. What each output was built from (the no-op check) is
``warehouse/_pipeline_state.json``, replaced atomically.

Spark past one host: the work folder must be a path every executor sees (a shared file system),
since executors write the output files and the driver renames them.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines import spark_session
from pipelines.dialect import DialectError, to_spark
from pipelines.engine import (
    EngineUnavailable,
    PipelineFailed,
    SparkOptions,
    raw_uri,
    source_paths,
    variables,
)
from pipelines.fingerprint import SPARK, read_scan, scan_query
from pipelines.steps import Step
from pipelines.tables import EXACT_DISTINCT_MAX_ROWS, quote

STATE_FILE = "_pipeline_state.json"
STAGING = ".staging"


def canonical_type(data_type: Any) -> str:
    """A Spark column type named as DuckDB names it (the catalog's schema and the fingerprint
    use these names, so a dataset's record does not depend on the engine)."""
    from pyspark.sql import types as T

    simple = {T.BooleanType: "BOOLEAN", T.ByteType: "TINYINT", T.ShortType: "SMALLINT",
              T.IntegerType: "INTEGER", T.LongType: "BIGINT", T.FloatType: "FLOAT",
              T.DoubleType: "DOUBLE", T.StringType: "VARCHAR", T.VarcharType: "VARCHAR",
              T.CharType: "VARCHAR", T.DateType: "DATE", T.BinaryType: "BLOB",
              T.TimestampType: "TIMESTAMP WITH TIME ZONE", T.TimestampNTZType: "TIMESTAMP"}
    for cls, name in simple.items():
        if isinstance(data_type, cls):
            return name
    if isinstance(data_type, T.DecimalType):
        return f"DECIMAL({data_type.precision},{data_type.scale})"
    if isinstance(data_type, T.ArrayType):
        return canonical_type(data_type.elementType) + "[]"
    raise ValueError(f"no DuckDB name for Spark type {data_type.simpleString()}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _Shared:
    """What the handles of one run share: the session, the folders, the state file's lock."""

    def __init__(self, spark: Any, workdir: Path, owns_session: bool):
        self.spark, self.workdir, self.owns_session = spark, workdir, owns_session
        self.warehouse = workdir / "warehouse"
        self.staging = self.warehouse / STAGING
        self.lock = threading.Lock()
        self.variables = variables()


class SparkEngine:
    """:class:`pipelines.engine.Engine` on a SparkSession."""

    name = "spark"

    def __init__(self, shared: _Shared):
        self._shared = shared
        self.spark, self.workdir = shared.spark, shared.workdir
        self.location = shared.warehouse
        self.version = self.spark.version
        self._pending: tuple[Step, Path] | None = None
        self._opened = False  # the handle open() returned: it stops a session it started

    @classmethod
    def open(cls, workdir: Path, options: SparkOptions) -> SparkEngine:
        """Start (or take) the session, recover the warehouse, expose sources and outputs."""
        workdir = Path(workdir).resolve()
        spark = options.session
        owns = spark is None
        if owns:
            try:
                spark, owns = spark_session.session(options.master, options.conf)
            except ImportError:
                raise
            except Exception as exc:  # the JVM or the master: Py4J's and Spark's own errors
                raise EngineUnavailable(f"Spark on {options.master} did not start: "
                                        f"{_first_line(exc)}") from None
        spark_session.check(spark)
        engine = cls(_Shared(spark, workdir, owns))
        engine._opened = True
        try:
            engine._recover()
            for source, path in source_paths(workdir).items():
                if not path.is_file():
                    raise PipelineFailed(f"source file missing: {path}")
                spark.read.parquet(str(path)).createOrReplaceTempView(source)
            for folder in sorted(engine.location.iterdir()) if engine.location.is_dir() else []:
                if (folder / "_SUCCESS").is_file():
                    engine._expose(folder.name)
        except BaseException:
            engine.close()
            raise
        return engine

    def cursor(self) -> SparkEngine:
        # One session serves every thread of the run; each handle keeps its own pending build.
        return SparkEngine(self._shared)

    def close(self) -> None:
        if self._pending is not None:
            self.discard()
        if self._opened and self._shared.owns_session:
            self.spark.stop()

    def columns(self, table: str) -> list[tuple[str, str]]:
        try:
            schema = self.spark.sql(f"select * from {quote(table)}").schema
        except Exception as exc:  # an AnalysisException: no such view
            raise LookupError(f"table {table!r} does not exist") from exc
        return [(f.name, canonical_type(f.dataType)) for f in schema.fields]

    def count(self, table: str) -> int:
        return int(self.spark.sql(f"select count(*) from {quote(table)}").collect()[0][0])

    def exists(self, table: str) -> bool:
        return (self.location / table / "_SUCCESS").is_file()

    def build(self, step: Step) -> None:
        try:
            spark_step = to_spark(step.sql)
            args = {name: self._shared.variables[name] for name in spark_step.parameters}
        except (DialectError, KeyError) as exc:
            raise PipelineFailed(f"step {step.name} cannot run on Spark: {exc}") from None
        staged = self._shared.staging / f"{step.output}.{uuid.uuid4().hex}"
        try:
            self._shared.staging.mkdir(parents=True, exist_ok=True)
            self.spark.sql(spark_step.sql, args=args).write.parquet(str(staged))
        except Exception as exc:
            shutil.rmtree(staged, ignore_errors=True)
            raise PipelineFailed(f"step {step.name} failed in Spark: {_first_line(exc)}"
                                 ) from None
        self._pending = (step, staged)

    def commit(self) -> None:
        step, staged = self._pending
        self._pending = None
        final = self.location / step.output
        aside = staged.with_name(staged.name + ".previous")
        if final.exists():
            os.rename(final, aside)
        os.rename(staged, final)
        shutil.rmtree(aside, ignore_errors=True)
        self._expose(step.output)

    def discard(self) -> None:
        _, staged = self._pending
        self._pending = None
        shutil.rmtree(staged, ignore_errors=True)

    def _expose(self, output: str) -> None:
        # A new DataFrame: a view keeps the file listing it was made with.
        self.spark.read.parquet(str(self.location / output)).createOrReplaceTempView(output)

    def _recover(self) -> None:
        """Put back an output a run died renaming; drop builds no run will commit."""
        staging = self._shared.staging
        if not staging.is_dir():
            return
        for folder in sorted(staging.iterdir()):
            output = folder.name.split(".")[0]
            if folder.name.endswith(".previous") and not (self.location / output).exists():
                os.rename(folder, self.location / output)
            else:
                shutil.rmtree(folder, ignore_errors=True)

    def fingerprint(self, table: str) -> tuple[str, int]:
        fp, rows, _ = self._scan(table, with_profile=False)
        return fp, rows

    def fingerprint_and_profile(self, table: str) -> tuple[str, int, dict]:
        return self._scan(table, with_profile=True)

    def _scan(self, table: str, *, with_profile: bool):
        cols = self.columns(table)
        exact = True
        if with_profile:
            exact = self.count(table) <= EXACT_DISTINCT_MAX_ROWS
        query = scan_query(table, cols, SPARK, with_fingerprint=True, with_profile=with_profile,
                           exact=exact)
        row = self.spark.sql(query).collect()[0]
        return read_scan(list(row), cols, with_fingerprint=True, with_profile=with_profile,
                         exact=exact)

    def _state(self) -> dict:
        path = self.location / STATE_FILE
        return json.loads(path.read_text()) if path.is_file() else {}

    def _write_state(self, state: dict) -> None:
        self.location.mkdir(parents=True, exist_ok=True)
        tmp = self.location / f".{STATE_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        os.replace(tmp, self.location / STATE_FILE)

    def previous(self, output: str) -> tuple[str, str] | None:
        with self._shared.lock:
            entry = self._state().get(output)
        return (entry["state_key"], entry["fingerprint"]) if entry else None

    def remember(self, output: str, state_key: str, fingerprint: str) -> None:
        with self._shared.lock:
            state = self._state()
            state[output] = {"state_key": state_key, "fingerprint": fingerprint,
                             "updated_at": datetime.now(UTC).isoformat()}
            self._write_state(state)

    def forget(self, output: str) -> None:
        with self._shared.lock:
            state = self._state()
            if state.pop(output, None) is not None:
                self._write_state(state)

    def validate(self, table: str, suite: dict):
        from pipelines.quality import validate_spark

        return validate_spark(self.spark.sql(f"select * from {quote(table)}"), table, suite)

    def dataset_uri(self, table: str) -> str:
        return raw_uri(self.workdir, table) or f"file://{self.location / table}"
