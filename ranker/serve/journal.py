"""The serving process's write-ahead journal: nothing is acknowledged before it is on disk.

Every served list (an impression) and every event a client posts is appended to a JSON-lines
segment, written and (by default) fsynced, before the response goes out. A flusher later turns
closed segments into Parquet and deletes them (``ranker.serve.batches``), so a ``kill -9`` loses
nothing acknowledged: the next process finds the dead one's segments and flushes them.

Files in the journal folder::

    <run id>.lock                       held (flock) by the live process that owns the run
    <opened ns>-<run id>-v<model version>.jsonl   a segment: one model version's records

A lock file that can be locked belongs to a process that is gone: its segments are orphans, to
be flushed by whoever finds them, and its run was never closed. A segment holds records of one
model version only, so each micro-batch's lineage names exactly one version.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Segment:
    """A journal file and what its name says about it."""

    path: Path
    run_id: str  # the serving run whose process wrote it
    model_version: int

    @property
    def stem(self) -> str:
        """Unique, time-ordered name; the Parquet parts made from it are named after it."""
        return self.path.stem

    @classmethod
    def parse(cls, path: Path) -> Segment | None:
        """The segment a file name describes, or None for a file that is not one."""
        parts = path.stem.split("-", 1)
        if path.suffix != ".jsonl" or len(parts) != 2 or not parts[0].isdigit():
            return None
        run_id, _, version = parts[1].rpartition("-v")
        if not run_id or not version.isdigit():
            return None
        return cls(path, run_id, int(version))


def read_segment(path: Path) -> list[dict]:
    """A segment's records; a torn last line (the process died writing it) is left out.

    A torn line was never acknowledged: the response waits for the whole line to be written.
    """
    records = []
    with open(path, "rb") as fh:
        for line in fh:
            if not line.endswith(b"\n"):
                break
            records.append(json.loads(line))
    return records


class Journal:
    """The live process's journal: append records, rotate segments for the flusher."""

    def __init__(self, folder: Path, run_id: str, meta: dict, *, fsync: bool = True):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id
        self.fsync = fsync
        self._lock = threading.Lock()
        self._open: dict[int, tuple[Segment, object]] = {}  # model version -> segment, file
        self._closed: list[Segment] = []
        self.pending = 0  # records written since the last rotation
        self._lockfile = open(self.folder / f"{run_id}.lock", "w")  # noqa: SIM115 - held for life
        fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._lockfile.write(json.dumps({"run_id": run_id, "pid": os.getpid(), **meta}))
        self._lockfile.flush()

    def append(self, model_version: int, record: dict) -> None:
        """Write one record durably; returns once it is on disk (fsynced unless turned off)."""
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        with self._lock:
            seg, fh = self._open.get(model_version) or self._new_segment(model_version)
            fh.write(line)
            fh.flush()
            if self.fsync:
                os.fsync(fh.fileno())
            self.pending += 1

    def _new_segment(self, model_version: int):
        path = self.folder / f"{time.time_ns():020d}-{self.run_id}-v{model_version}.jsonl"
        fh = open(path, "ab")  # noqa: SIM115 - closed by rotate()
        self._open[model_version] = (Segment(path, self.run_id, model_version), fh)
        return self._open[model_version]

    def rotate(self) -> list[Segment]:
        """Close the open segments; every closed segment of this run not yet taken, oldest first."""
        with self._lock:
            for seg, fh in self._open.values():
                fh.close()
                self._closed.append(seg)
            self._open.clear()
            self.pending = 0
            taken, self._closed = sorted(self._closed, key=lambda s: s.stem), []
        return taken

    def keep(self, seg: Segment) -> None:
        """Hand a segment that failed to flush back, for the next rotation to return."""
        with self._lock:
            self._closed.append(seg)

    def close(self) -> None:
        """Release the run's lock and remove it: the run ended and its segments are flushed."""
        with self._lock:
            for _, fh in self._open.values():
                fh.close()
            self._open.clear()
            (self.folder / f"{self.run_id}.lock").unlink(missing_ok=True)
            fcntl.flock(self._lockfile, fcntl.LOCK_UN)
            self._lockfile.close()


@dataclass
class Orphan:
    """A dead serving process's run: its segments, and its lock (held until it is settled)."""

    run_id: str
    meta: dict  # what the dead process wrote in its lock file
    segments: list[Segment]
    lockfile: object | None = None  # the dead run's lock, held here; None: it had none

    @property
    def unclean(self) -> bool:
        """True when its process died holding the lock: its run was never closed."""
        return self.lockfile is not None

    def release(self, settled: bool) -> None:
        """Let go of the dead run's lock; ``settled``: remove it, the run is dealt with."""
        if self.lockfile is None:
            return
        if settled:
            Path(self.lockfile.name).unlink(missing_ok=True)
        fcntl.flock(self.lockfile, fcntl.LOCK_UN)
        self.lockfile.close()
        self.lockfile = None


def orphans(folder: Path, own_run: str) -> list[Orphan]:
    """Runs of processes that died with their journal unsettled, their segments oldest first.

    A run is dead when its lock file can be locked; the lock is then held here until
    :meth:`Orphan.release`, so two live processes never flush the same segments. Segments whose
    run has no lock file (it was settled, then the process died between settling and deleting
    a segment) are orphans too.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    by_run: dict[str, list[Segment]] = {}
    for path in folder.glob("*.jsonl"):
        seg = Segment.parse(path)
        if seg is not None and seg.run_id != own_run:
            by_run.setdefault(seg.run_id, []).append(seg)
    found = []
    locks = {p.stem for p in folder.glob("*.lock")} - {own_run}
    for run_id in sorted(locks | set(by_run)):
        lockfile, meta = None, {}
        lock_path = folder / f"{run_id}.lock"
        if run_id in locks:
            try:
                lockfile = open(lock_path, "r+")  # noqa: SIM115 - closed by release()
            except FileNotFoundError:  # settled by another process meanwhile
                lockfile = None
            else:
                try:
                    fcntl.flock(lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # alive
                    lockfile.close()
                    continue
                try:
                    meta = json.loads(lockfile.read() or "{}")
                except json.JSONDecodeError:  # died while writing it
                    meta = {}
        found.append(Orphan(run_id, meta, sorted(by_run.get(run_id, []), key=lambda s: s.stem),
                            lockfile))
    return found
