"""Django's Redis cache backend, made cheaper per call and treated as what it is: a cache.

Every request of a logged-in viewer reads its session and its user from the shared cache
(accounts.usercache), hundreds of times per study opened. Django's client builds a new
redis-py client object for each call, which in redis-py 5+ costs about as much as the round
trip itself; here each connection pool keeps one (they are thread-safe). Keys are also not
checked for memcached's rules: they are made by this code, never by clients.

When Redis cannot be reached (stopped, restarting, network gone) no request fails for it:
reads miss, so callers fall back to the database, and writes go to this process's memory for
at most FALLBACK_SECONDS (a user changed meanwhile in another process is read afresh soon).
Redis is not tried again for RETRY_SECONDS after a failure, so an outage costs one failed
connection per process every few seconds, not one per call. Keys written or deleted during
the outage are deleted from Redis when it answers again: a session ended or a role taken away
meanwhile must not come back from a Redis that kept its data.
"""

import logging
import threading
import time

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

log = logging.getLogger(__name__)

RETRY_SECONDS = 5
FALLBACK_SECONDS = 5
# More keys than this written during one outage: the whole cache is cleared on recovery.
STALE_MAX = 10_000
UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class _ReusingClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class _BriefMemory(LocMemCache):
    """Process memory standing in for Redis: nothing is kept longer than FALLBACK_SECONDS."""

    def get_backend_timeout(self, timeout=DEFAULT_TIMEOUT):
        latest = time.time() + FALLBACK_SECONDS
        expiry = super().get_backend_timeout(timeout)
        return latest if expiry is None else min(expiry, latest)


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _ReusingClient
        self._memory = _BriefMemory(
            f"ohifsite-fallback-{id(self)}", {"OPTIONS": {"MAX_ENTRIES": 10_000}}
        )
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._stale: set | None = set()  # None: too many to list, clear everything

    def validate_key(self, key):
        pass

    def reachable(self) -> bool:
        """Whether Redis answers now (for /healthz)."""
        try:
            self._cache.get_client().ping()
        except UNREACHABLE:
            return False
        return True

    # Reads: a miss while Redis is away (then from this process's memory).
    def get(self, key, default=None, version=None):
        return self._call("get", (key, default, version), ())

    def get_many(self, keys, version=None):
        return self._call("get_many", (keys, version), ())

    def has_key(self, key, version=None):
        return self._call("has_key", (key, version), ())

    # Writes: to memory, briefly, while Redis is away; the keys are deleted from it later.
    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("add", (key, value, timeout, version), (key,), version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("set", (key, value, timeout, version), (key,), version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("touch", (key, timeout, version), (key,), version)

    def delete(self, key, version=None):
        return self._call("delete", (key, version), (key,), version)

    def incr(self, key, delta=1, version=None):
        return self._call("incr", (key, delta, version), (key,), version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("set_many", (data, timeout, version), data, version)

    def delete_many(self, keys, version=None):
        return self._call("delete_many", (keys, version), keys, version)

    def clear(self):
        self._memory.clear()
        return self._call("clear", (), None)

    def _call(self, name, args, written, version=None):
        """``name`` on Redis, or on process memory while Redis is unreachable. ``written``:
        the keys the call changes (None: all of them)."""
        if time.monotonic() >= self._down_until:
            try:
                self._forget_stale()
                return getattr(super(), name)(*args)
            except UNREACHABLE as exc:
                self._went_away(exc)
        if written:
            self._remember_stale(written, version)
        elif written is None:
            with self._lock:
                self._stale = None
        return getattr(self._memory, name)(*args)

    def _went_away(self, exc):
        with self._lock:
            first = self._down_until == 0.0
            self._down_until = time.monotonic() + RETRY_SECONDS
        if first:
            log.warning("shared cache unreachable, using the database and memory: %s", exc)

    def _remember_stale(self, keys, version):
        with self._lock:
            if self._stale is None:
                return
            self._stale.update(self.make_key(key, version) for key in keys)
            if len(self._stale) > STALE_MAX:
                self._stale = None

    def _forget_stale(self):
        """First call after an outage: delete from Redis what changed meanwhile."""
        if self._down_until == 0.0:
            return
        with self._lock:
            stale, self._stale = self._stale, set()
        client = self._cache.get_client(write=True)
        try:
            if stale is None:
                client.flushdb()
            elif stale:
                client.delete(*stale)
        except UNREACHABLE:
            with self._lock:
                self._stale = None if stale is None or self._stale is None else stale | self._stale
            raise
        self._memory.clear()
        with self._lock:
            self._down_until = 0.0
        forgotten = "all" if stale is None else len(stale)
        log.warning("shared cache reachable again (%s keys of the outage forgotten)", forgotten)
