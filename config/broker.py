"""kombu's Redis transport with one Redis client per channel instead of one per command.

kombu builds a new `redis.Redis` object for every command it sends (every publish), and redis-py
fills a table of some 170 response callbacks for each: a third of the CPU of a publish, paid after
the commit of every payment, top-up and transfer. The client object holds no connection of its
own (it takes one from the channel's pool for each command), so one client per channel sends the
same commands over the same pool, for less. Used when the broker is Redis (config/settings.py).
"""

from contextlib import contextmanager

from kombu.transport import redis
from kombu.utils.objects import cached_property


class Channel(redis.Channel):
    @cached_property
    def _shared_client(self):
        return self._create_client()

    @contextmanager
    def conn_or_acquire(self, client=None):
        yield client or self._shared_client


class Transport(redis.Transport):
    Channel = Channel
