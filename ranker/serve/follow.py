"""The version a serving process answers with, and how it follows its alias (hot swap).

Every request takes the version (and its served-at time) under one lock; a swap replaces it under
the same lock, once the new version is fully loaded beside the old one. Requests that took the
old version finish with it, none is dropped, and every request that takes a version after the
swap gets the new one: in the order versions are handed out (the impressions' ``served_at``,
strictly increasing) the old version's lists form a prefix.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time

from catalog import client as cc
from ranker.registry import resolve
from ranker.serve.model import LoadedVersion, load_version

log = logging.getLogger(__name__)


def arm_of(user: int, challenger_share: float) -> str:
    """``challenger`` for a stable ``challenger_share`` of users (by a hash of the id), else
    ``champion``: a user sees one version's lists for as long as the split stays the same."""
    h = int.from_bytes(hashlib.sha256(str(int(user)).encode()).digest()[:8], "big")
    return "challenger" if h < challenger_share * 2**64 else "champion"


class Current:
    """The version requests are answered with; taken and replaced under one lock."""

    def __init__(self, lv: LoadedVersion, arm: str = "champion"):
        self._lock = threading.Lock()
        self._lv = lv
        self._last_us = 0
        self.arm = arm  # champion, or challenger beside it

    def take(self) -> tuple[LoadedVersion, int]:
        """(the version, a served-at time in µs, strictly increasing across calls)."""
        with self._lock:
            self._last_us = max(self._last_us + 1, time.time_ns() // 1000)
            return self._lv, self._last_us

    @property
    def version(self) -> LoadedVersion:
        """The version now (for anything but serving a list, which must :meth:`take` it)."""
        return self._lv

    def swap(self, lv: LoadedVersion) -> None:
        with self._lock:
            self._lv = lv


class AliasFollower:
    """Asks the catalog where ``NAME@ALIAS`` (or NAME's latest) points; swaps when it moved.

    A version whose artifact is missing or fails its sha256 is not swapped to: the process
    keeps serving the old one, logs why, and does not try that version again.
    """

    def __init__(self, client: cc.CatalogClient, ref: str, current: Current, on_swap=None):
        self.client, self.ref, self.current = client, ref, current
        self.name, _, self.which = ref.partition("@")
        self.on_swap = on_swap  # on_swap(new LoadedVersion or None, error or None)
        self._refused: tuple | None = None

    @property
    def pinned(self) -> bool:
        """True for NAME@VERSION: nothing to follow."""
        return self.which.isdigit()

    def check(self) -> bool:
        """One look at the alias; True when the process now serves another version."""
        info = self.client.get(f"api/v1/models/{self.name}/versions/{self.which or 'latest'}")
        cur = self.current.version
        key = (info["version"], info.get("sha256"))
        if key == (cur.version, cur.sha256) or key == self._refused:
            return False
        try:
            lv = load_version(resolve(self.client, f"{self.name}@{info['version']}"), self.ref)
        except (FileNotFoundError, ValueError) as exc:  # artifact gone or changed
            self._refused = key
            log.error("not swapping to %s version %s: %s", self.name, info["version"], exc)
            if self.on_swap:
                self.on_swap(None, exc)
            return False
        self.current.swap(lv)
        log.info("swapped %s from version %d to %d", self.ref, cur.version, lv.version)
        if self.on_swap:
            self.on_swap(lv, None)
        return True

    def loop(self, every: float, stopping: threading.Event) -> None:
        """Check every ``every`` seconds until ``stopping`` is set."""
        while not stopping.wait(every):
            try:
                self.check()
            except (cc.CatalogUnavailable, cc.CatalogRequestError) as exc:
                log.warning("alias check failed: %s", exc)
