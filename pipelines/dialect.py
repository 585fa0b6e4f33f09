"""A step's SQL, written in DuckDB's dialect, as Spark SQL: sqlglot plus the rewrites it lacks.

One step, one SQL source. Steps are written for DuckDB, in SQL both engines run alike (see the
README's "Engines"); sqlglot translates spelling (types, ``NULLS LAST`` made explicit, ``QUALIFY``
as a subquery, ``//`` as ``DIV``), and the rewrites below translate what sqlglot would turn
into something that means something else on Spark:

- ``getvariable('name')``, DuckDB's session variables, becomes Spark's named parameter marker
  ``:name``: values are bound by ``spark.sql(..., args=)``, never written into the SQL text;
- ``to_timestamp(seconds)`` becomes ``timestamp_seconds(seconds)`` (an instant, as in DuckDB);
  sqlglot's own translation formats the time as text in the session's time zone and parses
  it back.

What sqlglot cannot translate is an error here (``ErrorLevel.RAISE``), never a silent change.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError


class DialectError(ValueError):
    """A step's SQL cannot be run on Spark as written."""


@dataclass(frozen=True)
class SparkStep:
    """A step's SQL for Spark and the names of the variables it reads (parameters)."""

    sql: str
    parameters: tuple[str, ...]


def _rewrite(node: exp.Expression, names: list[str]) -> exp.Expression:
    if isinstance(node, exp.Anonymous) and node.name.lower() == "getvariable":
        args = node.expressions
        if len(args) != 1 or not (isinstance(args[0], exp.Literal) and args[0].is_string):
            raise DialectError(f"getvariable needs one constant name: {node.sql('duckdb')}")
        name = args[0].this
        if not name.isidentifier():
            raise DialectError(f"variable name {name!r} is not an identifier")
        names.append(name)
        return exp.Placeholder(this=name)
    seconds = node.args.get("scale") in (None, exp.UnixToTime.SECONDS)
    if isinstance(node, exp.UnixToTime) and seconds:
        if node.args.get("zone") or node.args.get("format"):
            raise DialectError(f"unsupported to_timestamp form: {node.sql('duckdb')}")
        return exp.Anonymous(this="TIMESTAMP_SECONDS", expressions=[node.this])
    return node


@functools.lru_cache(maxsize=64)
def to_spark(sql: str) -> SparkStep:
    """``sql`` (DuckDB's dialect) as Spark SQL; :class:`DialectError` if it cannot be."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except SqlglotError as exc:
        raise DialectError(f"cannot parse step SQL: {exc}") from None
    if len(statements) != 1:
        raise DialectError("step SQL must be exactly one statement")
    names: list[str] = []
    tree = statements[0].transform(lambda n: _rewrite(n, names))
    try:
        text = tree.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE, pretty=True)
    except SqlglotError as exc:
        raise DialectError(f"cannot write step SQL for Spark: {exc}") from None
    return SparkStep(text, tuple(dict.fromkeys(names)))
