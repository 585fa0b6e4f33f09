"""Micro-batches: closed journal segments become Parquet parts and versions in the catalog.

A segment (one model version's records, ``ranker.serve.journal``) is flushed in three steps,
each safe to repeat, so a process killed anywhere in between loses and duplicates nothing:

1. its impressions and events are written as ``impressions/part-<segment>.parquet`` and
   ``events/part-<segment>.parquet`` (temporary file, fsync, rename);
2. each part is reported as a run that is a child of the serving run: ``serve_<model>.impressions``
   reads the model version and the feature table the histories came from and writes a version
   of ``impressions``; ``serve_<model>.events`` reads the model version and the ``impressions``
   version just written (every list its feedback can answer is in it) and writes a version of
   ``served_events``. Run ids derive from the segment's name, so a repeated report lands on the
   same runs and versions;
3. the segment is deleted.

Both datasets are append-only folders of parts, and a version is the folder after a batch was
added (as a table format's snapshot is): its fingerprint covers every part so far
(:func:`dataset_facts`), its row count is the folder's. So one version names everything before
it, and a reader of the latest version (the landing, a feedback batch) names one input, exact.
``served_events`` rows are in the landed source's format (``pipelines.sources.EVENTS_SCHEMA``'s
columns first, ids and time as text) plus the link to the impression a feedback event answers;
``catalog ranker land-events`` appends them to ``raw/events.parquet`` for the next pipeline run.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from catalog import client as cc
from catalog import facets as cf
from pipelines.sources import EVENTS_SCHEMA
from pipelines.tables import file_fingerprint
from ranker.registry import JOB_NAMESPACE, MODEL_NAMESPACE
from ranker.serve.journal import Segment, read_segment

IMPRESSIONS_SCHEMA = pa.schema([
    ("request_id", pa.string()),
    ("user_id", pa.int64()),
    ("item_id", pa.int64()),
    ("rank", pa.int32()),
    ("score", pa.float32()),
    ("strategy", pa.string()),  # personalised | popularity
    ("model", pa.string()),
    ("model_version", pa.int32()),
    ("arm", pa.string()),  # champion, or challenger when two versions share the traffic
    ("served_at", pa.timestamp("us", tz="UTC")),
])
# The landed source's columns, then the link of a feedback event to what it answers.
EVENTS_PART_SCHEMA = pa.schema(list(EVENTS_SCHEMA) + [
    ("request_id", pa.string()),  # the impression a feedback event answers; NULL otherwise
    ("impression_rank", pa.int32()),  # the item's rank in that list
    ("feedback", pa.string()),  # click | cart | fav | buy as posted; NULL for other events
    ("model", pa.string()),
    ("model_version", pa.int32()),
    ("received_at", pa.timestamp("us", tz="UTC")),
])
_SQL_TYPES = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.int32(): "INTEGER",
              pa.float32(): "FLOAT", pa.timestamp("us", tz="UTC"): "TIMESTAMP WITH TIME ZONE"}
_RUN_IDS = uuid.UUID("6f1d0c52-8d0e-4c55-9a57-2b8f3f0a1c11")  # namespace of segment run ids


def _schema_facet(schema: pa.Schema):
    return cf.schema([(f.name, _SQL_TYPES[f.type]) for f in schema])


def _time(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1e6, UTC)


def impression_rows(records: list[dict]) -> pa.Table:
    """One row per (list, item): what was shown, where, by which version, when."""
    cols: dict[str, list] = {f.name: [] for f in IMPRESSIONS_SCHEMA}
    for r in records:
        if r["kind"] != "impression":
            continue
        for rank, (item, score) in enumerate(zip(r["items"], r["scores"], strict=True), 1):
            for name, value in (("request_id", r["request_id"]), ("user_id", r["user"]),
                                ("item_id", item), ("rank", rank), ("score", score),
                                ("strategy", r["strategy"]), ("model", r["model"]),
                                ("model_version", r["model_version"]),
                                ("arm", r.get("arm", "champion")),
                                ("served_at", _time(r["served_at_us"]))):
                cols[name].append(value)
    return pa.table(cols, schema=IMPRESSIONS_SCHEMA)


def event_rows(records: list[dict]) -> pa.Table:
    """The posted events and feedback, in the landed source's format plus their links."""
    cols: dict[str, list] = {f.name: [] for f in EVENTS_PART_SCHEMA}
    for r in records:
        if r["kind"] != "event":
            continue
        row = {"source_row": None, "user_id": str(r["user"]), "item_id": str(r["item"]),
               "category_id": None, "behavior": r["behavior"], "ts": str(r["ts"]),
               "request_id": r.get("request_id"), "impression_rank": r.get("rank"),
               "feedback": r.get("feedback"), "model": r["model"],
               "model_version": r["model_version"], "received_at": _time(r["received_at_us"])}
        for name, value in row.items():
            cols[name].append(value)
    return pa.table(cols, schema=EVENTS_PART_SCHEMA)


def write_part(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` all or nothing: temporary file, fsync, rename, fsync folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    tmp.replace(path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@dataclass
class FlushContext:
    """What every flush of one serving process reports with."""

    client: cc.CatalogClient
    model_name: str
    data_dir: Path
    namespace: str  # of the datasets (recsys)
    history_input: cc.InputDataset | None  # the feature table the histories came from

    @property
    def serve_job(self) -> str:
        return f"serve_{self.model_name}"


def part_folders(data_dir: Path, dataset: str) -> list[Path]:
    """Where a dataset's parts are: ``impressions/``; ``events/`` and ``events/landed/``."""
    data_dir = Path(data_dir)
    if dataset == "impressions":
        return [data_dir / "impressions"]
    return [data_dir / "events", data_dir / "events" / "landed"]


def dataset_facts(data_dir: Path, dataset: str, cache: dict | None = None) -> tuple[str, int]:
    """(fingerprint, rows) of a dataset's version now: every part so far, oldest first.

    The fingerprint is a sha256 over each part's name and the sha256 of its bytes (parts never
    change once written, so ``cache`` may keep those by path).
    """
    cache = {} if cache is None else cache
    parts = sorted((p for d in part_folders(data_dir, dataset) for p in d.glob("part-*.parquet")),
                   key=lambda p: p.name)
    digest, rows = hashlib.sha256(), 0
    for p in parts:
        if str(p) not in cache:
            cache[str(p)] = (file_fingerprint(p), pq.read_metadata(p).num_rows)
        fp, n = cache[str(p)]
        digest.update(f"{p.name} {fp}\n".encode())
        rows += n
    return digest.hexdigest(), rows


class Flusher:
    """Turns segments into parts and catalog versions."""

    def __init__(self, ctx: FlushContext, sha_of: Callable[[int], str | None]):
        self.ctx = ctx
        self.sha_of = sha_of  # model version -> sha256, for the lineage of each segment
        self.impressions_dir = ctx.data_dir / "impressions"
        self.events_dir = ctx.data_dir / "events"
        self._parts: dict[str, tuple[str, int]] = {}  # part path -> (sha256, rows)

    def flush(self, seg: Segment) -> tuple[int, int]:
        """Flush one segment (steps 1-3 above); (impression rows, event rows) written."""
        records = read_segment(seg.path)
        impressions, events = impression_rows(records), event_rows(records)
        imp_path = self.impressions_dir / f"part-{seg.stem}.parquet"
        ev_path = self.events_dir / f"part-{seg.stem}.parquet"
        if impressions.num_rows:
            write_part(impressions, imp_path)
        if events.num_rows:
            write_part(events, ev_path)
        if impressions.num_rows:
            self._report(seg, "impressions", imp_path, impressions.num_rows, IMPRESSIONS_SCHEMA,
                         self._impressions_inputs(seg))
        if events.num_rows:
            fp, _ = dataset_facts(self.ctx.data_dir, "impressions", self._parts)
            inputs = [self._model_input(seg)]
            if any(self.impressions_dir.glob("part-*.parquet")):
                inputs.append(cc.InputDataset(self.ctx.namespace, "impressions", facets={
                    "version": cf.dataset_version(fp)}))
            self._report(seg, "events", ev_path, events.num_rows, EVENTS_PART_SCHEMA, inputs)
        seg.path.unlink(missing_ok=True)
        return impressions.num_rows, events.num_rows

    def _model_input(self, seg: Segment) -> cc.InputDataset:
        sha = self.sha_of(seg.model_version)
        facets = {"version": cf.dataset_version(sha)} if sha else {}
        return cc.InputDataset(MODEL_NAMESPACE, self.ctx.model_name, facets=facets)

    def _impressions_inputs(self, seg: Segment) -> list:
        inputs = [self._model_input(seg)]
        if self.ctx.history_input is not None:
            inputs.append(self.ctx.history_input)
        return inputs

    def _report(self, seg: Segment, kind: str, part: Path, rows: int, schema: pa.Schema,
                inputs: list) -> None:
        ctx = self.ctx
        dataset = "impressions" if kind == "impressions" else "served_events"
        run_id = str(uuid.uuid5(_RUN_IDS, f"{seg.stem}/{kind}"))
        fp, total = dataset_facts(ctx.data_dir, dataset, self._parts)
        uri = f"file://{part.parent.resolve()}"
        doc = ("Lists served to users, one row per (list, item), appended in micro-batches of "
               "Parquet parts; a version is the folder after a batch." if kind == "impressions"
               else "Behaviour events posted to the serving process (feedback linked to the list "
               "it answers by request_id), in the landed source's format, appended in "
               "micro-batches of Parquet parts; a version is the folder after a batch.")
        lineage = {}
        if kind == "impressions" and ctx.history_input is not None:
            lineage = {"columnLineage": cf.column_lineage(
                {"user_id": [(ctx.namespace, "interactions_split", "user_id")]})}
        job_facets = {"jobType": cf.job_type("STREAMING", "PYTHON", "SERVE_LOG"),
                      "documentation": cf.job_documentation(
                          f"Micro-batches of the {dataset} of the serving process.")}
        with ctx.client.run(JOB_NAMESPACE, f"{ctx.serve_job}.{kind}", inputs=inputs,
                            job_facets=job_facets, run_id=run_id,
                            parent=(JOB_NAMESPACE, ctx.serve_job, seg.run_id)) as run:
            run.add_output(ctx.namespace, dataset, facets={
                **lineage,
                "version": cf.dataset_version(fp),
                "schema": _schema_facet(schema),
                "datasetType": cf.dataset_type("file"),
                "dataSource": cf.datasource(uri, uri),
                "documentation": cf.dataset_documentation(doc),
            }, output_facets={"outputStatistics": cf.output_statistics(total)})
            run.add_run_facets(microBatch=cf.custom_facet(
                file=part.name, rows=rows, model=ctx.model_name,
                model_version=seg.model_version, serving_run=seg.run_id))


# --- reading back what earlier processes served ------------------------------------------------

def _records(path: Path) -> list[dict]:
    try:
        return read_segment(path)
    except FileNotFoundError:  # flushed meanwhile
        return []


def find_impression(data_dir: Path, request_id: str) -> tuple[int, list[int], int] | None:
    """(user, items, model version) of a list in the parts, or in a journal not yet flushed."""
    parts = Path(data_dir) / "impressions"
    if any(parts.glob("part-*.parquet")):
        con = duckdb.connect()
        try:
            rows = con.execute(
                "select user_id, item_id, model_version from read_parquet(?) "
                "where request_id = ? order by rank",
                [str(parts / "part-*.parquet"), request_id]).fetchall()
        finally:
            con.close()
        if rows:
            return rows[0][0], [r[1] for r in rows], rows[0][2]
    for seg in sorted((Path(data_dir) / "journal").glob("*.jsonl")):
        for r in _records(seg):
            if r.get("kind") == "impression" and r["request_id"] == request_id:
                return r["user"], r["items"], r["model_version"]
    return None


def served_events_since(data_dir: Path, after_ts: int) -> list[tuple[int, int, str]]:
    """(user, item, behaviour) of every event served here later than ``after_ts``, in order.

    From the parts, landed or not, and from journals not yet flushed (a dead process's); an
    event in both (its process died between writing the part and deleting the segment) once.
    """
    data_dir = Path(data_dir)
    found = set()
    parts = [p for d in (data_dir / "events", data_dir / "events" / "landed")
             for p in d.glob("part-*.parquet")]
    if parts:
        con = duckdb.connect()
        try:
            found |= set(con.execute(
                "select cast(user_id as BIGINT), cast(item_id as BIGINT), behavior, "
                "epoch_us(received_at) from read_parquet(?) where cast(ts as BIGINT) > ?",
                [[str(p) for p in parts], after_ts]).fetchall())
        finally:
            con.close()
    for seg in sorted((data_dir / "journal").glob("*.jsonl")):
        found |= {(r["user"], r["item"], r["behavior"], r["received_at_us"])
                  for r in _records(seg) if r.get("kind") == "event" and r["ts"] > after_ts}
    return [(u, i, b) for u, i, b, _ in sorted(found, key=lambda e: e[3])]
