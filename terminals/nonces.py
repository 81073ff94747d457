"""Nonces of signed terminal requests already seen: one Redis `SET key 1 NX EX ttl` per request.

Django's cache API would do the same, but its Redis backend builds a new client object on every
call, which costs more CPU than the whole signature check; this keeps one client (and its
connection pool) per process. Without Redis (the SQLite demo) it falls back to the cache API.
Keys carry the cache's KEY_PREFIX, so tests that give each test its own prefix stay apart.
"""

from functools import lru_cache

from django.conf import settings
from django.core.cache import cache


@lru_cache(maxsize=4)
def _client(url: str):
    import redis

    return redis.Redis.from_url(url)


def claim(terminal_id: int, nonce: str, ttl: int) -> bool:
    """True the first time this terminal's nonce is seen within `ttl` seconds, else False."""
    conf = settings.CACHES["default"]
    key = f"terminal-nonce:{terminal_id}:{nonce}"
    if not conf["BACKEND"].endswith("RedisCache"):
        return cache.add(key, 1, timeout=ttl)
    location = conf["LOCATION"]
    url = location[0] if isinstance(location, list | tuple) else location.split(",")[0]
    prefix = conf.get("KEY_PREFIX", "")
    return bool(_client(url).set(f"{prefix}:{key}" if prefix else key, b"1", nx=True, ex=ttl))
