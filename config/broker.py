"""kombu's Redis transport with one Redis client per channel instead of one per command.

kombu builds a new `redis.Redis` object for every command it sends (every publish), and redis-py
fills a table of some 170 response callbacks for each: a third of the CPU of a publish, paid after
the commit of every payment, top-up and transfer. The client object holds no connection of its
own (it takes one from the channel's pool for each command), so one client per channel sends the
same commands over the same pool, for less. Used when the broker is Redis (config/settings.py).
"""

from contextlib import contextmanager

from kombu.transport import redis


class Channel(redis.Channel):
    _shared_client = None

    @contextmanager
    def conn_or_acquire(self, client=None):
        if client is None:
            client = self._shared_client
            # kombu replaces the pool after a fork or on close: the client follows it.
            if client is None or client.connection_pool is not self.pool:
                client = self._shared_client = self._create_client()
        yield client


class Transport(redis.Transport):
    Channel = Channel
