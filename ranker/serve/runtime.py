"""One serving process: the model it answers with, its journal, and its run in the catalog.

The process is one run of the job ``serve_<model>``: START when it is ready, RUNNING every
``heartbeat_seconds`` with its counts, COMPLETE when it shuts down (after the last flush). A
process that died without shutting down is found by the next one through its journal lock
(``ranker.serve.journal``): its segments are flushed and its run is closed as ABORT.

Hot swap: a thread asks the catalog every ``poll_seconds`` where the alias points and swaps to
a new version once it is loaded (``ranker.serve.follow``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
from openlineage.client.event_v2 import RunState

from catalog import client as cc
from catalog import facets as cf
from ranker.registry import JOB_NAMESPACE, MODEL_NAMESPACE, feature_inputs, resolve
from ranker.serve.batches import FlushContext, Flusher, find_impression, served_events_since
from ranker.serve.follow import AliasFollower, Current, arm_of
from ranker.serve.journal import Journal, Segment, orphans
from ranker.serve.model import Histories, LoadedVersion, load_version, recommend

log = logging.getLogger(__name__)

FEEDBACK = {"click": "pv", "cart": "cart", "fav": "fav", "buy": "buy"}  # posted -> behaviour


@dataclass(frozen=True)
class ServeSettings:
    """Deployment settings of a serving process (each a ``catalog ranker serve`` option)."""

    model_ref: str  # NAME@ALIAS, NAME@VERSION or NAME (latest)
    workdir: Path  # holds features.duckdb, the pipeline's
    data_dir: Path  # journal, impressions and events parts
    catalog_url: str
    token: str | None = None
    namespace: str = "recsys"  # of the feature tables and the datasets written
    max_k: int = 100  # largest list a request may ask for
    flush_seconds: float = 5.0  # a micro-batch at least this often (when there is anything)
    flush_rows: int = 1000  # ... or as soon as this many records wait in the journal
    heartbeat_seconds: float = 30.0  # RUNNING events with counts
    poll_seconds: float = 30.0  # alias checks (0 = never swap)
    fsync: bool = True  # fsync the journal before each response
    torch_threads: int = 1  # intra-op threads per forward pass
    challenger_ref: str | None = None  # NAME@ALIAS of the same model served beside model_ref
    challenger_share: float = 0.1  # share of users (by a hash of the id) it serves


class NotFound(Exception):
    """A request named something this process does not know (404)."""


class Unprocessable(Exception):
    """A request is well formed but contradicts what was served (422)."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


class Runtime:
    """Everything a serving worker holds between its first request and its shutdown."""

    def __init__(self, settings: ServeSettings):
        self.settings = settings
        torch.set_num_threads(settings.torch_threads)
        self.client = cc.CatalogClient(settings.catalog_url, token=settings.token, retries=2,
                                       timeout=30)
        self.name = settings.model_ref.partition("@")[0]
        self.current = Current(load_version(resolve(self.client, settings.model_ref),
                                            settings.model_ref))
        self.followers = [AliasFollower(self.client, settings.model_ref, self.current,
                                        on_swap=self._swapped)]
        self.challenger: Current | None = None
        if settings.challenger_ref:
            self.challenger = Current(load_version(resolve(self.client, settings.challenger_ref),
                                                   settings.challenger_ref), "challenger")
            self.followers.append(AliasFollower(self.client, settings.challenger_ref,
                                                self.challenger, on_swap=self._swapped))
        features = Path(settings.workdir) / "features.duckdb"
        self.histories = Histories.from_features(features)
        self.history_input = feature_inputs(settings.workdir, settings.namespace,
                                            ("interactions_split",))[0]
        self.run_id = str(uuid.uuid4())
        self.journal_dir = Path(settings.data_dir) / "journal"
        lv = self.current.version
        self._sha = {c.version.version: c.version.sha256 for c in self.arms()}
        self.flusher = Flusher(FlushContext(self.client, self.name, Path(settings.data_dir),
                                            settings.namespace, self.history_input),
                               self.sha_of)
        self._impressions: OrderedDict[str, tuple] = OrderedDict()
        self._imp_lock = threading.Lock()
        self._counts_lock = threading.Lock()
        self.counts = {"requests": 0, "personalised": 0, "popularity": 0, "impression_rows": 0,
                       "events": 0, "feedback": 0, "flushed_segments": 0,
                       "flushed_impression_rows": 0, "flushed_event_rows": 0,
                       "recovered_segments": 0, "swaps": 0, "swap_failures": 0,
                       "flush_failures": 0, "rejected": 0, "champion": 0,
                       "challenger": 0}
        self.started = time.monotonic()
        self.stopping = threading.Event()  # set by stop(): the background threads end
        self.draining = False  # set on SIGTERM (a plain flag: signal handlers take no locks)
        self._flush_now = threading.Event()
        self._flush_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._replay_served_events()
        self.journal = Journal(self.journal_dir, self.run_id,
                               {"job": self.serve_job, "model_version": lv.version},
                               fsync=settings.fsync)
        self.run = self.client.run(JOB_NAMESPACE, self.serve_job, inputs=[
            cc.InputDataset(MODEL_NAMESPACE, self.name,
                            facets={"version": cf.dataset_version(lv.sha256)}),
            self.history_input], job_facets={
            "jobType": cf.job_type("STREAMING", "PYTHON", "SERVE"),
            "documentation": cf.job_documentation(
                f"Serves the top-K lists of {settings.model_ref} over HTTP; every list is an "
                "impression, written in micro-batches.")}, run_id=self.run_id)

    @property
    def serve_job(self) -> str:
        return f"serve_{self.name}"

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Report START and start the flush, heartbeat and alias threads."""
        self.client.emit(self.run.event(RunState.START, self._facet()))
        loops = [("flush", self._flush_loop, ()), ("heartbeat", self._heartbeat_loop, ())]
        for f in self.followers:
            if self.settings.poll_seconds > 0 and not f.pinned:
                loops.append((f"alias-{f.current.arm}", f.loop,
                              (self.settings.poll_seconds, self.stopping)))
        for name, loop, args in loops:
            t = threading.Thread(target=loop, args=args, name=f"serve-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        """Flush everything acknowledged, report COMPLETE, release the journal."""
        self.stopping.set()
        self._flush_now.set()
        log.info("stopping: waiting for the background threads, then the last flush")
        for t in self._threads:
            t.join(timeout=10)
            if t.is_alive():
                log.warning("thread %s still busy; flushing beside it", t.name)
        failed = self.flush()
        try:
            self.client.emit(self.run.event(RunState.COMPLETE, self._facet()))
        except (cc.CatalogUnavailable, cc.CatalogRequestError) as exc:
            log.error("could not report the end of the serving run: %s", exc)
        if failed:  # left for the next process to flush and report
            log.error("%d segments not flushed; the next serving process will", failed)
        self.journal.close()
        self.client.close()
        log.info("stopped: %s", self.snapshot())

    def arms(self) -> list[Current]:
        """The versions served: the champion, and the challenger if there is one."""
        return [self.current] + ([self.challenger] if self.challenger else [])

    def snapshot(self) -> dict:
        """The counts so far."""
        with self._counts_lock:
            return dict(self.counts)

    def _facet(self) -> dict:
        counts = self.snapshot()
        lv = self.current.version
        split = {}
        if self.challenger is not None:
            split = {"challenger_version": self.challenger.version.version,
                     "challenger_ref": self.settings.challenger_ref,
                     "challenger_share": self.settings.challenger_share}
        return {"serving": cf.custom_facet(
            **counts, **split, model_version=lv.version, model_ref=self.settings.model_ref,
            uptime_seconds=round(time.monotonic() - self.started, 1), pid=os.getpid(),
            host=socket.gethostname())}

    def count(self, **deltas: int) -> None:
        with self._counts_lock:
            for k, v in deltas.items():
                self.counts[k] += v

    # --- requests ---------------------------------------------------------------------------

    def recommendations(self, user: int, k: int) -> dict:
        """Serve a list and journal it as an impression before returning it."""
        holder = self.current
        if self.challenger is not None and arm_of(user, self.settings.challenger_share) == (
                "challenger"):
            holder = self.challenger
        lv, served_at = holder.take()
        history = self.histories.of(user)
        items, behaviours = history or ([], [])
        if any(i in lv.item_index for i in items):
            strategy = "personalised"
            top, scores = recommend(lv, items, behaviours, k)
        else:
            strategy = "popularity"
            top, scores = self.histories.popularity(k, set(items))
        request_id = uuid.uuid4().hex
        self.journal.append(lv.version, {
            "kind": "impression", "request_id": request_id, "user": user, "items": top,
            "scores": scores, "strategy": strategy, "model": lv.name,
            "model_version": lv.version, "arm": holder.arm, "served_at_us": served_at})
        self._remember(request_id, (user, top, lv.version))
        self.count(requests=1, impression_rows=len(top), **{strategy: 1, holder.arm: 1})
        self._maybe_flush()
        return {"requestId": request_id, "user": user, "k": k, "strategy": strategy,
                "model": lv.describe(), "arm": holder.arm, "items": top, "scores": scores,
                "servedAt": served_at}

    def event(self, user: int, item: int, behaviour: str) -> dict:
        """Journal a behaviour event and add it to the user's history."""
        self._known_item(item)
        lv = self.current.version
        now = time.time_ns() // 1000
        self.journal.append(lv.version, {
            "kind": "event", "user": user, "item": item, "behavior": behaviour,
            "ts": now // 1_000_000, "model": lv.name, "model_version": lv.version,
            "received_at_us": now})
        self.histories.append(user, item, behaviour)
        self.count(events=1)
        self._maybe_flush()
        return {"user": user, "item": item, "behavior": behaviour}

    def feedback(self, request_id: str, item: int, kind: str) -> dict:
        """Journal a response to a served list as a behaviour event linked to its impression."""
        found = self.impression(request_id)
        if found is None:
            raise NotFound(f"no list was served with request id {request_id}")
        user, items, version = found
        if item not in items:
            raise Unprocessable(f"item {item} was not in list {request_id}", "item")
        rank = items.index(item) + 1
        behaviour = FEEDBACK[kind]
        now = time.time_ns() // 1000
        self.journal.append(version, {
            "kind": "event", "user": user, "item": item, "behavior": behaviour,
            "ts": now // 1_000_000, "request_id": request_id, "rank": rank, "feedback": kind,
            "model": self.name, "model_version": version, "received_at_us": now})
        self.histories.append(user, item, behaviour)
        self.count(feedback=1)
        self._maybe_flush()
        return {"requestId": request_id, "user": user, "item": item, "type": kind,
                "behavior": behaviour, "rank": rank, "modelVersion": version}

    def _known_item(self, item: int) -> None:
        lv = self.current.version
        if item not in self.histories.catalogue and item not in lv.item_index:
            raise Unprocessable(f"item {item} is not in the catalogue", "item")

    def _remember(self, request_id: str, value: tuple) -> None:
        with self._imp_lock:
            self._impressions[request_id] = value
            while len(self._impressions) > 200_000:
                self._impressions.popitem(last=False)

    def impression(self, request_id: str) -> tuple | None:
        """(user, items, model version) of a served list: memory, then parts, then journal."""
        with self._imp_lock:
            if request_id in self._impressions:
                return self._impressions[request_id]
        return find_impression(self.settings.data_dir, request_id)

    # --- background -------------------------------------------------------------------------

    def _maybe_flush(self) -> None:
        if self.journal.pending >= self.settings.flush_rows:
            self._flush_now.set()

    def flush(self) -> int:
        """Flush this process's closed segments and any dead process's; how many failed."""
        with self._flush_lock:
            failed = 0
            dead = orphans(self.journal_dir, self.run_id)
            for orphan in dead:  # older than this process's own segments: first
                failed += self._flush_all(orphan.segments, recovered=True)
            own = self.journal.rotate()
            if failed:  # keep the order: this process's batches wait for the older ones
                for seg in own:
                    self.journal.keep(seg)
            else:
                failed += self._flush_all(own)
            for orphan in dead:
                settled = not any(s.path.exists() for s in orphan.segments)
                if settled and orphan.unclean:
                    self._close_dead_run(orphan)
                orphan.release(settled)
            return failed

    def _flush_all(self, segments: list[Segment], recovered: bool = False) -> int:
        """Flush in order, stopping at the first failure (versions stay in batch order)."""
        for n, seg in enumerate(segments):
            try:
                imp, ev = self.flusher.flush(seg)
            except (cc.CatalogUnavailable, cc.CatalogRequestError, OSError, ValueError) as exc:
                # The catalog down or refusing, a full disk, a damaged segment: the segment and
                # every later one wait (the part files written so far are rewritten next time).
                self.count(flush_failures=1)
                log.warning("flushing %s failed, kept for the next try: %s", seg.path.name, exc)
                if not recovered:
                    for left in segments[n:]:
                        self.journal.keep(left)
                return len(segments) - n
            self.count(flushed_segments=1, flushed_impression_rows=imp, flushed_event_rows=ev,
                       recovered_segments=int(recovered))
        return 0

    def _close_dead_run(self, orphan) -> None:
        message = (f"serving process {orphan.meta.get('pid', '?')} ended without shutting "
                   f"down; {len(orphan.segments)} journal segments were flushed by run "
                   f"{self.run_id}")
        reporter = self.client.run(JOB_NAMESPACE, orphan.meta.get("job", self.serve_job),
                                   run_id=orphan.run_id)
        try:
            self.client.emit(reporter.event(RunState.ABORT, {
                "errorMessage": cf.error_message(message)}))
        except (cc.CatalogUnavailable, cc.CatalogRequestError) as exc:
            log.warning("could not close dead serving run %s: %s", orphan.run_id, exc)

    def _flush_loop(self) -> None:
        # The first pass at once: a dead process's journal is flushed as soon as possible.
        while not self.stopping.is_set():
            self._flush_now.clear()
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - a failed pass is retried on the next tick
                log.exception("flush pass failed")
            self._flush_now.wait(self.settings.flush_seconds)

    def _heartbeat_loop(self) -> None:
        while not self.stopping.wait(self.settings.heartbeat_seconds):
            try:
                self.client.emit(self.run.event(RunState.RUNNING, self._facet()))
            except (cc.CatalogUnavailable, cc.CatalogRequestError) as exc:
                log.warning("heartbeat not reported: %s", exc)

    def _swapped(self, lv: LoadedVersion | None, error: Exception | None) -> None:
        if lv is None:
            self.count(swap_failures=1)
            return
        self._sha[lv.version] = lv.sha256
        self.count(swaps=1)

    def sha_of(self, version: int) -> str | None:
        """The sha256 of a model version: loaded here, else (served before) from the catalog."""
        if version not in self._sha:
            try:
                info = self.client.get(f"api/v1/models/{self.name}/versions/{version}")
            except cc.CatalogRequestError:
                return None
            self._sha[version] = info.get("sha256")
        return self._sha[version]

    def _replay_served_events(self) -> None:
        """Events posted to earlier processes, newer than the feature tables, join histories."""
        for user, item, behaviour in served_events_since(self.settings.data_dir,
                                                         self.histories.max_ts):
            self.histories.append(user, item, behaviour)
