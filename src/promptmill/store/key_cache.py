"""Keys this process has recently verified, so a request need not read the database for its key.

A key check that reads the database costs a worker-thread round trip and a query per
request; ``RecentKeys`` lets the server skip both for a key it verified within the
last few seconds (``PROMPTMILL_KEY_CACHE_SECONDS``). It is shared by every ``Store``
of the process, so revoking a key through any of them (the CLI in-process, an admin
route, a test's own ``Store`` on the server's database) forgets it at once: the very
next request reads the database and fails. A revocation made by *another* process
(``promptmill keys revoke`` while the server runs) is seen once the entry is older
than the allowed age, so that age is the longest a revoked key keeps working there.

Entries are keyed by the database and the secret's digest, never the secret itself,
and hold only the plain ``ApiKeyInfo``. The cache is bounded: beyond ``MAX_ENTRIES``
the oldest entries go.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from promptmill.store.records import ApiKeyInfo

MAX_ENTRIES = 10_000
"""More live keys than one server sees in a few seconds; beyond it the oldest are dropped."""


class RecentKeys:
    """Verified keys with the time they were verified, by (database, secret digest)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[ApiKeyInfo, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._revocations = 0

    @property
    def revocations(self) -> int:
        """How many times a key was forgotten; read it before the database, pass it to ``put``."""
        return self._revocations

    def get(self, database: str, digest: str, max_age: float) -> ApiKeyInfo | None:
        """The key verified under ``digest`` at most ``max_age`` seconds ago, if any."""
        if max_age <= 0:
            return None
        with self._lock:
            entry = self._entries.get((database, digest))
        if entry is None:
            return None
        info, verified_at = entry
        return info if self._clock() - verified_at <= max_age else None

    def put(self, database: str, digest: str, info: ApiKeyInfo, revocations: int) -> None:
        """Remember that ``info`` was just read from ``database`` as a live key.

        ``revocations`` is ``self.revocations`` as it was before that read: if a key was
        revoked since, the read may predate the revocation, and nothing is remembered.
        """
        with self._lock:
            if revocations != self._revocations:
                return
            self._entries[(database, digest)] = (info, self._clock())
            self._entries.move_to_end((database, digest))
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)

    def forget(self, key_id: str) -> None:
        """Drop the key ``key_id`` (of any database): its next check reads the database."""
        with self._lock:
            self._revocations += 1
            for cache_key in [k for k, (info, _) in self._entries.items() if info.id == key_id]:
                del self._entries[cache_key]


recent_keys = RecentKeys()
"""The process's one cache, shared by every ``Store`` so a revocation through any reaches all."""
