"""The content fingerprint of a table, defined so that DuckDB and Spark compute the same one.

Same content, same fingerprint, whichever engine computed it (CONVENTIONS.md). The definition:

- each value has a **canonical text**: ``true``/``false``; an integer's decimal digits; a DECIMAL
  with exactly its scale's decimals (``-1.50``); a string itself; a timestamp's microseconds
  since 1970-01-01 UTC (with or without time zone: both engines run in UTC); a date as
  ``YYYY-MM-DD``; a binary value's upper-case hex; a list as ``[`` its elements' fields joined
  by ``,`` ``]``; a double (or float) at 41 significant bits, about 12 decimal digits:
  ``0`` for zero, ``nan``, ``inf``, ``-inf``, else ``<m>p<e>`` with ``e = floor(log2 |x|)`` and
  ``m = floor(x / 2^e * 2^40)`` — operations both engines do exactly (division by a power of two,
  floor), so the text depends on the double alone, never on how an engine formats numbers;
- a value's **field** is ``~`` for NULL, else ``<n>:<text>`` with ``n`` its text's length in
  UTF-8 bytes, so the concatenation of a row's fields, in column order, reads back one way;
- a row's **hash** is the first 8 bytes of the md5 digest of that concatenation (UTF-8), read as
  an unsigned little-endian 64-bit integer; ``total`` is the sum of the rows' hashes modulo 2^64
  (a sum: row order does not matter, duplicate rows do);
- the **fingerprint** is the sha256 hex digest of the JSON text ``[[[name, type], ...], rows,
  "total"]``, types named as DuckDB names them (Spark's are mapped: ``bigint`` is ``BIGINT``,
  ``string`` ``VARCHAR``, ``timestamp`` ``TIMESTAMP WITH TIME ZONE``, ``array<T>`` ``T[]``).

Both engines compute it in one aggregate query over the table (``query``). A step whose result
could differ between engines in the last bits (a floating-point sum in another order) rounds it
to a declared precision itself; the 41 bits here only keep a fingerprint from depending on digits
no engine promises. Types without an engine-neutral text (STRUCT, MAP, INTERVAL, ...) are read
as DuckDB casts them to VARCHAR, and refused on Spark.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from pipelines.tables import quote

INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "UHUGEINT")
FLOATS = ("FLOAT", "DOUBLE", "REAL")
# Significant bits a double is fingerprinted at: 2^40 <= |m| < 2^41.
MANTISSA_BITS = 40
MANTISSA_SCALE = 2 ** MANTISSA_BITS
_MAX_DOUBLE = "1.7976931348623157e308"


@dataclass(frozen=True)
class Dialect:
    """How one engine spells the few functions the definition needs (``{}``: the argument)."""

    name: str
    text_type: str  # the string type to cast to
    byte_length: str  # bytes of a string's UTF-8
    epoch_us: str  # microseconds since 1970-01-01 UTC of a timestamp
    hash64: str  # the row hash of a text, as a number that sums exactly
    list_fields: str  # a list's element fields joined by ',' ({v}: the element, {e}: its field)


# The row hash is md5's first 8 bytes read as a little-endian unsigned integer: DuckDB's
# md5_number's low 64 bits; on Spark, the first 16 hex digits of md5, byte order reversed.
_SPARK_HASH64 = ("cast(conv(concat(" + ", ".join(f"substr(md5({{0}}), {i}, 2)"
                                               for i in range(15, 0, -2))
                 + "), 16, 10) as DECIMAL(20, 0))")

DUCKDB = Dialect(
    name="duckdb",
    text_type="VARCHAR",
    byte_length="strlen({})",
    epoch_us="epoch_us({})",
    # md5_number reads all 16 bytes little-endian; its low 64 bits are the first 8 (and 6x faster
    # to get than md5_number_upper's).
    hash64="cast(md5_number({}) & cast(18446744073709551615 as UHUGEINT) as HUGEINT)",
    list_fields="array_to_string(list_transform({l}, lambda {v}: {e}), ',')",
)
SPARK = Dialect(
    name="spark",
    text_type="STRING",
    byte_length="octet_length({})",
    epoch_us="unix_micros(cast({} as TIMESTAMP))",
    hash64=_SPARK_HASH64,
    list_fields="array_join(transform({l}, {v} -> {e}), ',')",
)


def _double_text(x: str, d: Dialect) -> str:
    """Canonical text of a double expression ``x`` (see the module's docstring)."""
    a = f"abs({x})"
    e0 = f"floor(log2({a}))"
    # log2 is not exact near powers of two: one step either way puts e right, by exact tests.
    e = (f"({e0} - case when {a} < pow(2, {e0}) then 1 "
         f"when {a} >= pow(2, {e0} + 1) then -1 else 0 end)")
    m = f"cast(floor({x} / pow(2, {e}) * {MANTISSA_SCALE}) as BIGINT)"
    exponent = f"cast({e} as BIGINT)"
    return (f"case when isnan({x}) then 'nan' when {x} = 0 then '0' "
            f"when {x} > {_MAX_DOUBLE} then 'inf' when {x} < -{_MAX_DOUBLE} then '-inf' "
            f"else concat(cast({m} as {d.text_type}), 'p', cast({exponent} as {d.text_type})) "
            "end")


def _text(x: str, typ: str, d: Dialect, depth: int = 0) -> str:
    """Canonical text of expression ``x`` of DuckDB type name ``typ`` (NULL when x is)."""
    t = typ.upper()
    if t.endswith("[]"):
        v = f"v{depth}"
        field = _field(v, t[:-2], d, depth + 1)
        return "concat('[', " + d.list_fields.format(l=x, v=v, e=field) + ", ']')"
    if t in FLOATS:
        return _double_text(f"cast({x} as DOUBLE)", d)
    if t in ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return f"cast({d.epoch_us.format(x)} as {d.text_type})"
    if t in ("BLOB", "BINARY"):
        return f"hex({x})"
    if t == "VARCHAR":
        return x
    if t in INTEGERS or t in ("BOOLEAN", "DATE") or t.startswith("DECIMAL") or d is DUCKDB:
        return f"cast({x} as {d.text_type})"
    raise ValueError(f"no engine-neutral fingerprint for type {typ}")


def _field(x: str, typ: str, d: Dialect, depth: int = 0) -> str:
    """A value's field, for the elements of a list (rows compute their texts once: below)."""
    text = _text(x, typ, d, depth)
    return (f"case when {x} is null then '~' "
            f"else concat(cast({d.byte_length.format(text)} as {d.text_type}), ':', {text}) end")


def _text_names(cols: list[tuple[str, str]]) -> list[str]:
    """Names for the columns' texts in the inner query, unlike any column's."""
    taken = {name.lower() for name, _ in cols}
    prefix = "_fp"
    while any(n.startswith(prefix) for n in taken):
        prefix = "_" + prefix
    return [f"{prefix}{i}" for i in range(len(cols))]


def hashed_rows(table: str, cols: list[tuple[str, str]], d: Dialect) -> tuple[str, str]:
    """``(from_clause, hash_sql)``: a subquery over ``table`` adding each column's canonical text
    (computed once: a field uses it twice), and the row hash over its columns' fields."""
    names = _text_names(cols)
    texts = ", ".join(f"{_text(quote(c), t, d)} as {quote(n)}" for (c, t), n in zip(cols, names,
                                                                                     strict=True))
    originals = ", ".join(quote(c) for c, _ in cols)
    # NULL is told by the value, not its text: DuckDB's concat reads a NULL argument as ''.
    fields = ", ".join(
        f"case when {quote(c)} is null then '~' else concat(cast("
        f"{d.byte_length.format(quote(n))} as {d.text_type}), ':', {quote(n)}) end"
        for (c, _), n in zip(cols, names, strict=True))
    source = f"(select {originals}, {texts} from {quote(table)}) as {quote('_fp_rows')}"
    return source, d.hash64.format(f"concat({fields})")


def digest(cols: list[tuple[str, str]], rows: int, total: int) -> str:
    """The fingerprint from the schema, the row count and the sum of row hashes."""
    reduced = int(total) % (1 << 64)
    return hashlib.sha256(json.dumps([[list(c) for c in cols], int(rows), str(reduced)])
                          .encode()).hexdigest()


NUMERIC = INTEGERS + FLOATS


def numeric(typ: str) -> bool:
    """Whether a column of DuckDB type name ``typ`` gets min and max in a profile."""
    return typ.upper() in NUMERIC or typ.upper().startswith("DECIMAL")


def scan_query(table: str, cols: list[tuple[str, str]], d: Dialect, *, with_fingerprint: bool,
               with_profile: bool, exact: bool) -> str:
    """One aggregate query over ``table``: row count, the sum of row hashes, and per column the
    non-NULL count, the distinct count (``exact`` or approx_count_distinct) and, for numbers,
    min and max as doubles. :func:`read_scan` reads its one row."""
    source = quote(table)
    parts = ["count(*)"]
    if with_fingerprint:
        source, row_hash = hashed_rows(table, cols, d)
        parts.append(f"coalesce(sum({row_hash}), 0)")
    if with_profile:
        for name, typ in cols:
            parts += [f"count({quote(name)})", f"count(distinct {quote(name)})" if exact
                      else f"approx_count_distinct({quote(name)})"]
            if numeric(typ):
                parts += [f"cast(min({quote(name)}) as DOUBLE)",
                          f"cast(max({quote(name)}) as DOUBLE)"]
    return f"select {', '.join(parts)} from {source}"


def read_scan(values: list, cols: list[tuple[str, str]], *, with_fingerprint: bool,
              with_profile: bool, exact: bool) -> tuple[str | None, int, dict | None]:
    """``(fingerprint, rows, profile)`` from the row of :func:`scan_query`."""
    rows = int(values.pop(0))
    fp = digest(cols, rows, int(values.pop(0))) if with_fingerprint else None
    stats = None
    if with_profile:
        metrics = {}
        for name, typ in cols:
            non_null, n_distinct = values.pop(0), values.pop(0)
            m = {"nullCount": rows - int(non_null), "distinctCount": int(n_distinct),
                 "count": rows}
            if numeric(typ):
                lo, hi = values.pop(0), values.pop(0)
                if lo is not None:
                    m["min"], m["max"] = float(lo), float(hi)
            metrics[name] = m
        stats = {"rowCount": rows, "columnMetrics": metrics,
                 "distinctCountMethod": "exact" if exact else "approx_count_distinct"}
    return fp, rows, stats
