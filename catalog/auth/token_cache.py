"""Bearer tokens verified recently by this process, so most requests skip the database lookup.

Looking a token up took a transaction of its own on every request (~3 ms, two round trips
before the request's own work). A verified token is kept here for ``ttl`` seconds, keyed by
its SHA-256 (never the token itself), in a bounded least-recently-used map.

What that means for callers, by design:

* A **revoked** token (or a token of a role changed in the database) keeps working in a process
  that verified it for at most ``ttl`` seconds (``CATALOG_TOKEN_CACHE_SECONDS``, default 30;
  0 turns the cache off for deployments that need revocation to bite at once).
* An **expired** token is refused at once: its expiry time is cached with it and checked on
  every use.
* Unknown and refused tokens are never cached, so a token created a moment ago works at once.
* ``last_used_at`` is written only when the database is asked, so it lags by up to ``ttl``
  seconds more than its one-minute resolution.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from catalog.models.base import utcnow
from catalog.services.auth import Principal

# Tokens a process remembers at most; the least recently used one goes first.
MAX_TOKENS = 1024


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    expires_at: datetime | None
    # Monotonic time after which the database must be asked again.
    fresh_until: float


class TokenCache:
    """A bounded, thread-safe map of token digest -> verified principal, each for ``ttl`` s."""

    def __init__(self, ttl: float, max_size: int = MAX_TOKENS,
                 clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = utcnow) -> None:
        self.ttl, self.max_size = ttl, max_size
        # Both clocks are attributes so tests can move time on.
        self.clock, self.now = clock, now
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """False when the TTL is 0: every request asks the database."""
        return self.ttl > 0

    def get(self, digest: str) -> tuple[bool, Principal | None]:
        """``(hit, principal)``: a hit with None means the cached token has expired since."""
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return False, None
            if entry.fresh_until <= self.clock():
                del self._entries[digest]
                return False, None
            if entry.expires_at is not None and entry.expires_at <= self.now():
                del self._entries[digest]
                return True, None
            self._entries.move_to_end(digest)
            return True, entry.principal

    def put(self, digest: str, principal: Principal, expires_at: datetime | None) -> None:
        """Remember a token the database just verified."""
        if not self.enabled:
            return
        with self._lock:
            self._entries[digest] = _Entry(principal, expires_at, self.clock() + self.ttl)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every token (the next use of each asks the database)."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
