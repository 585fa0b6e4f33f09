"""The SparkSession the pipeline runs on, with the settings its SQL and fingerprints rely on.

Imports pyspark only when called: the package is an optional extra (``pip install
recocatalog[spark]``), and a DuckDB run never loads it.
"""

from __future__ import annotations

from typing import Any

# Settings the steps and the fingerprint depend on; a run refuses a session that changed them.
REQUIRED_CONF = {
    # ANSI SQL (Spark 4's default, pinned): overflow and bad casts fail, as in DuckDB, instead of
    # wrapping or turning NULL; and "name" is an identifier, as in DuckDB, so the one quoting
    # helper (pipelines.tables.quote) serves both engines.
    "spark.sql.ansi.enabled": "true",
    "spark.sql.ansi.doubleQuotedIdentifiers": "true",
    # Timestamps are instants shown in UTC, as DuckDB's TIMESTAMP WITH TIME ZONE in this package.
    "spark.sql.session.timeZone": "UTC",
    # to_json writes NULL fields, as DuckDB does (Spark leaves them out by default).
    "spark.sql.jsonGenerator.ignoreNullFields": "false",
    # Parquet timestamps as INT64 microseconds, readable by DuckDB and pyarrow (not INT96).
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}

# Defaults a caller may override: a pipeline run's logs stay readable.
DEFAULT_CONF = {
    "spark.ui.showConsoleProgress": "false",
}


def spark_version() -> str:
    """The installed pyspark's version; ImportError naming the extra when it is missing."""
    try:
        import pyspark
    except ImportError:
        raise ImportError("the Spark engine needs pyspark: pip install 'recocatalog[spark]'"
                          ) from None
    return pyspark.__version__


def session(master: str = "local[*]", conf: dict[str, str] | None = None,
            app_name: str = "recocatalog-pipeline") -> tuple[Any, bool]:
    """``(session, started)``: a SparkSession on ``master`` (``local[N]`` or
    ``spark://HOST:PORT``) with :data:`REQUIRED_CONF`; ``conf`` may add settings, never change
    the required ones. A process has one SparkContext: one already running on the same master
    is used (``started`` False: the caller must not stop it), on another master refused."""
    spark_version()
    from pyspark.sql import SparkSession

    running = SparkSession.getActiveSession()
    if running is not None:
        if running.sparkContext.master != master:
            raise ValueError(f"this process already runs Spark on "
                             f"{running.sparkContext.master}, not {master}")
        for key, value in REQUIRED_CONF.items():
            running.conf.set(key, value)
        return running, False
    conf = {**DEFAULT_CONF, **(conf or {})}
    clash = {k for k in conf if k in REQUIRED_CONF and conf[k] != REQUIRED_CONF[k]}
    if clash:
        raise ValueError(f"the pipeline needs these Spark settings as they are: {sorted(clash)}")
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in {**conf, **REQUIRED_CONF}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate(), True


def check(spark: Any) -> None:
    """Refuse a session whose settings differ from :data:`REQUIRED_CONF`."""
    wrong = {k: spark.conf.get(k, None) for k, v in REQUIRED_CONF.items()
             if str(spark.conf.get(k, None)).lower() != v.lower()}
    if wrong:
        raise ValueError(f"Spark session settings the pipeline needs differ: {wrong}")
