"""kombu's Redis transport, with one fault fixed and one cost cut.

The fault: a worker whose Redis went away while it held a received task exited for good.

On the connection error the worker closes its channel, which tries to give the task back to
Redis (restore the unacknowledged messages); by then the connection object is closed, and
kombu, asking it for Redis's address, raised ``AttributeError: 'NoneType' object has no
attribute 'hostname'``, which Celery does not count as a connection error and so treats as
fatal. Here that case is a connection error: the worker reconnects as for any other, and the
task, still in Redis's "unacked" hash, comes back after the visibility timeout.

The cost: kombu made a new Redis client for every message it sent, and a client builds its
table of response parsers when it is made: about 100 us of a web worker's CPU for each cache
build a STOW request queued (``bench/README.md``, session 10). A channel now keeps the one it
made, for as long as its connection pool lasts; redis-py's clients are safe to share between
threads.
"""

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection is already closed")
        return super()._connparams(asynchronous=asynchronous)

    def _create_client(self, asynchronous=False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        pool = self.pool
        client = self.__dict__.get("_sending_client")
        if client is None or client.connection_pool is not pool:
            client = self._sending_client = super()._create_client()
        return client


class Transport(kombu_redis.Transport):
    Channel = Channel
