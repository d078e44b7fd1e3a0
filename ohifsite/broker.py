"""kombu's Redis transport, with one fault fixed: a worker whose Redis went away while it held
a received task exited for good.

On the connection error the worker closes its channel, which tries to give the task back to
Redis (restore the unacknowledged messages); by then the connection object is closed, and
kombu, asking it for Redis's address, raised ``AttributeError: 'NoneType' object has no
attribute 'hostname'``, which Celery does not count as a connection error and so treats as
fatal. Here that case is a connection error: the worker reconnects as for any other, and the
task, still in Redis's "unacked" hash, comes back after the visibility timeout.
"""

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection is already closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
