"""Django's Redis cache backend, made cheaper per call.

Every request of a logged-in viewer reads its session and its user from the shared cache
(accounts.usercache), hundreds of times per study opened. Django's client builds a new
redis-py client object for each call, which in redis-py 5+ costs about as much as the round
trip itself; here each connection pool keeps one (they are thread-safe). Keys are also not
checked for memcached's rules: they are made by this code, never by clients.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


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


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _ReusingClient

    def validate_key(self, key):
        pass
