"""Appending a run to ``bench/RESULTS.md``: the heading every benchmark writes, then its lines."""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

PATH = Path(__file__).with_name("RESULTS.md")


def load() -> str:
    """The load averages, as the headings quote them."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> str:
    """``Machine: <host>, <n> cores, Python <version>``."""
    return (f"Machine: {platform.node()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}")


def append(script: str, lines: list[str]) -> None:
    """A ``### <UTC time> — `python bench/<script> <args>``` section with ``lines`` under it."""
    command = f"python bench/{script} " + " ".join(sys.argv[1:])
    heading = f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — `{command.strip()}`"
    with PATH.open("a") as fh:
        fh.write("\n".join(["", heading, "", *lines]) + "\n")
