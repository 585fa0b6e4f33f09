"""Pipeline steps: one ``.sql`` file each, ordered by the inputs their headers declare.

A step file starts with a header of ``-- key: value`` lines (``name``, ``inputs``, ``output``,
``grain``, ``purpose``; a value may continue on following ``--   `` lines). Its expectation
suite, if any, sits beside it as ``<output>.suite.json``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

STEPS_DIR = Path(__file__).parent / "steps"
# Tables the runner provides as views over the landed Parquet files.
SOURCES = ("raw_events", "raw_items")
_REQUIRED = ("name", "inputs", "output", "grain", "purpose")
_HEADER = re.compile(r"^--\s*(\w+):\s*(.*)$")
_CONTINUATION = re.compile(r"^--\s{2,}(\S.*)$")


class StepError(ValueError):
    """A step file or the set of steps is malformed."""


@dataclass(frozen=True)
class Step:
    """One SQL step: what it reads, what it writes, and the SQL that does it."""

    name: str
    inputs: tuple[str, ...]
    output: str
    grain: str
    purpose: str
    sql: str
    path: Path
    suite_path: Path | None = field(default=None, compare=False)

    @property
    def sql_hash(self) -> str:
        """sha256 of the step's SQL text: part of the no-op check and the job version."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def parse_step(path: Path) -> Step:
    """Read one step file; raise :class:`StepError` naming the file and the problem."""
    text = path.read_text()
    header: dict[str, str] = {}
    body_start = 0
    last = None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = _HEADER.match(line)
        c = _CONTINUATION.match(line)
        if m and m.group(1) in _REQUIRED:
            last = m.group(1)
            header[last] = m.group(2).strip()
        elif c and last:
            header[last] += " " + c.group(1).strip()
        elif line.startswith("--") and last:
            continue
        else:
            body_start = i
            break
    missing = [k for k in _REQUIRED if not header.get(k)]
    if missing:
        raise StepError(f"{path.name}: header lacks {', '.join(missing)}")
    sql = "\n".join(lines[body_start:]).strip()
    if not sql.lower().rstrip(";").rstrip().endswith("select * from final"):
        raise StepError(f"{path.name}: the body must end with 'select * from final'")
    if header["name"] != path.stem or header["output"] != path.stem:
        raise StepError(f"{path.name}: name and output must both be {path.stem!r}")
    suite = path.with_name(f"{header['output']}.suite.json")
    return Step(
        name=header["name"],
        inputs=tuple(x.strip() for x in header["inputs"].split(",") if x.strip()),
        output=header["output"],
        grain=header["grain"],
        purpose=header["purpose"],
        sql=sql.rstrip(";"),
        path=path,
        suite_path=suite if suite.exists() else None,
    )


def load_steps(directory: Path = STEPS_DIR, sources=SOURCES) -> list[Step]:
    """All steps of a directory in an order where every input is built before it is read."""
    steps = [parse_step(p) for p in sorted(Path(directory).glob("*.sql"))]
    if not steps:
        raise StepError(f"no step files in {directory}")
    by_output = {}
    for s in steps:
        if s.output in by_output or s.output in sources:
            raise StepError(f"{s.path.name}: output {s.output!r} is produced twice")
        by_output[s.output] = s
    graph = {}
    for s in steps:
        unknown = [i for i in s.inputs if i not in by_output and i not in sources]
        if unknown:
            raise StepError(f"{s.path.name}: unknown input {unknown[0]!r}")
        graph[s.output] = {i for i in s.inputs if i in by_output}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise StepError(f"steps form a cycle: {' -> '.join(exc.args[1])}") from None
    return [by_output[name] for name in order]


def downstream_of(steps: list[Step], output: str) -> set[str]:
    """Outputs that depend, directly or not, on ``output``."""
    found: set[str] = set()
    frontier = {output}
    while frontier:
        nxt = {s.output for s in steps if frontier & set(s.inputs)} - found
        found |= nxt
        frontier = nxt
    return found
