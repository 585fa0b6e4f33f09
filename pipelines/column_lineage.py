"""Column-level lineage of one DuckDB pipeline step, derived from its SQL with sqlglot.

sqlglot's ``qualify`` expands stars and qualifies and checks columns; the walk over the qualified
tree is our own, since ``sqlglot.lineage`` only follows projected columns and cannot tell how a
value was derived. Influences use the terms of OpenLineage's columnLineage facet. DIRECT: the
value flows from the source (IDENTITY, TRANSFORMATION, AGGREGATION). INDIRECT: the source only
decides which rows exist or how they are grouped, ordered or chosen (JOIN, GROUP_BY, FILTER,
SORT, WINDOW, CONDITIONAL). Clauses acting on a whole SELECT (joins, WHERE, GROUP BY, HAVING,
QUALIFY, ORDER BY, DISTINCT) influence every column of it and of every query built on it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope

DIRECT_SUBTYPES = ("IDENTITY", "TRANSFORMATION", "AGGREGATION")
INDIRECT_SUBTYPES = ("JOIN", "GROUP_BY", "FILTER", "SORT", "WINDOW", "CONDITIONAL")
_ORDER = {s: i for i, s in enumerate(DIRECT_SUBTYPES + INDIRECT_SUBTYPES)}
# Functions whose result no longer reveals the input value (OpenLineage's `masking`).
_MASKING = (exp.Count, exp.ApproxDistinct, exp.MD5, exp.SHA, exp.SHA2)
_MASKING_NAMES = {"HASH", "MD5_NUMBER", "MD5_NUMBER_UPPER", "MD5_NUMBER_LOWER", "SHA1", "SHA256"}
# DuckDB aggregates that sqlglot parses as anonymous functions.
_AGG_NAMES = {"HISTOGRAM", "ARBITRARY", "BITSTRING_AGG", "FSUM", "KAHAN_SUM", "PRODUCT", "ENTROPY"}
# sqlglot types these window functions as AggFunc, yet each row copies one other row's value.
_NAVIGATION = (exp.Lag, exp.Lead, exp.FirstValue, exp.LastValue, exp.NthValue)
# Names qualify() invents for unaliased expressions; DuckDB names them differently.
_INVENTED = re.compile(r"_col_\d+")


@dataclass(frozen=True, order=True)
class SourceColumn:
    """A column of an input table of the step."""

    table: str
    column: str


@dataclass
class ColumnEdge:
    """Input columns that influence one output column in the same way."""

    output_column: str
    sources: list[SourceColumn]
    transformation_type: str  # "DIRECT" | "INDIRECT"
    subtype: str  # one of DIRECT_SUBTYPES or INDIRECT_SUBTYPES, matching the type
    description: str  # the SQL that makes the link; "" for a plain copy
    masking: bool  # True when the output does not reveal the input value (count, hash)


@dataclass(frozen=True)
class _Use:
    """How an expression uses a column it mentions."""

    type: str = "DIRECT"
    subtype: str = "IDENTITY"
    masking: bool = False
    description: str = ""


@dataclass(frozen=True)
class _Influence:
    source: SourceColumn
    use: _Use


def column_lineage(
    sql: str, schemas: dict[str, list[str]], dialect: str = "duckdb"
) -> dict[str, list[ColumnEdge]]:
    """Map each output column, in order, to its edges from input columns, sorted by subtype."""
    walker = _Walker(sql, schemas, dialect)
    lineage: dict[str, list[ColumnEdge]] = {}
    for index, name in enumerate(walker.outputs):
        groups: dict[_Use, set[SourceColumn]] = {}
        for influence in walker.column(walker.root, index):
            groups.setdefault(influence.use, set()).add(influence.source)
        edges = [ColumnEdge(name, sorted(srcs), u.type, u.subtype, u.description, u.masking)
                 for u, srcs in groups.items()]
        edges.sort(key=lambda e: (_ORDER[e.subtype], e.description, e.masking, e.sources))
        lineage[name] = edges
    return lineage


def output_columns(sql: str, schemas: dict[str, list[str]], dialect: str = "duckdb") -> list[str]:
    """Return the columns the step's final SELECT produces, in order, with stars expanded."""
    return list(_Walker(sql, schemas, dialect).outputs)


def to_openlineage_facet_fields(
    lineage: dict[str, list[ColumnEdge]], namespace: str, table_to_dataset: dict[str, str]
) -> dict:
    """Build the ``fields`` of an OpenLineage columnLineage facet from ``column_lineage`` output.

    A table missing from ``table_to_dataset`` keeps its own name as dataset name. Edges of one
    type and subtype from one input field merge into one transformation (descriptions joined by
    "; "), since the catalog keeps one row per input field, type and subtype.
    """
    fields: dict = {}
    for out, edges in lineage.items():
        merged: dict[tuple[str, str], dict[tuple[str, str], dict]] = {}
        for edge in edges:
            for src in edge.sources:
                key = (table_to_dataset.get(src.table, src.table), src.column)
                t = merged.setdefault(key, {}).setdefault(
                    (edge.transformation_type, edge.subtype),
                    {"type": edge.transformation_type, "subtype": edge.subtype,
                     "description": "", "masking": False})
                if edge.description and edge.description not in t["description"].split("; "):
                    t["description"] = "; ".join(filter(None, [t["description"], edge.description]))
                t["masking"] = t["masking"] or edge.masking
        fields[out] = {"inputFields": [
            {"namespace": namespace, "name": name, "field": field,
             "transformations": sorted(ts.values(), key=lambda t: _ORDER[t["subtype"]])}
            for (name, field), ts in sorted(merged.items())
        ]}
    return fields


def _escalate(use: _Use, subtype: str, description: str, masking: bool = False) -> _Use:
    """Strengthen a DIRECT use (IDENTITY < TRANSFORMATION < AGGREGATION); INDIRECT stays."""
    if use.type == "INDIRECT":
        return use
    if _ORDER[subtype] > _ORDER[use.subtype]:
        use = replace(use, subtype=subtype, description=description)
    return replace(use, masking=use.masking or masking)


def _indirect(use: _Use, subtype: str, description: str) -> _Use:
    """Turn a use INDIRECT; the outermost indirect reason wins."""
    return use if use.type == "INDIRECT" else _Use("INDIRECT", subtype, False, description)


def _compose(inner: _Use, outer: _Use) -> _Use:
    """How a source is used when the column derived from it is used again further out."""
    if outer.type == "INDIRECT":
        return outer  # the output sees the source only through the outer clause
    if inner.type == "INDIRECT":
        return inner  # copying a column keeps how its own value was decided
    # Both DIRECT: the stronger derivation names the edge, the outer one on a tie.
    strongest = outer if _ORDER[outer.subtype] >= _ORDER[inner.subtype] else inner
    return replace(strongest, masking=inner.masking or outer.masking)


def _is_aggregate(node: exp.Expression) -> bool:
    if isinstance(node, exp.Anonymous):
        return node.name.upper() in _AGG_NAMES
    return isinstance(node, exp.AggFunc) and not isinstance(node, _NAVIGATION)


def _is_masking(node: exp.Expression) -> bool:
    if isinstance(node, exp.Anonymous):
        return node.name.upper() in _MASKING_NAMES
    return isinstance(node, _MASKING)


def _is_using_merge(node: exp.Expression) -> bool:
    """Whether ``node`` is the COALESCE that qualify() writes for a JOIN ... USING column.

    DuckDB returns the join key itself there, so it copies both sides rather than computing
    (a hand-written COALESCE of same-named columns of different tables reads the same way).
    """
    args = [node.this, *node.expressions] if isinstance(node, exp.Coalesce) else []
    return (len(args) > 1 and all(isinstance(a, exp.Column) and a.table for a in args)
            and len({a.name for a in args}) == 1 and len({a.table for a in args}) == len(args))


class _Walker:
    """Resolves influences through the scopes of one qualified statement, memoising per scope."""

    def __init__(
        self, sql: str | exp.Expression, schemas: dict[str, list[str]], dialect: str
    ) -> None:
        self.dialect = dialect
        # qualify() lower-cases names (DuckDB compares them case-insensitively); report sources
        # spelled as the caller spelled them in `schemas`.
        self.tables: dict[str, tuple[str, dict[str, str]]] = {}
        for table, cols in schemas.items():
            if len({c.lower() for c in cols}) != len(cols):
                raise ValueError(f"duplicate column names in schema of {table!r}")
            self.tables[table.lower()] = (table, {c.lower(): c for c in cols})
        try:
            statements = [sql] if isinstance(sql, exp.Expression) else [
                s for s in sqlglot.parse(sql, read=dialect) if s is not None]
        except SqlglotError as err:
            raise ValueError(f"cannot parse step SQL: {err}") from err
        tree = self._rewrite_unpivots(statements[0], schemas) if len(statements) == 1 else None
        if not isinstance(tree, exp.Query):
            raise ValueError("step SQL must be exactly one query")
        if any(w.args.get("recursive") for w in tree.find_all(exp.With)):
            raise ValueError("WITH RECURSIVE is not supported")
        # qualify() lets unknown tables through (their columns then resolve to anything).
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        unknown = sorted({t.name or t.sql(dialect) for t in tree.find_all(exp.Table)
                          if t.name.lower() not in ctes | self.tables.keys()})
        if unknown:
            raise ValueError(f"unknown table(s): {', '.join(unknown)}")
        mapping = {t: dict.fromkeys(cols, "unknown") for t, (_, cols) in self.tables.items()}
        try:
            tree = qualify(tree, schema=mapping, dialect=dialect, identify=False)
        except SqlglotError as err:
            raise ValueError(f"unknown or ambiguous column in step SQL: {err}") from err
        self.root = build_scope(tree)
        if self.root is None:
            raise ValueError("step SQL has no query to trace")
        self.scopes = {id(s.expression): s for s in self.root.traverse()}
        for select in (s.expression for s in self.scopes.values()):
            # qualify() leaves `*` over duplicate names unexpanded; DuckDB would rename them
            # `name_1` in a CTE or subquery, a fragile name we would rather not trace.
            names = [p.alias_or_name for p in select.selects] if isinstance(
                select, exp.Select) else []
            dupes = sorted({n for n in names if names.count(n) > 1 or n == "*"})
            if dupes:
                raise ValueError(f"duplicate or unexpandable columns {dupes} in: "
                                 f"{select.sql(self.dialect)[:120]}")
        self.outputs = self.names(self.root)
        invented = [n for n in self.outputs if _INVENTED.fullmatch(n)]
        if invented:
            raise ValueError(f"final select has unaliased expressions ({', '.join(invented)}); "
                             "give each an alias so the output column name is known")
        self._columns: dict[tuple[int, int], frozenset[_Influence] | None] = {}
        self._rows: dict[int, frozenset[_Influence]] = {}

    def _rewrite_unpivots(self, tree: exp.Expression, schemas: dict) -> exp.Expression:
        """Rewrite each UNPIVOT as the UNION ALL it means.

        Two spellings: DuckDB's ``UNPIVOT src ON cols INTO NAME n VALUE v`` statement, and the
        SQL standard's ``FROM src UNPIVOT (v FOR n IN (cols))`` that DuckDB and Spark both run.
        sqlglot can scope neither. Each unpivoted column becomes a branch keeping the other
        columns, naming the column in ``n`` and copying its value to ``v``. (Both also drop NULL
        values; that filter is left out as noise on every column.)
        """
        tree = self._rewrite_standard_unpivots(tree, schemas)
        with_ = tree.find(exp.With)
        for node in [p for p in tree.find_all(exp.Pivot)
                     if p.args.get("unpivot") and not isinstance(p.parent, exp.Table)]:
            into = node.args.get("into")
            if into is None or len(into.expressions) != 1:
                raise ValueError(f"unsupported UNPIVOT: {node.sql(self.dialect)[:120]}")
            # The source's columns, with the CTEs written before this one in scope.
            probe = exp.select("*").from_(node.this.copy())
            ctes = list(with_.expressions) if with_ else []
            owner = node.find_ancestor(exp.CTE)
            for cte in ctes[:next((i for i, c in enumerate(ctes) if c is owner), len(ctes))]:
                probe = probe.with_(cte.alias, as_=cte.this.copy())
            names = _Walker(probe, schemas, self.dialect).outputs
            unpivoted: list[str] = []
            for spec in node.expressions:
                if isinstance(spec, exp.Columns) and isinstance(spec.this, exp.Star):
                    star = spec.this.args
                    skip = {c.name.lower() for c in star.get("except_") or star.get("except") or []}
                    unpivoted += [n for n in names if n not in skip]
                elif isinstance(spec, exp.Column) and spec.name.lower() in names:
                    unpivoted.append(spec.name.lower())
                else:
                    raise ValueError(f"unsupported UNPIVOT column {spec.sql(self.dialect)!r}")
            kept = [n for n in names if n not in unpivoted]
            name, value = into.this.name, into.expressions[0].name
            branches = [
                exp.select(*map(exp.column, kept), exp.alias_(exp.Literal.string(col), name),
                           exp.alias_(exp.column(col), value)).from_(node.this.copy())
                for col in unpivoted
            ]
            query = functools.reduce(lambda a, b: exp.union(a, b, distinct=False), branches)
            tree = query if node is tree else tree
            node.replace(query)
        return tree

    def _source_names(self, source: exp.Expression, node: exp.Expression, schemas: dict
                      ) -> list[str]:
        """Output column names of ``source`` (a table or subquery) where ``node`` reads it."""
        probe = exp.select("*").from_(source.copy())
        with_ = node.root().find(exp.With)
        ctes = list(with_.expressions) if with_ else []
        owner = node.find_ancestor(exp.CTE)
        for cte in ctes[:next((i for i, c in enumerate(ctes) if c is owner), len(ctes))]:
            probe = probe.with_(cte.alias, as_=cte.this.copy())
        return _Walker(probe, schemas, self.dialect).outputs

    def _rewrite_standard_unpivots(self, tree: exp.Expression, schemas: dict) -> exp.Expression:
        """``FROM src UNPIVOT (v FOR n IN (cols))``, as :meth:`_rewrite_unpivots` says."""
        for node in [p for p in tree.find_all(exp.Pivot)
                     if p.args.get("unpivot") and isinstance(p.parent, exp.Table | exp.Subquery)]:
            holder = node.parent
            fields = node.args.get("fields") or []
            if (len(holder.args.get("pivots") or []) != 1 or len(node.expressions) != 1
                    or len(fields) != 1 or not isinstance(fields[0], exp.In)
                    or not all(isinstance(c, exp.Column) for c in fields[0].expressions)):
                raise ValueError(f"unsupported UNPIVOT: {holder.sql(self.dialect)[:120]}")
            source = holder.copy()
            source.set("pivots", None)
            source.set("alias", None)
            names = self._source_names(source, holder, schemas)
            unpivoted = [c.name.lower() for c in fields[0].expressions]
            missing = [c for c in unpivoted if c not in names]
            if missing:
                raise ValueError(f"unknown UNPIVOT column {missing[0]!r}")
            kept = [n for n in names if n not in unpivoted]
            name, value = fields[0].this.name, node.expressions[0].name
            branches = [
                exp.select(*map(exp.column, kept), exp.alias_(exp.Literal.string(col), name),
                           exp.alias_(exp.column(col), value)).from_(source.copy())
                for col in unpivoted
            ]
            query = functools.reduce(lambda a, b: exp.union(a, b, distinct=False), branches)
            alias = holder.alias or (holder.name if isinstance(holder, exp.Table) else "")
            holder.replace(exp.Subquery(this=query, alias=exp.TableAlias(
                this=exp.to_identifier(alias or "unpivoted"))))
        return tree

    def branches(self, scope: Scope) -> list[Scope]:
        """The two sides of a set operation's scope, or [] for a plain SELECT."""
        node = scope.expression
        if not isinstance(node, exp.SetOperation):
            return []
        return [self.scopes[id(node.left)], self.scopes[id(node.right)]]

    def names(self, scope: Scope) -> list[str]:
        """Output column names of a scope; a set operation takes its first branch's."""
        branches = self.branches(scope)
        if not branches:
            return [p.alias_or_name for p in scope.expression.selects]
        left = self.names(branches[0])
        if scope.expression.args.get("by_name"):
            return left + [n for n in self.names(branches[1]) if n not in left]
        return left

    def column(self, scope: Scope, index: int) -> frozenset[_Influence]:
        """All influences on output column ``index`` of ``scope``, row-level ones included."""
        return self.values(scope, index) | self.rows(scope)

    def values(self, scope: Scope, index: int) -> frozenset[_Influence]:
        """Influences on the values of output column ``index`` of ``scope`` alone.

        Kept apart from ``rows`` so that an outer clause using this column does not claim the
        inner query's row-level influences as its own (they reach the outer query unchanged).
        """
        key = (id(scope), index)
        if key in self._columns:
            if self._columns[key] is None:
                raise ValueError("recursive query: a CTE refers to itself")
            return self._columns[key]
        self._columns[key] = None  # in progress, to catch cycles
        branches, node = self.branches(scope), scope.expression
        found: set[_Influence] = set()
        if isinstance(node, exp.Union):
            name = self.names(scope)[index]
            for branch in branches:
                names = self.names(branch)
                if not node.args.get("by_name"):
                    found |= self.values(branch, index)
                elif name in names:
                    found |= self.values(branch, names.index(name))
        elif branches:  # EXCEPT / INTERSECT: the right side only filters; rows() has it
            found |= self.values(branches[0], index)
        else:
            projection = node.selects[index].unalias()
            found.update(self._resolve(scope, projection, _Use(), projection.sql(self.dialect)))
        self._columns[key] = frozenset(found)
        return self._columns[key]

    def rows(self, scope: Scope) -> frozenset[_Influence]:
        """Influences on which rows ``scope`` yields, shared by all of its columns."""
        if id(scope) in self._rows:
            return self._rows[id(scope)]
        found: set[_Influence] = set()
        branches, node = self.branches(scope), scope.expression
        for branch in branches if isinstance(node, exp.Union) else branches[:1]:
            found |= self.rows(branch)
        if branches and not isinstance(node, exp.Union):
            use = _Use("INDIRECT", "FILTER", False, node.key.upper())
            for i in range(len(self.names(branches[1]))):
                found.update(_Influence(inf.source, _compose(inf.use, use))
                             for inf in self.column(branches[1], i))
        if not branches:
            for _, source in scope.selected_sources.values():
                if isinstance(source, Scope):
                    found |= self.rows(source)
            for clause, subtype, nodes in self._clauses(node):
                use = _Use("INDIRECT", subtype, False, clause.sql(self.dialect))
                for expr in nodes:
                    found.update(self._resolve(scope, expr, use, use.description))
        self._rows[id(scope)] = frozenset(found)
        return self._rows[id(scope)]

    @staticmethod
    def _clauses(select: exp.Select) -> Iterator[tuple[exp.Expression, str, list]]:
        """Yield (clause, INDIRECT subtype, expressions) for each row-shaping clause of a SELECT."""
        for join in select.args.get("joins") or []:
            yield join, "JOIN", list(filter(None, map(join.args.get, ("on", "match_condition"))))
        for key, subtype in (("where", "FILTER"), ("having", "FILTER"), ("qualify", "FILTER"),
                             ("order", "SORT"), ("group", "GROUP_BY")):
            clause = select.args.get(key)
            if clause and key == "group" and clause.args.get("all"):
                # GROUP BY ALL groups by every projection that aggregates nothing.
                yield clause, subtype, [p.unalias() for p in select.selects if not any(
                    _is_aggregate(n) or isinstance(n, exp.Window) for n in p.walk())]
            elif clause:
                yield clause, subtype, [clause]
        distinct = select.args.get("distinct")
        if distinct:
            on = distinct.args.get("on")
            yield distinct, "GROUP_BY", [on] if on else [p.unalias() for p in select.selects]

    def _resolve(
        self, scope: Scope, node: exp.Expression, use: _Use, desc: str
    ) -> Iterator[_Influence]:
        """Yield the source influences of ``node`` used as ``use`` inside ``scope``."""
        for ref, ref_use in self._walk(node, use, desc, frozenset()):
            if isinstance(ref, exp.Query):
                sub = self.scopes.get(id(ref))
                if sub is None:
                    raise ValueError(f"cannot trace subquery {ref.sql(self.dialect)[:120]}")
                for i in range(len(self.names(sub))):
                    for inf in self.column(sub, i):
                        yield _Influence(inf.source, _compose(inf.use, ref_use))
            elif ref.table:
                yield from self._source(scope, ref, ref_use)
            else:
                yield from self._bare(scope, ref, ref_use, desc)

    def _bare(self, scope: Scope, ref: exp.Column, use: _Use, desc: str) -> Iterator[_Influence]:
        """Resolve a column qualify() left bare: an ORDER BY alias or a DISTINCT ON key."""
        select = scope.expression
        aliased = {p.alias_or_name: p.unalias() for p in select.selects}
        if ref.name in aliased:  # DuckDB prefers the SELECT's own alias here
            yield from self._resolve(scope, aliased[ref.name], use, desc)
            return
        owners = [alias for alias, src in scope.sources.items() if ref.name in (
            self.names(src) if isinstance(src, Scope) else self.tables[src.name.lower()][1])]
        if len(owners) != 1:
            raise ValueError(f"unknown or ambiguous column {ref.name!r} in "
                             f"{select.sql(self.dialect)[:120]}")
        yield from self._source(scope, exp.column(ref.name, owners[0]), use)

    def _source(self, scope: Scope, ref: exp.Column, use: _Use) -> Iterator[_Influence]:
        """Yield the influences of a qualified column, looking outwards for correlated ones."""
        current: Scope | None = scope
        while current is not None and ref.table not in current.sources:
            current = current.parent
        if current is None:
            raise ValueError(f"unknown table alias {ref.table!r} for column {ref.name!r}")
        source = current.sources[ref.table]
        if isinstance(source, Scope):
            names = self.names(source)
            if ref.name not in names:
                raise ValueError(f"unknown column {ref.name!r} of {ref.table!r}")
            for inf in self.values(source, names.index(ref.name)):
                yield _Influence(inf.source, _compose(inf.use, use))
            return
        table, columns = self.tables.get(source.name.lower(), (source.name, {}))
        if ref.name.lower() not in columns:
            raise ValueError(f"unknown column {ref.name!r} of table {table!r}")
        yield _Influence(SourceColumn(table, columns[ref.name.lower()]), use)

    def _walk(
        self, node: exp.Expression, use: _Use, desc: str, bound: frozenset[str]
    ) -> Iterator[tuple[exp.Expression, _Use]]:
        """Yield (column or subquery, use) under ``node``; ``bound`` holds lambda parameters."""
        if isinstance(node, exp.Column):
            if node.table or node.name not in bound:
                yield node, use
        elif isinstance(node, exp.Subquery):
            yield from self._walk(node.this, use, desc, bound)
        elif isinstance(node, exp.Query):
            yield node, _escalate(use, "TRANSFORMATION", desc)
        elif isinstance(node, (exp.Alias, exp.Paren)) or _is_using_merge(node):
            for child in node.iter_expressions():
                yield from self._walk(child, use, desc, bound)
        elif isinstance(node, exp.Window):
            # The function's arguments flow into the value; PARTITION BY / ORDER BY only frame
            # it. Whether it aggregates is decided when the walk reaches the function itself.
            yield from self._walk(node.this, _escalate(use, "TRANSFORMATION", desc), desc, bound)
            select = node.find_ancestor(exp.Select)
            named = [w for w in (select.args.get("windows") or []) if w.name == node.alias] \
                if node.alias and select else []  # OVER w, defined in a WINDOW clause
            for key in [k for w in [node, *named]
                        for k in [*(w.args.get("partition_by") or []), w.args.get("order")]]:
                if key is not None:
                    yield from self._walk(key, _indirect(use, "WINDOW", desc), desc, bound)
        elif isinstance(node, exp.Filter):  # agg(...) FILTER (WHERE ...)
            yield from self._walk(node.this, use, desc, bound)
            yield from self._walk(node.expression, _indirect(use, "FILTER", desc), desc, bound)
        elif isinstance(node, exp.Order):  # ORDER BY inside list(...) / string_agg(...)
            if node.this is not None:
                yield from self._walk(node.this, use, desc, bound)
            for key in node.expressions:
                yield from self._walk(key, _indirect(use, "SORT", desc), desc, bound)
        elif isinstance(node, (exp.Case, exp.If)):
            ifs = node.args.get("ifs") or [node]
            conds = [b.this for b in ifs] + ([node.this] if isinstance(node, exp.Case) else [])
            values = [b.args.get("true") for b in ifs]
            values.append(node.args.get("default") or node.args.get("false"))
            for cond in filter(None, conds):
                yield from self._walk(cond, _indirect(use, "CONDITIONAL", desc), desc, bound)
            for value in filter(None, values):
                yield from self._walk(value, _escalate(use, "TRANSFORMATION", desc), desc, bound)
        elif isinstance(node, exp.Lambda):
            params = bound | {p.name for p in node.expressions}
            yield from self._walk(node.this, use, desc, params)
        else:
            subtype = "AGGREGATION" if _is_aggregate(node) else "TRANSFORMATION"
            inner = _escalate(use, subtype, desc, _is_masking(node))
            for child in node.iter_expressions():
                yield from self._walk(child, inner, desc, bound)
